"""Multi-label data samples and sklearn oracles for the metric tests.

The oracles compute every item of ``mmext.MultiLabelMetric`` with sklearn,
class by class over the non-ignored labels (sklearn has no "ignore"
label), in percent: nothing here calls mmext.
"""
import warnings

import numpy as np
import torch
from mmengine.registry import DefaultScope
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (average_precision_score, f1_score,
                             precision_score, recall_score, roc_auc_score)


def make_samples(num: int = 101, num_classes: int = 6, seed: int = 0,
                 difficult: bool = True):
    """Data samples as mmpretrain's VOC pipeline gives them (label indices
    plus, with ``difficult``, ``gt_label_difficult`` in the metainfo),
    converted to dicts the way mmengine's Evaluator does."""
    from mmpretrain.structures import DataSample
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(num):
        labels = rng.choice(num_classes, rng.integers(1, 3), replace=False)
        labels_difficult = rng.choice(num_classes,
                                      rng.integers(0, 2)).tolist()
        sample = DataSample().set_pred_score(torch.rand(
            num_classes, generator=torch.Generator().manual_seed(
                int(rng.integers(1 << 30))))).set_gt_label(labels.tolist())
        if difficult:
            sample.set_metainfo(dict(gt_label_difficult=labels_difficult))
        samples.append(sample.to_dict())
    return samples


def expected_targets(samples, num_classes: int) -> np.ndarray:
    """{-1, 0, 1} targets by mmpretrain's VOC rule: a difficult label is
    ignored unless a non-difficult object carries it."""
    targets = np.zeros((len(samples), num_classes), dtype=int)
    for i, s in enumerate(samples):
        for d in s.get('gt_label_difficult', []):
            targets[i, d] = -1
        targets[i, np.asarray(s['gt_label'])] = 1  # positive wins
    return targets


def build_metric(**kwargs):
    """``mmext.MultiLabelMetric`` built through mmpretrain's registry."""
    from mmpretrain.registry import METRICS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return METRICS.build(dict(type='mmext.MultiLabelMetric', **kwargs))


def sklearn_items(scores: np.ndarray, targets: np.ndarray,
                  thr) -> dict:
    """Every item of the metric (percent) from sklearn.

    Args:
        scores (np.ndarray): (N, C).
        targets (np.ndarray): (N, C) in {-1, 0, 1}.
        thr (float | np.ndarray): One threshold or one per class.
    """
    num_classes = scores.shape[1]
    pred = (scores >= np.broadcast_to(thr, (num_classes, ))).astype(int)
    valid = targets >= 0
    per_class = {k: [] for k in ('p', 'r', 'f', 'ap', 'auc', 'best')}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UndefinedMetricWarning)
        warnings.simplefilter('ignore', UserWarning)
        for c in range(num_classes):
            y, p, s = (a[valid[:, c], c] for a in (targets, pred, scores))
            per_class['p'].append(precision_score(y, p, zero_division=0))
            per_class['r'].append(recall_score(y, p, zero_division=0))
            per_class['f'].append(f1_score(y, p, zero_division=0))
            per_class['ap'].append(
                average_precision_score(y, s) if y.any() else 0.0)
            per_class['auc'].append(
                roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan)
            # the best F1 over every threshold a score offers
            per_class['best'].append(max(
                [f1_score(y, (s >= t).astype(int), zero_division=0)
                 for t in np.unique(s)] or [0.0]))
        micro = [fn(targets[valid], pred[valid], zero_division=0)
                 for fn in (precision_score, recall_score, f1_score)]
    cp, cr = np.mean(per_class['p']), np.mean(per_class['r'])
    items = {
        'CP': cp, 'CR': cr, 'CF1': 2 * cp * cr / (cp + cr) if cp + cr else 0,
        'macro-F1': np.mean(per_class['f']), 'OP': micro[0], 'OR': micro[1],
        'OF1': micro[2], 'mAP': np.mean(per_class['ap']),
        'AUC': np.nanmean(per_class['auc']),
        'micro-AUC': roc_auc_score(targets[valid], scores[valid]),
        'best-F1': np.mean(per_class['best']),
    }
    return {k: 100 * float(v) for k, v in items.items()}
