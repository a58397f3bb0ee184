"""Test a checkpoint with an mmdet / mmpretrain / mmext config.

Example:
    python tools/test.py CONFIG work_dirs/x/epoch_12.pth --out results.json
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

``--out x.json`` writes the predictions as a COCO-style results json (what
mmdet's ``CocoMetric(format_only=True)`` writes, see
:mod:`mmext.evaluation.results_json`); ``--out x.pkl`` writes mmdet's
pickle of the data samples, which runs code when loaded.
"""
import argparse
import gc
import os
import sys

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults

import mmext  # noqa: F401  (allows mmengine checkpoints under torch>=2.6)
from mmext.datasets.config_check import check_dataset_config
from mmext.datasets.voc_check import DataCheckError
from mmext.evaluation.results_json import DumpCocoResults, category_ids
from mmext.utils.dist import close_distributed, setup_cpu_distributed
from mmext.utils.run_config import build_runner, load_run_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the file with evaluation metrics')
    parser.add_argument(
        '--out',
        help='dump predictions: x.json writes a COCO-style results json '
        '(tools/analysis/eval_dets.py --res-json reads it), x.pkl a pickle '
        '(loading a pickle runs any code it holds: share the json)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='save images with predictions drawn into this dir, relative '
        'to the timestamped dir under the work dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.out is not None and not args.out.endswith(
            ('.json', '.pkl', '.pickle')):
        parser.error('--out must be a .json, .pkl or .pickle file, got '
                     f'{args.out}')
    return args


def enable_visualization(cfg: Config, args) -> None:
    """Switch on the visualization hook as mmdet's and mmpretrain's do."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise RuntimeError(
            f'{args.config} has no default_hooks.visualization; '
            '--show/--show-dir need one')
    if cfg.get('default_scope') == 'mmpretrain':
        hook.enable = True
        hook.out_dir = args.show_dir
    else:
        hook.draw = True
        hook.test_out_dir = args.show_dir
    hook.show = args.show
    hook.wait_time = args.wait_time
    if args.show:
        hook.interval = 1


def build_test_config(args) -> Config:
    """Load the config and apply the command-line options to it."""
    cfg = load_run_config(args.config, args.launcher, args.cfg_options,
                          args.work_dir)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    return cfg


def add_dump(runner, out: str) -> None:
    """Append the metric that writes ``out`` (json or pickle) to the test
    evaluator; a json takes its category ids from the test dataset."""
    if out.endswith('.json'):
        dataset = runner.test_loop.dataloader.dataset
        dump = DumpCocoResults(out, category_ids(dataset))
    else:
        dump = DumpResults(out_file_path=out)
    runner.test_evaluator.metrics.append(dump)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_test_config(args)
        check_dataset_config(cfg, splits=('test', ), quick=True)
    except DataCheckError as err:  # the user's data, not a bug: no traceback
        sys.exit(f'error: {err}')
    if args.out and args.out.endswith('.json') and cfg.get(
            'default_scope') != 'mmdet':
        # the json is COCO detection results; other tasks have no such form
        sys.exit(f'error: --out {args.out}: a .json is written for detection '
                 f"configs (default_scope 'mmdet'), this config's is "
                 f"{cfg.get('default_scope')!r}; use --out x.pkl")
    setup_cpu_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    if args.out is not None:
        add_dump(runner, args.out)
    runner.test()
    close_distributed()


if __name__ == '__main__':
    main()
    # the process ends next: the interpreter's last collection then skips
    # the frozen objects, everything torch, mmdet and the run made (about
    # 1.2 CPU-s of the exit, measured; the objects die with the process)
    gc.freeze()
