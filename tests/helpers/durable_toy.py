"""A tiny real mmengine training set-up for the checkpoint tests.

A linear model whose checkpoint (weights + SGD momentum) is
``2 * width**2`` floats, so a save takes a measurable time, a fixed random
regression data set, and a validation metric (mean squared error) for
``save_best``. Importing this module registers them in mmengine's root
registries; configs import it with ``custom_imports``.
"""
import os
from pathlib import Path
from typing import List, Sequence

import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.runner import Runner
from torch.utils.data import Dataset


@MODELS.register_module()
class DurableToyModel(BaseModel):
    """``y = W x + b`` trained with the mean squared error."""

    def __init__(self, width: int = 256):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)

    def forward(self, inputs: List[torch.Tensor],
                targets: List[torch.Tensor], mode: str = 'tensor'):
        error = self.linear(torch.stack(inputs)) - torch.stack(targets)
        if mode == 'loss':
            return dict(loss=error.pow(2).mean())
        if mode == 'predict':
            return list(error.pow(2).mean(dim=1))
        return error


@DATASETS.register_module()
class DurableToyDataset(Dataset):
    """``length`` fixed random (input, target) pairs of ``width`` floats."""

    def __init__(self, width: int = 256, length: int = 16):
        gen = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(length, width, generator=gen)
        self.targets = torch.randn(length, width, generator=gen)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.inputs[index], targets=self.targets[index])


@METRICS.register_module()
class DurableToyMetric(BaseMetric):
    """Mean squared error of the predictions, as ``mse`` and ``rmse``."""

    def process(self, data_batch, data_samples: Sequence) -> None:
        self.results += [float(x) for x in data_samples]

    def compute_metrics(self, results: list) -> dict:
        mse = sum(results) / len(results)
        return dict(mse=mse, rmse=mse**0.5)


@HOOKS.register_module()
class DurableToyFailingSave(Hook):
    """Makes the save of iteration ``at_iter`` fail in ``torch.save``:
    puts an object that cannot be pickled into its checkpoint."""

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if checkpoint['meta']['iter'] == self.at_iter:
            checkpoint['meta']['unpicklable'] = lambda: None


def toy_config(work_dir: str, width: int = 256, max_iters: int = 4,
               val_interval: int = 0, **checkpoint) -> dict:
    """A Runner config training the toy model ``max_iters`` iterations.

    Args:
        work_dir (str): The run's work dir.
        width (int): Model and data width.
        max_iters (int): Training iterations.
        val_interval (int): Validate (and ``save_best``) every so many
            iterations; 0 means no validation.
        **checkpoint: The ``default_hooks.checkpoint`` entry; iteration
            based, ``DurableCheckpointHook`` unless ``type`` is given.

    Returns:
        dict: For ``Config(...)`` or ``Runner.from_cfg``.
    """
    data = dict(
        batch_size=4,
        num_workers=0,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(type='DurableToyDataset', width=width))
    cfg = dict(
        custom_imports=dict(
            imports=['mmext', 'tests.helpers.durable_toy'],
            allow_failed_imports=False),
        work_dir=work_dir,
        # one logger / visualizer per run, also for runs in one process
        experiment_name='_'.join(Path(work_dir).parts[-2:]),
        model=dict(type='DurableToyModel', width=width),
        train_dataloader=data,
        train_cfg=dict(
            type='IterBasedTrainLoop',
            max_iters=max_iters,
            val_interval=val_interval or max_iters + 1),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                dict(type='mmext.DurableCheckpointHook', by_epoch=False),
                **checkpoint)),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
    )
    if val_interval:
        cfg.update(
            val_dataloader=dict(data, sampler=dict(
                type='DefaultSampler', shuffle=False)),
            val_cfg=dict(),
            val_evaluator=dict(type='DurableToyMetric'))
    return cfg


def toy_runner(work_dir, **kwargs) -> Runner:
    """A Runner of :func:`toy_config` (same arguments)."""
    return Runner.from_cfg(Config(toy_config(str(work_dir), **kwargs)))


def train_in_child(argv: List[str], log_path: str, env: dict) -> None:
    """Run ``tools/train.py`` with ``argv``, its output going to
    ``log_path``: the target of the processes the kill test starts, with
    the test's ``env`` (see :func:`tests.helpers.distributed.child_env`)."""
    from tests.helpers.distributed import apply_child_env
    apply_child_env(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    torch.set_num_threads(1)  # the machine runs other tests as well
    from tools.train import main
    main(argv)
