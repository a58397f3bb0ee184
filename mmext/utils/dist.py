"""Distributed launch on machines without a GPU."""
import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare a config for multi-process training on CPUs (gloo).

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and fails on a
    machine without a GPU. Starting the gloo process group here makes the
    Runner skip its own ``init_dist``; DDP then needs ``device_ids=None``.
    On GPU machines nothing changes: the Runner sets up nccl as usual.

    Args:
        cfg (Config): The config; ``model_wrapper_cfg`` is updated in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        bool: True if a CPU process group was set up.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs GPUs; on a machine without CUDA '
            'use --launcher pytorch (torchrun, e.g. tools/dist_train.sh).')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')  # env:// set by torchrun
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    return True


def close_distributed() -> None:
    """End the process group of a finished run, when there is one.

    A tool must do this before it exits: torch does not, and a process
    leaving with its gloo group alive can abort at interpreter exit
    ("terminate called without an active exception", SIGABRT) although
    the run finished. The barrier first lets every rank finish talking to
    the others; it is only reached on success (a failed rank exits and
    torchrun stops the others).
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
