"""Train a detector or classifier from an mmdet / mmpretrain / mmext config.

The options are mmdet's ``tools/train.py``; on machines without a GPU
``--launcher pytorch`` runs on CPU processes (gloo).

Example:
    python tools/train.py configs/faster_rcnn/faster-rcnn_r18-tiny_fpn_tiny-voc0712.py
    bash tools/dist_train.sh CONFIG 8 --auto-scale-lr
"""
import argparse
import gc
import os
import sys

from mmengine.config import Config, DictAction

import mmext  # noqa: F401  (allows mmengine checkpoints under torch>=2.6)
from mmext.datasets.config_check import check_dataset_config
from mmext.datasets.voc_check import DataCheckError
from mmext.engine import find_resumable_checkpoint
from mmext.utils.dist import close_distributed, setup_cpu_distributed
from mmext.utils.run_config import build_runner, load_run_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale lr linearly with the total batch size '
        '(auto_scale_lr.base_batch_size of the config)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the newest one in '
        'the work dir that loads when no path is given')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs, e.g. '
        'train_cfg.max_epochs=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_train_config(args) -> Config:
    """Load the config and apply the command-line options to it."""
    cfg = load_run_config(args.config, args.launcher, args.cfg_options,
                          args.work_dir)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
                cfg.auto_scale_lr:
            raise RuntimeError(
                f'{args.config} has no auto_scale_lr.base_batch_size; '
                'add it to use --auto-scale-lr')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        # the newest checkpoint that loads, rather than what last_checkpoint
        # names: a save killed mid-write may have left that one truncated
        cfg.load_from = find_resumable_checkpoint(cfg.work_dir)
        cfg.resume = cfg.load_from is not None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_train_config(args)
        # fail before the Runner starts, one message naming every bad path
        check_dataset_config(cfg, splits=('train', 'val', 'test'),
                             quick=True)
    except DataCheckError as err:  # the user's data, not a bug: no traceback
        sys.exit(f'error: {err}')
    setup_cpu_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
    # the process ends next: the interpreter's last collection then skips
    # the frozen objects, everything torch, mmdet and the run made (about
    # 1.2 CPU-s of the exit, measured; the objects die with the process)
    gc.freeze()
