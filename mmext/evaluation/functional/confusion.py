"""Detection confusion matrix: ``(C + 1) x (C + 1)`` counts, rows the GT
class, columns the predicted class, background last; numpy only.

Two definitions, both over detections with ``score >= score_thr``:

* :func:`confusion_matrix_mmdet` counts exactly as mmdet 3.3's
  ``tools/analysis_tools/confusion_matrix.py`` (``calculate_confusion_matrix``
  without its optional re-NMS): every (detection, GT) pair of an image with
  ``IoU >= iou_thr`` adds one to ``[gt class, det class]``; a detection with
  no such pair adds one to ``[background, det class]``; a GT that no
  detection of its own class reaches adds one to ``[gt class, background]``.
  All GTs count, ignored (difficult) ones included.
* :func:`confusion_matrix` (what the analysis reports) matches one to one:
  first each detection, best score first, takes the remaining GT of its own
  class with the highest IoU ``>= iou_thr`` (a true positive); then each
  unmatched detection takes the remaining GT of another class with the
  highest IoU ``>= iou_thr`` (a confusion); the rest are background false
  positives and missed GTs. A detection left unmatched that overlaps an
  ignored GT or crowd region of its class by ``>= iou_thr`` (intersection
  over the detection's area, pycocotools' crowd rule) is not counted, and
  ignored GTs are never missed. So every detection lands in exactly one
  column and every GT in exactly one row: row sums are the GT counts.

Where mmdet's counts are wrong, and why it shows most with few classes: its
pairs are not one to one. (1) A duplicate detection of a GT is counted as a
second true positive, never as a false positive; (2) a detection reaching
two GTs is counted twice; (3) a GT reached only by a wrong-class detection
is counted twice in its row, as a confusion and as missed. So mmdet's rows
do not sum to the GT counts nor its columns to the detections. Worked
example, one class (``person``), one GT ``[0, 0, 10, 10]``, detections
``[0, 0, 10, 10]`` (score 0.9) and ``[0, 0, 10, 9]`` (score 0.8, IoU 0.9)::

    mmdet                       one to one
              person  bg                   person  bg
    person       2     0        person        1     0
    bg           0     0        bg            1     0

mmdet reports two true positives for one person and no false positive; its
row-normalised plot shows a perfect detector. With many classes a duplicate
is one cell among many; with one or two classes (crowded objects of one
kind, the reported case) the diagonal and the background row are the whole
picture, and they are inflated respectively emptied. (mmdet's plot adds to
it: its figure is ``0.5 * (C + 1)`` inches wide, one inch for one class, too
small for its title and labels.) On sets where no GT is reached by two
right-class detections, no detection reaches two GTs and no detection has
the wrong class the two definitions agree.
"""
from typing import Optional

import numpy as np

from .greedy_match import PairIoU, boxes_xyxy, greedy_match, pair_ious
from .iou import paired_box_iou
from .records import DetectionArrays


