"""Precision, recall and F1 against the confidence threshold, per class and
averaged over classes (the curves used to pick a deployment threshold, as
ultralytics plots them); numpy only.

A detection is a true positive when the one-to-one greedy matching at
``iou_thr`` (same class, best score first, :mod:`.greedy_match`) gives it a
non-ignored GT; an unmatched detection on an ignored GT or crowd region of
its class (intersection over the detection's area ``>= iou_thr``) is left
out, as pycocotools does with crowds. At a threshold ``x`` a class keeps
its detections with ``score >= x``; precision is 1 when none is kept
(ultralytics' choice), recall and F1 are then 0. The mean curves average the classes that have GT.
"""
from typing import Dict, Optional

import numpy as np

from .greedy_match import PairIoU, greedy_match, pair_ious
from .grouping import score_order
from .pr import best_f1_threshold, f1_score
from .records import DetectionArrays

#: the default confidence grid
CONFIDENCE_THRS = np.linspace(0, 1, 1001)


def true_positives(arrays: DetectionArrays, iou_thr: float = 0.5,
                   pairs: Optional[PairIoU] = None) -> np.ndarray:
    """Per detection: 1 true positive, 0 false positive, -1 left out.

    Args:
        arrays (DetectionArrays): Detections and GT.
        iou_thr (float): Minimum IoU of a match.
        pairs (PairIoU, optional): :func:`~.greedy_match.pair_ious` of
            ``arrays``, when already computed.

    Returns:
        np.ndarray: ``(N,)`` int8.
    """
    p = pair_ious(arrays) if pairs is None else pairs
    n = p.num_dets
    labels = np.asarray(arrays.det_labels, np.int64)
    gt_labels = np.asarray(arrays.gt_labels, np.int64)
    rank = p.det_rank
    same = labels[p.det] == gt_labels[p.gt]
    match = greedy_match(rank, p.det[same], p.gt[same], p.iou[same], iou_thr,
                         n, len(gt_labels))
    out = (match >= 0).astype(np.int8)
    on_region = (labels[p.region_det] == gt_labels[p.region_gt]) & (
        p.region_iou >= iou_thr)
    left_out = np.zeros(n, bool)
    left_out[p.region_det[on_region]] = True
    out[left_out & (match < 0)] = -1
    return out


def confidence_curves(arrays: DetectionArrays,
                      iou_thr: float = 0.5,
                      thresholds: np.ndarray = CONFIDENCE_THRS,
                      pairs: Optional[PairIoU] = None) -> Dict:
    """Precision, recall and F1 at each confidence threshold.

    Args:
        arrays (DetectionArrays): Detections and GT.
        iou_thr (float): Minimum IoU of a true positive. Defaults to 0.5.
        thresholds (np.ndarray): Increasing confidence thresholds.
        pairs (PairIoU, optional): :func:`~.greedy_match.pair_ious` of
            ``arrays``, when already computed.

    Returns:
        dict: ``thresholds`` (``(T,)``); ``precision``, ``recall``, ``f1``
        (each ``(C, T)``, one row per class); ``num_gts`` (``(C,)``);
        ``mean`` (``precision``, ``recall``, ``f1`` over classes with GT,
        each ``(T,)``, and ``best``: the grid threshold of the highest mean
        F1, ties to the higher threshold, with P/R/F1 there); ``best`` (per
        class :func:`~.pr.best_f1_threshold` at the detection scores).
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    c = int(arrays.num_classes)
    tp = true_positives(arrays, iou_thr, pairs)
    counted = np.flatnonzero(tp >= 0)
    scores = np.asarray(arrays.det_scores, np.float64)[counted]
    labels = np.asarray(arrays.det_labels, np.int64)[counted]
    order = score_order(scores, labels, np.asarray(arrays.det_imgs)[counted])
    scores, labels, hits = scores[order], labels[order], tp[counted][order]
    regular = ~(np.asarray(arrays.gt_crowd, bool) |
                np.asarray(arrays.gt_ignore, bool))
    num_gts = np.bincount(np.asarray(arrays.gt_labels)[regular],
                          minlength=c)
    bounds = np.searchsorted(labels, np.arange(c + 1))
    shape = (c, len(thresholds))
    precision, recall = np.ones(shape), np.zeros(shape)
    best = []
    for k in range(c):
        s = slice(bounds[k], bounds[k + 1])
        tp_cum = np.cumsum(hits[s] == 1)
        p = tp_cum / np.arange(1, len(tp_cum) + 1)
        r = tp_cum / max(int(num_gts[k]), 1)
        best.append(best_f1_threshold(p, r, scores[s]))
        kept = np.searchsorted(-scores[s], -thresholds, side='right')
        ok = kept > 0
        precision[k, ok] = p[kept[ok] - 1]
        recall[k, ok] = r[kept[ok] - 1]
    f1 = f1_score(precision, recall)
    with_gt = num_gts > 0
    mean = {}
    for name, v in (('precision', precision), ('recall', recall),
                    ('f1', f1)):
        mean[name] = v[with_gt].mean(axis=0) if with_gt.any() else np.zeros(
            len(thresholds))
    i = len(thresholds) - 1 - int(np.argmax(mean['f1'][::-1]))
    mean['best'] = dict(score_thr=float(thresholds[i]),
                        precision=float(mean['precision'][i]),
                        recall=float(mean['recall'][i]),
                        f1=float(mean['f1'][i]))
    return dict(thresholds=thresholds, precision=precision, recall=recall,
                f1=f1, num_gts=num_gts, mean=mean, best=best)
