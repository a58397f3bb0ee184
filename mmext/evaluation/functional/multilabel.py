"""Multi-label classification statistics: CP/CR/CF1, OP/OR/OF1, AP, mAP,
ROC-AUC and best-F1 (numpy only).

All functions take ``scores`` of shape (N, C) and ``targets`` of shape (N, C)
with values in {-1, 0, 1}; ``-1`` means "ignore this label of this sample"
(VOC *difficult*). Ignored entries count neither as positives nor as
negatives anywhere, exactly as in mmpretrain's ``MultiLabelMetric`` and
``AveragePrecision``. Results are fractions in [0, 1] (not percent).

Conventions (those of mmpretrain, and of sklearn with ``zero_division=0``):

* a class with no predicted positives has precision 0, a class with no
  positive targets has recall 0 and AP 0, and F1 is 0 when P + R = 0;
* CP, CR, macro-F1 and mAP average over **all** C classes, including
  classes without positives;
* AP is non-interpolated: the mean over positives of the precision at
  their rank. Scores are sorted descending with a stable sort, so tied
  scores are ranked by sample index. (mmpretrain's unstable
  ``torch.argsort`` orders ties arbitrarily and sklearn groups ties into
  one threshold; all three agree on tie-free scores.)
* ROC-AUC is sklearn's ``roc_auc_score``: the trapezoid over distinct
  thresholds, i.e. a positive-negative tie counts one half. A class with
  only positives or only negatives (after ignoring) has no AUC: it is NaN
  per class, left out of the macro mean and counted in ``AUC-undefined``
  (sklearn raises instead);
* a label is predicted when its score is ``>= thr`` (one threshold, or one
  per class), or when it is among the ``topk`` highest of its sample; at a
  tie on the k-th score the lower class index wins (``torch.topk``, which
  mmpretrain uses, leaves the order of ties unspecified).

The ranking statistics (AP, AUC, best-F1) live in
:mod:`.multilabel_ranking` and share one ranking pass per class; the input
checks in :mod:`.multilabel_inputs`.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .multilabel_inputs import check_class_thresholds, check_multilabel_inputs
from .multilabel_ranking import (multilabel_average_precision,
                                 multilabel_best_f1_thresholds,
                                 multilabel_micro_roc_auc,
                                 multilabel_precision_thresholds,
                                 multilabel_ranking_stats, multilabel_roc_auc)
from .multilabel_ranking import _ranking_stats

__all__ = [
    'check_multilabel_inputs', 'multilabel_confusion',
    'multilabel_precision_recall_f1', 'multilabel_average_precision',
    'multilabel_roc_auc', 'multilabel_micro_roc_auc',
    'multilabel_best_f1_thresholds', 'multilabel_precision_thresholds',
    'multilabel_ranking_stats', 'multilabel_metrics'
]

Threshold = Union[float, Sequence[float], np.ndarray]


def multilabel_confusion(
        scores,
        targets,
        thr: Optional[Threshold] = 0.5,
        topk: Optional[int] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count true positives, false positives and false negatives per class.

    A label is predicted positive if its score is ``>= thr`` (``thr`` one
    number or one per class), or, when ``thr`` is None, if it is among the
    ``topk`` highest scores of its sample (ties: the lower class index
    first). Ignored labels (target -1) are dropped after the prediction is
    made.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.
        thr (float | Sequence[float], optional): Score threshold, or C of
            them. Defaults to 0.5.
        topk (int, optional): Used only when ``thr`` is None.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``tp``, ``fp``, ``fn``,
        each int64 of shape (C,).
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    return _confusion(scores, targets, thr, topk)


def _confusion(scores: np.ndarray, targets: np.ndarray,
               thr: Optional[Threshold],
               topk: Optional[int]) -> Tuple[np.ndarray, np.ndarray,
                                             np.ndarray]:
    """:func:`multilabel_confusion` of checked inputs."""
    num, num_classes = scores.shape
    if thr is not None:
        pred = scores >= check_class_thresholds(thr, num_classes)
    else:
        if topk is None or not 1 <= topk <= num_classes:
            raise ValueError(f'topk must be in [1, {num_classes}] when '
                             f'thr is None, got {topk}')
        pred = np.zeros(scores.shape, dtype=bool)
        step = max(1, (1 << 23) // num_classes)  # bound the int64 indices
        for start in range(0, num, step):
            rows = slice(start, start + step)
            index = np.argsort(-scores[rows], axis=1, kind='stable')
            np.put_along_axis(pred[rows], index[:, :topk], True, axis=1)
    pos = targets == 1
    neg = targets == 0
    tp = np.count_nonzero(pred & pos, axis=0)
    fp = np.count_nonzero(pred & neg, axis=0)
    fn = np.count_nonzero(pos, axis=0) - tp
    return tp.astype(np.int64), fp.astype(np.int64), fn.astype(np.int64)


def multilabel_precision_recall_f1(
        tp: np.ndarray, fp: np.ndarray,
        fn: np.ndarray) -> Dict[str, Union[float, np.ndarray]]:
    """Per-class and summary precision / recall / F1 from counts.

    Args:
        tp (np.ndarray): True positives per class, shape (C,).
        fp (np.ndarray): False positives per class, shape (C,).
        fn (np.ndarray): False negatives per class, shape (C,).

    Returns:
        dict: ``precision``, ``recall``, ``f1`` (arrays of shape (C,)) and
        the floats ``CP``, ``CR`` (means over classes), ``CF1`` (=
        2*CP*CR/(CP+CR)), ``macro-F1`` (mean of per-class F1, what
        mmpretrain and sklearn call macro F1), ``OP``, ``OR``, ``OF1``
        (from the counts summed over classes, i.e. micro averages).
    """
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _harmonic(precision, recall)
    cp, cr = float(precision.mean()), float(recall.mean())
    op = float(_safe_div(tp.sum(), tp.sum() + fp.sum()))
    o_r = float(_safe_div(tp.sum(), tp.sum() + fn.sum()))
    return {
        'precision': precision,
        'recall': recall,
        'f1': f1,
        'CP': cp,
        'CR': cr,
        'CF1': float(_harmonic(cp, cr)),
        'macro-F1': float(f1.mean()),
        'OP': op,
        'OR': o_r,
        'OF1': float(_harmonic(op, o_r)),
    }


def multilabel_metrics(scores,
                       targets,
                       thr: Optional[Threshold] = 0.5,
                       topk: Optional[int] = None,
                       with_ap: bool = True,
                       with_micro_auc: bool = False
                       ) -> Dict[str, Union[float, int, np.ndarray]]:
    """All multi-label statistics in one call.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.
        thr (float | Sequence[float], optional): Score threshold, or one per
            class. Defaults to 0.5.
        topk (int, optional): Per-sample top-k, used when ``thr`` is None.
        with_ap (bool): Also compute the ranking statistics (one pass):
            ``AP`` and ``AUC`` (per class), ``mAP``, ``macro-AUC``,
            ``AUC-undefined``, ``best-F1`` / ``best-F1-thr`` (per class) and
            ``mean-best-F1``.
        with_micro_auc (bool): Also compute ``micro-AUC`` (a pooled pass
            over all labels).

    Returns:
        dict: The keys of :func:`multilabel_precision_recall_f1` plus
        ``support`` (positives per class) and those named above.
        ``macro-AUC`` is the mean over the classes that have an AUC (NaN
        when none has); ``AUC-undefined`` counts the others.
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    # inputs checked once: the checks read every element
    tp, fp, fn = _confusion(scores, targets, thr, topk)
    results = multilabel_precision_recall_f1(tp, fp, fn)
    results['support'] = tp + fn
    if with_ap:
        ranking = _ranking_stats(scores, targets)
        results.update(ranking)
        auc = ranking['AUC']
        defined = ~np.isnan(auc)
        results['mAP'] = float(ranking['AP'].mean())
        results['macro-AUC'] = (float(auc[defined].mean())
                                if defined.any() else float('nan'))
        results['AUC-undefined'] = int(np.count_nonzero(~defined))
        results['mean-best-F1'] = float(ranking['best-F1'].mean())
    if with_micro_auc:
        results['micro-AUC'] = multilabel_micro_roc_auc(scores, targets)
    return results


def _safe_div(num, den):
    """``num / den`` with 0 where ``den == 0``."""
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


def _harmonic(p, r):
    """F1 of precision and recall, 0 where both are 0."""
    return _safe_div(2 * p * r, p + r)
