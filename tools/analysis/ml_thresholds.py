"""Fit one score threshold per class of a multi-label classifier.

Reads the data samples that ``tools/test.py CONFIG CKPT --out val.pkl``
writes for a multi-label config (``pred_score`` plus ``gt_label`` /
``gt_score`` and ``gt_label_difficult``; difficult labels are ignored as
the metric ignores them), fits per class the threshold of the best F1 or,
with ``--target-precision``, the lowest threshold whose precision reaches
the target (the most recall at that precision), and writes them as JSON
(:mod:`mmext.evaluation.multilabel_thresholds`) for
``MultiLabelMetric(thr='thresholds.json')``.

Loading a pickle runs whatever code it holds: only load files you made.

Example:
    python tools/test.py CONFIG CKPT --out val.pkl \\
        --cfg-options test_dataloader.dataset.split=val
    python tools/analysis/ml_thresholds.py CONFIG val.pkl \\
        --out thresholds.json [--target-precision 0.9]
    python tools/test.py CONFIG CKPT \\
        --cfg-options test_evaluator.thr=thresholds.json
"""
import argparse
import pickle
import sys
from typing import List, Optional, Tuple

import numpy as np

from mmext.evaluation.functional.multilabel import multilabel_ranking_stats
from mmext.evaluation.multilabel_samples import (sample_score_target,
                                                 stack_samples)
from mmext.evaluation.multilabel_thresholds import save_class_thresholds
from mmext.visualization import format_table


def load_results(pkl_file: str) -> Tuple[np.ndarray, np.ndarray]:
    """Scores and {-1, 0, 1} targets of a ``test.py --out`` pickle.

    Returns:
        tuple[np.ndarray, np.ndarray]: (N, C) scores and targets.

    Raises:
        ValueError: Naming the file (and the sample): not a readable
            pickle, not a non-empty list of data samples, or a sample
            without scores or with bad labels.
    """
    try:
        with open(pkl_file, 'rb') as f:
            samples = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError,
            ImportError) as err:
        raise ValueError(f'{pkl_file} is not a readable pickle: {err}') \
            from None
    if not isinstance(samples, list) or not samples:
        raise ValueError(f'{pkl_file}: expected the non-empty list of data '
                         'samples that tools/test.py --out writes')
    pairs = []
    for n, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise ValueError(f'{pkl_file}: entry #{n} is a '
                             f'{type(sample).__name__}, not a data sample')
        try:
            pairs.append(sample_score_target(sample, n))
        except ValueError as err:
            raise ValueError(f'{pkl_file}: {err}') from None
    if len({p[0].shape for p in pairs}) > 1:
        raise ValueError(f'{pkl_file}: samples have different numbers of '
                         'scores')
    return stack_samples(pairs)


def dataset_classes(config: str) -> List[str]:
    """Class names of the config's test dataset (its metainfo, which a
    config's ``metainfo=dict(classes=...)`` overrides)."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS, DefaultScope
    cfg = Config.fromfile(config)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.pipeline = []
    ds_cfg.lazy_init = True  # the metainfo, not the annotations
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return list(DATASETS.build(ds_cfg).metainfo['classes'])


def fit_thresholds(scores: np.ndarray, targets: np.ndarray,
                   target_precision: Optional[float] = None
                   ) -> Tuple[np.ndarray, np.ndarray, str]:
    """One threshold per class.

    Args:
        scores (np.ndarray): (N, C) scores.
        targets (np.ndarray): (N, C) targets in {-1, 0, 1}.
        target_precision (float, optional): Fit for this precision instead
            of the best F1.

    Returns:
        tuple: thresholds (``inf`` = never predict), the quality reached on
        this data (F1, or the recall kept at the target precision), and the
        criterion's name.
    """
    stats = multilabel_ranking_stats(scores, targets, target_precision)
    if target_precision is None:
        return stats['best-F1-thr'], stats['best-F1'], 'best-f1'
    return (stats['precision-thr'], stats['precision-recall'],
            f'precision>={target_precision:g}')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fit per-class thresholds of a multi-label model on a '
        'results pickle of tools/test.py --out')
    parser.add_argument('config', help='the config (for the class names)')
    parser.add_argument(
        'results', help='results pickle of tools/test.py --out x.pkl on '
        'validation data. Loading a pickle runs any code it holds: only '
        'load your own')
    parser.add_argument('--out', required=True, help='thresholds JSON')
    parser.add_argument(
        '--target-precision', type=float,
        help='per class, the lowest threshold whose precision reaches this '
        'value (in (0, 1]) instead of the best F1')
    args = parser.parse_args(argv)
    if args.target_precision is not None and not (
            0 < args.target_precision <= 1):
        parser.error('--target-precision must be in (0, 1], got '
                     f'{args.target_precision}')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        scores, targets = load_results(args.results)
    except ValueError as err:  # the user's file, not a bug: no traceback
        sys.exit(f'error: {err}')
    classes = dataset_classes(args.config)
    if len(classes) != scores.shape[1]:
        sys.exit(f'error: {args.results} has {scores.shape[1]} scores per '
                 f'sample but {args.config} has {len(classes)} classes')
    thrs, quality, criterion = fit_thresholds(scores, targets,
                                              args.target_precision)
    save_class_thresholds(args.out, classes, thrs, criterion=criterion,
                          source=args.results)
    rows = [[name, int((targets[:, c] == 1).sum()), float(thrs[c]),
             100 * float(quality[c])] for c, name in enumerate(classes)]
    quality_name = 'F1' if args.target_precision is None else 'recall'
    print(format_table(['class', 'positives', 'thr', quality_name], rows,
                       title=f'thresholds ({criterion})', float_fmt='.4f'))
    never = [classes[c] for c in np.flatnonzero(np.isinf(thrs))]
    if never:
        print(f'{len(never)} classes never predicted (no positives, or the '
              f'target precision is out of reach): {never}')
    print(f'thresholds written to {args.out}')


if __name__ == '__main__':
    main()
