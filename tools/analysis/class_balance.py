"""Show what repeat-factor sampling does to a config's training set.

Prints the per-class table (image frequency, repeat factor, frequency after
balancing, length before / after) and saves a bar chart PNG.

Example:
    python tools/analysis/class_balance.py \
        configs/class_balanced/faster-rcnn_r18-tiny_fpn_tiny-voc0712_rfs.py \
        --out work_dirs/class_balance.png
    # preview a config that has no wrapper yet:
    python tools/analysis/class_balance.py CONFIG --oversample-thr 0.1
"""
import argparse
from typing import Optional

from mmengine.config import Config, DictAction
from mmengine.registry import DATASETS, DefaultScope

from mmext.datasets.nested import find_dataset
from mmext.datasets.repeat_factor_dataset import RepeatFactorDataset
from mmext.visualization.class_balance import (format_class_balance_table,
                                               plot_class_balance)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Class frequencies before / after repeat-factor '
        'sampling of a config\'s train_dataloader.dataset')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--out', default='class_balance.png', help='bar chart PNG path')
    parser.add_argument(
        '--oversample-thr',
        type=float,
        help='wrap the training set in a RepeatFactorDataset with this '
        'threshold (or override the wrapper\'s)')
    parser.add_argument(
        '--rounding',
        choices=['ceil', 'stochastic'],
        help='override the wrapper\'s rounding')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def build_balanced_dataset(cfg: Config,
                           oversample_thr: Optional[float] = None,
                           rounding: Optional[str] = None
                           ) -> RepeatFactorDataset:
    """Build the training set of ``cfg`` and return its wrapper.

    Args:
        cfg (Config): A full config with ``train_dataloader.dataset``.
        oversample_thr (float, optional): Wrap the training set with this
            threshold if it has no wrapper, else override the wrapper's.
        rounding (str, optional): Override the wrapper's rounding.

    Returns:
        RepeatFactorDataset: The (fully initialised) wrapper.

    Raises:
        ValueError: If the training set has no wrapper and no
            ``oversample_thr`` is given.
    """
    ds_cfg = cfg.train_dataloader.dataset
    overrides = {}
    if oversample_thr is not None:
        overrides['oversample_thr'] = oversample_thr
    if rounding is not None:
        overrides['rounding'] = rounding
    if ds_cfg.get('type') in ('mmext.RepeatFactorDataset',
                              'RepeatFactorDataset', RepeatFactorDataset):
        ds_cfg.update(overrides)
    elif oversample_thr is not None:
        ds_cfg = dict(
            type='mmext.RepeatFactorDataset', dataset=ds_cfg, **overrides)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        dataset = DATASETS.build(ds_cfg)
    wrapper = find_dataset(dataset, RepeatFactorDataset)
    if wrapper is None:
        raise ValueError('train_dataloader.dataset has no RepeatFactorDataset;'
                         ' pass --oversample-thr to preview one')
    wrapper.full_init()
    return wrapper


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    wrapper = build_balanced_dataset(cfg, args.oversample_thr, args.rounding)
    table = format_class_balance_table(wrapper.class_names,
                                       wrapper.repeat_factors,
                                       wrapper.rounding,
                                       wrapper.oversample_thr)
    print(table)
    out = plot_class_balance(wrapper.class_names, wrapper.repeat_factors,
                             wrapper.rounding, args.out)
    print(f'bar chart saved to {out}')
    return table


if __name__ == '__main__':
    main()
