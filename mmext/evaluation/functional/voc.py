"""PASCAL VOC detection evaluation (devkit / mmdet ``eval_map`` rules).

Rules, per class and IoU threshold:

* detections are ranked by score over the whole data set;
* each detection looks at the GT of its image and class with the highest IoU,
  among all of them (difficult / ignored ones and already matched ones
  included; ties go to the first GT in input order);
* if that IoU ``>= thr``: an ignored GT makes the detection neither TP nor FP;
  otherwise the first (highest ranked) detection on that GT is a TP and later
  ones are FPs; if the IoU is below ``thr`` the detection is an FP;
* recall divides by the number of non-ignored GTs; mAP averages the classes
  that have at least one non-ignored GT.

Because a detection's candidate GT does not depend on earlier matches, the
whole matching is vectorized: one sort, one IoU per (detection, GT) pair of
the same image and class, and a "first detection per GT" selection.

With ``scale_ranges`` (mmdet ``eval_map``), each range ``[min, max)`` of box
sides is evaluated on its own: GTs whose area is outside are ignored, and an
unmatched detection is a false positive only when its own area is inside.

Ties in score are ordered stably (image order, then input order), like the
devkit's MATLAB ``sort``. mmdet's ``eval_map`` sorts with NumPy's unstable
quicksort, so on tied scores its AP can differ from ours (and between runs
with a different detection order); on tie-free scores the two agree.
Results are float64; mmdet keeps AP in float32 (differences ~1e-7).
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .ap import average_precision
from .checks import check_boxes_labels, check_flags, check_iou_thrs
from .grouping import same_group_pairs, score_order, segment_starts
from .iou import paired_box_iou_at

#: what mmdet divides by instead of 0 when a class has no GT / no detection
_EPS = np.finfo(np.float32).eps


def voc_match(det_boxes: np.ndarray,
              det_scores: np.ndarray,
              det_labels: np.ndarray,
              det_imgs: np.ndarray,
              gt_boxes: np.ndarray,
              gt_labels: np.ndarray,
              gt_imgs: np.ndarray,
              gt_ignore: np.ndarray,
              iou_thrs: Sequence[float] = (0.5, ),
              legacy_coords: bool = True) -> Dict[str, np.ndarray]:
    """Mark every detection TP, FP or ignored under the VOC rules.

    Inputs must already be validated (see :func:`voc_eval`).

    Args:
        det_boxes (np.ndarray): ``(N, 4)`` ``x1, y1, x2, y2``.
        det_scores (np.ndarray): ``(N,)`` scores.
        det_labels (np.ndarray): ``(N,)`` class indices.
        det_imgs (np.ndarray): ``(N,)`` image indices.
        gt_boxes (np.ndarray): ``(G, 4)`` ``x1, y1, x2, y2``.
        gt_labels (np.ndarray): ``(G,)`` class indices.
        gt_imgs (np.ndarray): ``(G,)`` image indices.
        gt_ignore (np.ndarray): ``(G,)`` bool, difficult / ignored GT.
        iou_thrs (Sequence[float]): IoU thresholds. Defaults to ``(0.5,)``.
        legacy_coords (bool): +1 pixel widths (devkit). Defaults to True.

    Returns:
        dict: ``order`` (N,) detection indices in rank order (class, then
        score descending, ties stable); ``tp`` and ``fp``: ``(T, N)`` bool in
        that order; ``best_gt`` (N,) highest-IoU GT index per detection in
        that order (-1 if none) and ``best_iou`` (N,).
    """
    order = score_order(det_scores, det_labels, det_imgs)
    num_imgs = int(max(det_imgs.max(initial=-1), gt_imgs.max(initial=-1))) + 1
    # one key per (class, image): a detection meets only the GTs of its key
    det_keys = (det_labels * num_imgs + det_imgs)[order]
    d_idx, g_idx = same_group_pairs(det_keys, gt_labels * num_imgs + gt_imgs)
    iou = paired_box_iou_at(det_boxes, order[d_idx], gt_boxes, g_idx,
                            legacy_coords)
    best_gt, best_iou = best_pair_per_detection(d_idx, g_idx, iou,
                                                len(order))
    tp, fp = classify_matches(best_gt, best_iou, gt_ignore, iou_thrs)
    return dict(order=order, tp=tp, fp=fp, best_gt=best_gt,
                best_iou=best_iou)


def best_pair_per_detection(d_idx: np.ndarray, g_idx: np.ndarray,
                            iou: np.ndarray, num_dets: int) -> Tuple[
                                np.ndarray, np.ndarray]:
    """Each detection's highest-IoU GT, the first in ``g_idx`` order on
    ties (as ``argmax``).

    Args:
        d_idx (np.ndarray): ``(P,)`` detection of each pair, grouped by
            detection (as :func:`.grouping.same_group_pairs` returns).
        g_idx (np.ndarray): ``(P,)`` GT of each pair.
        iou (np.ndarray): ``(P,)`` IoU of each pair.
        num_dets (int): Number of detections ``N``.

    Returns:
        tuple: ``best_gt`` (``(N,)`` int64, -1 without pairs) and
        ``best_iou`` (``(N,)`` float64, -inf without pairs).
    """
    best_iou = np.full(num_dets, -np.inf)
    best_gt = np.full(num_dets, -1, dtype=np.int64)
    if len(d_idx) == 0:
        return best_gt, best_iou
    starts = segment_starts(d_idx)
    seg_max = np.maximum.reduceat(iou, starts)
    lengths = np.diff(starts, append=len(d_idx))
    # position of the first pair reaching its detection's maximum
    pos = np.flatnonzero(iou == np.repeat(seg_max, lengths))
    first = pos[segment_starts(d_idx[pos])]
    dets = d_idx[starts]
    best_iou[dets] = seg_max
    best_gt[dets] = g_idx[first]
    return best_gt, best_iou


def classify_matches(best_gt: np.ndarray,
                     best_iou: np.ndarray,
                     gt_ignore: np.ndarray,
                     iou_thrs: Sequence[float],
                     det_counted: Optional[np.ndarray] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """TP / FP flags from each detection's highest-IoU GT (rank order).

    Args:
        best_gt (np.ndarray): ``(N,)`` highest-IoU GT per detection, -1 if
            none, detections in rank order.
        best_iou (np.ndarray): ``(N,)`` that IoU.
        gt_ignore (np.ndarray): ``(G,)`` bool, GTs that neither match nor
            count.
        iou_thrs (Sequence[float]): The ``T`` thresholds.
        det_counted (np.ndarray, optional): ``(N,)`` bool, whether an
            unmatched detection is a false positive (mmdet ``eval_map``
            with ``scale_ranges``: only inside the range). Defaults to all.

    Returns:
        tuple: ``tp``, ``fp``: ``(T, N)`` bool.
    """
    thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1, 1)
    hit = best_iou[None] >= thrs  # (T, N)
    # only hits need their GT's flag (no GT: IoU -inf, never a hit)
    hit_ignored = np.zeros_like(hit)
    tp = np.zeros_like(hit)
    for t in range(len(thrs)):
        cand = np.flatnonzero(hit[t])
        gts = best_gt[cand]
        ignored = gt_ignore[gts]
        hit_ignored[t, cand] = ignored
        tp[t, first_per_group(gts[~ignored], cand[~ignored],
                              len(gt_ignore))] = True
    missed = ~hit if det_counted is None else ~hit & det_counted[None]
    fp = (hit & ~hit_ignored & ~tp) | missed
    return tp, fp


def first_per_group(groups: np.ndarray, positions: np.ndarray,
                    num_groups: int) -> np.ndarray:
    """The smallest of ``positions`` in each group that has any (the first
    detection in rank order on each GT).

    Args:
        groups (np.ndarray): ``(M,)`` group in ``[0, num_groups)`` of each.
        positions (np.ndarray): ``(M,)`` distinct non-negative integers.
        num_groups (int): Number of groups.

    Returns:
        np.ndarray: The winning positions, one per non-empty group.
    """
    first = np.full(num_groups, np.iinfo(np.int64).max)
    np.minimum.at(first, groups, positions)
    return first[first != np.iinfo(np.int64).max]


def voc_eval(det_boxes,
             det_scores,
             det_labels,
             det_imgs,
             gt_boxes,
             gt_labels,
             gt_imgs,
             num_classes: int,
             gt_ignore=None,
             iou_thrs: Sequence[float] = (0.5, ),
             legacy_coords: bool = True,
             modes: Sequence[str] = ('11points', 'area'),
             num_images: Optional[int] = None,
             img_names: Optional[Sequence] = None,
             scale_ranges: Optional[Sequence[Sequence[float]]] = None
             ) -> dict:
    """VOC AP per class and mAP from flat arrays of detections and GTs.

    Defined results: a class without non-ignored GT gets AP ``nan`` and is
    left out of mAP (mmdet reports 0 for it, also leaving it out); with no
    GT at all mAP is 0.0; a class with GT and no detection gets AP 0.

    Args:
        det_boxes: ``(N, 4)`` ``x1, y1, x2, y2``.
        det_scores: ``(N,)`` scores.
        det_labels: ``(N,)`` class indices in ``[0, num_classes)``.
        det_imgs: ``(N,)`` image indices.
        gt_boxes: ``(G, 4)`` ``x1, y1, x2, y2``.
        gt_labels: ``(G,)`` class indices.
        gt_imgs: ``(G,)`` image indices.
        num_classes (int): Number of classes.
        gt_ignore: ``(G,)`` bool, difficult / ignored GT. Defaults to none.
        iou_thrs (Sequence[float]): IoU thresholds. Defaults to ``(0.5,)``.
        legacy_coords (bool): +1 pixel widths. Defaults to True.
        modes (Sequence[str]): AP interpolations among ``'11points'``
            and ``'area'``.
        num_images (int, optional): Number of images, to range-check the
            image indices.
        img_names (Sequence, optional): Image names for error messages.
        scale_ranges (Sequence[Sequence[float]], optional): mmdet
            ``eval_map`` scale ranges: ``(min, max)`` box sides, an area
            range ``[min**2, max**2)`` each (see :func:`_scale_range_aps`).
            Defaults to None (no per-range results).

    Returns:
        dict: ``ap``: ``{mode: (T, K) float64}``; ``mAP``: ``{mode: (T,)}``;
        ``num_gts``: ``(K,)`` non-ignored GT counts; ``curves``: list over
        thresholds of lists over classes of dicts with ``recall``,
        ``precision``, ``scores`` (rank order) and ``num_gts``. With
        ``scale_ranges`` also ``scales``: ``ranges`` ``(S, 2)``, ``ap``
        ``{mode: (S, T, K)}``, ``mAP`` ``{mode: (S, T)}`` and ``num_gts``
        ``(S, K)`` (GTs inside each range), the keys above being the
        unrestricted results.

    Raises:
        ValueError: On malformed input, naming the entry and its image.
    """
    # float32 boxes and scores stay float32 (converting them all would cost
    # more than the rest of the checks): the IoU and the areas convert
    # what they compute on, exactly
    det_boxes, det_labels, det_imgs, det_scores = check_boxes_labels(
        'detection', det_boxes, det_labels, det_imgs, num_classes,
        num_images, scores=det_scores, img_names=img_names,
        keep_float32=True)
    gt_boxes, gt_labels, gt_imgs = check_boxes_labels(
        'ground truth', gt_boxes, gt_labels, gt_imgs, num_classes,
        num_images, img_names=img_names, keep_float32=True)
    gt_ignore = check_flags('ground truth', 'ignore flags', gt_ignore,
                            len(gt_boxes))
    iou_thrs = check_iou_thrs(iou_thrs)
    match = voc_match(det_boxes, det_scores, det_labels, det_imgs, gt_boxes,
                      gt_labels, gt_imgs, gt_ignore, iou_thrs, legacy_coords)
    order = match['order']
    num_gts = np.bincount(
        gt_labels[~gt_ignore], minlength=num_classes).astype(np.int64)
    # rank order is class order first: the class segments from the counts
    bounds = np.concatenate(
        [[0], np.cumsum(np.bincount(det_labels, minlength=num_classes))])
    ap, curves = _class_aps(match['tp'], match['fp'], bounds, num_gts, modes,
                            det_scores[order].astype(np.float64))
    out = dict(ap=ap, mAP=_mean_ap(ap, num_gts), num_gts=num_gts,
               curves=curves)
    if scale_ranges is not None:
        out['scales'] = _scale_range_aps(match, det_boxes[order], gt_boxes,
                                         gt_labels, gt_ignore, iou_thrs,
                                         scale_ranges, legacy_coords, bounds,
                                         modes)
    return out


def check_scale_ranges(scale_ranges) -> np.ndarray:
    """mmdet ``scale_ranges`` as a ``(S, 2)`` float64 array of
    ``[min, max)`` box sides (``sqrt`` of the area).

    Raises:
        ValueError: When a range is not two numbers ``0 <= min < max``
            (``max`` may be ``inf``), naming it.
    """
    try:
        rng = np.asarray(scale_ranges, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError('scale_ranges must be (min, max) pairs of box '
                         f'sides, got {scale_ranges!r}') from None
    if rng.ndim != 2 or rng.shape[1] != 2 or len(rng) == 0:
        raise ValueError('scale_ranges must be a non-empty list of (min, '
                         f'max) pairs of box sides, got {scale_ranges!r}')
    for lo, hi in rng:
        if not (0 <= lo < hi):  # NaN fails too
            raise ValueError(f'scale range ({lo!r}, {hi!r}) must satisfy '
                             '0 <= min < max')
    return rng


def _box_areas(boxes: np.ndarray, legacy_coords: bool) -> np.ndarray:
    boxes = boxes.astype(np.float64, copy=False)
    extra = 1.0 if legacy_coords else 0.0
    return (boxes[:, 2] - boxes[:, 0] + extra) * (
        boxes[:, 3] - boxes[:, 1] + extra)


def _scale_range_aps(match: dict, sorted_det_boxes: np.ndarray,
                     gt_boxes: np.ndarray, gt_labels: np.ndarray,
                     gt_ignore: np.ndarray, iou_thrs: np.ndarray,
                     scale_ranges, legacy_coords: bool, bounds: np.ndarray,
                     modes: Sequence[str]) -> dict:
    """AP per scale range with mmdet ``eval_map``'s ``scale_ranges`` rules.

    A range ``(lo, hi)`` selects box areas in ``[lo**2, hi**2)`` (areas with
    the +1 pixel convention when ``legacy_coords``). Per range, GTs outside
    are ignored (a detection whose highest-IoU GT is one of them is neither
    TP nor FP) and not counted; a detection that matches no GT is a false
    positive only when its own area is inside. The highest-IoU GT of a
    detection does not depend on the range.
    """
    rng = check_scale_ranges(scale_ranges) ** 2
    num_classes = len(bounds) - 1
    gt_area = _box_areas(gt_boxes, legacy_coords)
    det_area = _box_areas(sorted_det_boxes, legacy_coords)
    ap, mean_ap = {m: [] for m in modes}, {m: [] for m in modes}
    num_gts = []
    for lo, hi in rng:
        gt_out = (gt_area < lo) | (gt_area >= hi)
        det_in = (det_area >= lo) & (det_area < hi)
        tp, fp = classify_matches(match['best_gt'], match['best_iou'],
                                  gt_ignore | gt_out, iou_thrs, det_in)
        counted = np.bincount(gt_labels[~(gt_ignore | gt_out)],
                              minlength=num_classes).astype(np.int64)
        ap_s, _ = _class_aps(tp, fp, bounds, counted, modes)
        mean_s = _mean_ap(ap_s, counted)
        for m in modes:
            ap[m].append(ap_s[m])
            mean_ap[m].append(mean_s[m])
        num_gts.append(counted)
    return dict(ranges=np.sqrt(rng),
                ap={m: np.stack(a) for m, a in ap.items()},
                mAP={m: np.stack(a) for m, a in mean_ap.items()},
                num_gts=np.stack(num_gts))


def _class_aps(tp: np.ndarray,
               fp: np.ndarray,
               bounds: np.ndarray,
               num_gts: np.ndarray,
               modes: Sequence[str],
               sorted_scores: Optional[np.ndarray] = None):
    """AP per (threshold, class) from rank-ordered TP / FP flags.

    Args:
        tp, fp (np.ndarray): ``(T, N)`` bool, detections in rank order
            (class, then score).
        bounds (np.ndarray): ``(K + 1,)`` class segment starts in that
            order.
        num_gts (np.ndarray): ``(K,)`` counted GTs per class.
        modes (Sequence[str]): AP interpolations.
        sorted_scores (np.ndarray, optional): ``(N,)`` scores in rank
            order; when given, the PR curves are returned too.

    Returns:
        tuple: ``{mode: (T, K)}`` APs (nan for classes without GT) and the
        curves (a list over thresholds of lists over classes), or None.
    """
    num_thrs, num_classes = len(tp), len(num_gts)
    ap = {m: np.full((num_thrs, num_classes), np.nan) for m in modes}
    curves = [] if sorted_scores is not None else None
    for t in range(num_thrs):
        # only TPs and FPs are points of the curves (ignored ones are not)
        kept = np.flatnonzero(tp[t] | fp[t])
        kept_bounds = np.searchsorted(kept, bounds)
        per_class = []
        for k in range(num_classes):
            seg = kept[kept_bounds[k]:kept_bounds[k + 1]]
            recall, precision = _pr_points(tp[t, seg], num_gts[k])
            if curves is not None:
                per_class.append(
                    dict(recall=recall, precision=precision,
                         scores=sorted_scores[seg], num_gts=int(num_gts[k])))
            if num_gts[k] > 0:
                for m in modes:
                    ap[m][t, k] = average_precision(recall, precision, m)
        if curves is not None:
            curves.append(per_class)
    return ap, curves


def _pr_points(is_tp: np.ndarray, num_gts: int) -> Tuple[np.ndarray, ...]:
    """Recall and precision after each TP or FP of one class (rank order),
    with mmdet's eps in place of a zero GT count.

    Args:
        is_tp (np.ndarray): ``(M,)`` bool, True for a TP, False for an FP.
        num_gts (int): Counted GTs of the class.

    Returns:
        tuple: ``recall`` and ``precision``, ``(M,)`` float64.
    """
    # counts are exact in float64; TPs + FPs so far is the position
    tp_cum = np.cumsum(is_tp, dtype=np.float64)
    recall = tp_cum / max(num_gts, _EPS)
    precision = tp_cum / np.arange(1, len(is_tp) + 1, dtype=np.float64)
    return recall, precision


def _mean_ap(ap: Dict[str, np.ndarray],
             num_gts: np.ndarray) -> Dict[str, np.ndarray]:
    """Mean over the classes with GT per threshold; 0.0 when none has."""
    has_gt = num_gts > 0
    return {
        m: (a[:, has_gt].mean(axis=1) if has_gt.any() else np.zeros(
            len(a)))
        for m, a in ap.items()
    }