def _counts(rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    flat = np.bincount(rows * size + cols, minlength=size * size)
    return flat.reshape(size, size).astype(np.int64)


def _kept_pairs(arrays: DetectionArrays, score_thr: float,
                pairs: Optional[PairIoU]):
    keep = np.asarray(arrays.det_scores) >= score_thr
    pairs = pair_ious(arrays) if pairs is None else pairs
    return np.flatnonzero(keep), pairs.select(keep)


def confusion_matrix_mmdet(arrays: DetectionArrays,
                           score_thr: float = 0.3,
                           iou_thr: float = 0.5,
                           pairs: Optional[PairIoU] = None) -> np.ndarray:
    """mmdet 3.3's confusion matrix counts (see the module docstring).

    IoU is computed in float64 (mmdet: float32), which can differ only for
    an IoU within float32 rounding of ``iou_thr``.

    Args:
        arrays (DetectionArrays): Detections and GT.
        score_thr (float): Keep detections with ``score >= score_thr``.
        iou_thr (float): Pairs with ``IoU >= iou_thr`` count.
        pairs (PairIoU, optional): :func:`~.greedy_match.pair_ious` of
            ``arrays``, when already computed.

    Returns:
        np.ndarray: ``(C + 1, C + 1)`` int64 counts.
    """
    c = int(arrays.num_classes)
    keep, p = _kept_pairs(arrays, score_thr, pairs)
    labels = np.asarray(arrays.det_labels, np.int64)[keep]
    gt_labels = np.asarray(arrays.gt_labels, np.int64)
    # mmdet treats ignored GTs and crowds as plain boxes: plain IoU
    region_iou = paired_box_iou(
        boxes_xyxy(arrays.det_boxes, arrays.box_format)[keep][p.region_det],
        boxes_xyxy(arrays.gt_boxes, arrays.box_format)[p.region_gt])
    d = np.concatenate([p.det[p.iou >= iou_thr],
                        p.region_det[region_iou >= iou_thr]])
    g = np.concatenate([p.gt[p.iou >= iou_thr],
                        p.region_gt[region_iou >= iou_thr]])
    det_hit = np.zeros(len(keep), bool)
    det_hit[d] = True
    gt_found = np.zeros(len(gt_labels), bool)
    gt_found[g[labels[d] == gt_labels[g]]] = True
    rows = np.concatenate([gt_labels[g], np.full((~det_hit).sum(), c),
                           gt_labels[~gt_found]])
    cols = np.concatenate([labels[d], labels[~det_hit],
                           np.full((~gt_found).sum(), c)])
    return _counts(rows, cols, c + 1)


def confusion_matrix(arrays: DetectionArrays,
                     score_thr: float = 0.3,
                     iou_thr: float = 0.5,
                     pairs: Optional[PairIoU] = None) -> np.ndarray:
    """One-to-one detection confusion matrix (see the module docstring).

    Args:
        arrays (DetectionArrays): Detections and GT.
        score_thr (float): Keep detections with ``score >= score_thr``.
        iou_thr (float): Minimum IoU of a match.
        pairs (PairIoU, optional): :func:`~.greedy_match.pair_ious` of
            ``arrays``, when already computed.

    Returns:
        np.ndarray: ``(C + 1, C + 1)`` int64 counts; rows sum to the
        non-ignored GTs per class (last row: background false positives),
        columns to the counted detections per class.
    """
    c = int(arrays.num_classes)
    keep, p = _kept_pairs(arrays, score_thr, pairs)
    n = len(keep)
    labels = np.asarray(arrays.det_labels, np.int64)[keep]
    rank = p.det_rank
    gt_labels = np.asarray(arrays.gt_labels, np.int64)
    num_gts = len(gt_labels)
    regular = ~(np.asarray(arrays.gt_crowd, bool) |
                np.asarray(arrays.gt_ignore, bool))

    same = labels[p.det] == gt_labels[p.gt]
    match = greedy_match(rank, p.det[same], p.gt[same], p.iou[same], iou_thr,
                         n, num_gts)
    taken = np.zeros(num_gts, bool)
    taken[match[match >= 0]] = True
    # unmatched detections on an ignore region of their class: not counted
    on_region = (labels[p.region_det] == gt_labels[p.region_gt]) & (
        p.region_iou >= iou_thr)
    dropped = np.zeros(n, bool)
    dropped[p.region_det[on_region]] = True
    dropped &= match < 0
    sel = ~same & (match[p.det] < 0) & ~dropped[p.det] & ~taken[p.gt]
    confused = greedy_match(rank, p.det[sel], p.gt[sel], p.iou[sel], iou_thr,
                            n, num_gts)
    match = np.where(match >= 0, match, confused)
    taken[confused[confused >= 0]] = True

    counted = ~dropped
    matched = counted & (match >= 0)
    missed = regular & ~taken
    rows = np.concatenate([gt_labels[match[matched]],
                           np.full((counted & ~matched).sum(), c),
                           gt_labels[missed]])
    cols = np.concatenate([labels[matched], labels[counted & ~matched],
                           np.full(missed.sum(), c)])
    return _counts(rows, cols, c + 1)


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows summing to 0 stay 0)."""
    m = np.asarray(matrix, dtype=np.float64)
    sums = m.sum(axis=1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
