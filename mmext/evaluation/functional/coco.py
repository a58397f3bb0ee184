"""COCO-style box evaluation with pycocotools' rules, vectorized.

Reproduces ``COCOeval`` (``evaluate`` + ``accumulate`` + ``summarize``) for
``iouType='bbox'``:

* per (image, class) only the ``max_dets[-1]`` highest scored detections
  count (stable sort, ties in input order);
* IoU as ``maskUtils.iou`` on ``x, y, w, h`` boxes; a crowd GT uses the
  detection's area as union and can absorb any number of detections;
* greedy matching in score order: a detection takes, among the GTs with IoU
  ``>= t`` not yet taken (crowd GTs are never taken), a non-ignored one if
  any, the highest IoU, ties to the later GT; GTs outside the area range and
  crowd / ignore-flagged GTs are ignored; detections matched to an ignored GT
  and unmatched detections outside the area range are ignored;
* precision uses ``np.spacing(1)``, is made monotone and read at 101 recall
  thresholds; -1 marks classes without non-ignored GT.

The greedy matching is sequential in pycocotools. Here all (threshold, area
range) combinations and all images are matched at once in rounds: each
unresolved detection proposes its best still-free GT; a proposal is accepted
when no higher ranked unresolved detection could still take that GT. The
accepted pairs are exactly the greedy ones (a detection is only settled once
nothing ranked above it can interfere), and the top unresolved detection is
settled every round, so it terminates; in practice after a few rounds.

Scores tied across images are ordered by image index, then input order, as
pycocotools orders them when image indices follow the sorted image ids.
"""
from typing import Optional, Sequence

import numpy as np

from .checks import check_boxes_labels, check_flags
from .grouping import group_rank, same_group_pairs, score_order
from .iou import paired_crowd_iou_xywh

#: pycocotools' defaults for ``iouType='bbox'``
COCO_IOU_THRS = np.linspace(
    .5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
COCO_REC_THRS = np.linspace(
    .0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
COCO_MAX_DETS = (1, 10, 100)
COCO_AREA_RANGES = ((0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2),
                    (96**2, 1e5**2))
COCO_AREA_LABELS = ('all', 'small', 'medium', 'large')
#: the 12 numbers of ``COCOeval.summarize``, in order
COCO_STAT_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
                   'AR100', 'ARs', 'ARm', 'ARl')


def coco_match(det_rank_keys: np.ndarray, det_xywh: np.ndarray,
               gt_xywh: np.ndarray, gt_keys: np.ndarray,
               gt_iscrowd: np.ndarray, gt_ignored: np.ndarray,
               iou_thrs: np.ndarray) -> np.ndarray:
    """Greedy pycocotools matching for all thresholds and area ranges.

    Args:
        det_rank_keys (np.ndarray): ``(N,)`` (image, class) key of each
            detection, detections in rank order (best first).
        det_xywh (np.ndarray): ``(N, 4)`` boxes in rank order.
        gt_xywh (np.ndarray): ``(G, 4)`` GT boxes.
        gt_keys (np.ndarray): ``(G,)`` (image, class) key of each GT.
        gt_iscrowd (np.ndarray): ``(G,)`` bool.
        gt_ignored (np.ndarray): ``(A, G)`` bool, GT ignored in area range a.
        iou_thrs (np.ndarray): ``(T,)`` thresholds.

    Returns:
        np.ndarray: ``(T, A, N)`` int64, the matched GT index or -1.
    """
    num_a, num_g = gt_ignored.shape
    n = len(det_rank_keys)
    num_t = len(iou_thrs)
    match = np.full(num_t * num_a * n, -1, dtype=np.int64)
    d_idx, g_idx = same_group_pairs(det_rank_keys, gt_keys)
    if len(d_idx) == 0:
        return match.reshape(num_t, num_a, n)
    iou = paired_crowd_iou_xywh(det_xywh[d_idx], gt_xywh[g_idx],
                                gt_iscrowd[g_idx])
    thr_eff = np.minimum(iou_thrs, 1 - 1e-10)
    cand = iou >= thr_eff.min()
    d_idx, g_idx, iou = d_idx[cand], g_idx[cand], iou[cand]
    # one candidate per (threshold, area range, pair) with iou >= threshold
    combos, pair = [], []
    for t in range(num_t):
        p = np.flatnonzero(iou >= thr_eff[t])
        for a in range(num_a):
            combos.append(np.full(len(p), t * num_a + a, dtype=np.int64))
            pair.append(p)
    combo = np.concatenate(combos)
    pair = np.concatenate(pair)
    det = d_idx[pair]
    gt = g_idx[pair]
    regular = ~gt_ignored[combo % num_a, gt]
    # within a detection: the last candidate is its preferred GT
    # (non-ignored first, then highest IoU, then the later GT)
    srt = np.lexsort((gt, iou[pair], regular, det, combo))
    dkey = (combo * n + det)[srt]
    gkey = (combo * num_g + gt)[srt]
    gt = gt[srt]
    crowd = gt_iscrowd[gt]
    top = np.full(num_t * num_a * num_g, np.iinfo(np.int64).max)
    while len(dkey):
        last = np.ones(len(dkey), dtype=bool)
        last[:-1] = dkey[1:] != dkey[:-1]
        # the highest ranked unresolved detection still wanting each GT
        np.minimum.at(top, gkey, dkey)
        accept = last & (crowd | (top[gkey] == dkey))
        top[gkey] = np.iinfo(np.int64).max
        match[dkey[accept]] = gt[accept]
        taken = np.zeros_like(top, dtype=bool)
        taken[gkey[accept & ~crowd]] = True
        alive = (match[dkey] < 0) & ~(taken[gkey] & ~crowd)
        dkey, gkey, gt, crowd = dkey[alive], gkey[alive], gt[alive], \
            crowd[alive]
    return match.reshape(num_t, num_a, n)


def coco_eval(det_boxes,
              det_scores,
              det_labels,
              det_imgs,
              gt_boxes,
              gt_labels,
              gt_imgs,
              num_classes: int,
              gt_iscrowd=None,
              gt_ignore=None,
              gt_areas=None,
              box_format: str = 'xyxy',
              iou_thrs: Sequence[float] = COCO_IOU_THRS,
              rec_thrs: Sequence[float] = COCO_REC_THRS,
              max_dets: Sequence[int] = COCO_MAX_DETS,
              area_ranges: Sequence[Sequence[float]] = COCO_AREA_RANGES,
              num_images: Optional[int] = None,
              img_names: Optional[Sequence] = None) -> dict:
    """COCO precision/recall arrays and the 12 summary stats.

    ``xyxy`` boxes are converted with ``w = x2 - x1`` like mmdet's CocoMetric
    does before pycocotools, so both see the same numbers.

    Defined results: images without GT or detections are fine; a class with
    no non-ignored GT in an area range has precision/recall -1 there (as in
    pycocotools) and a stat with nothing valid is -1.

    Args:
        det_boxes: ``(N, 4)`` boxes in ``box_format``.
        det_scores: ``(N,)`` scores.
        det_labels: ``(N,)`` class indices in ``[0, num_classes)``.
        det_imgs: ``(N,)`` image indices (their order breaks score ties).
        gt_boxes: ``(G, 4)`` boxes in ``box_format``.
        gt_labels: ``(G,)`` class indices.
        gt_imgs: ``(G,)`` image indices.
        num_classes (int): Number of classes.
        gt_iscrowd: ``(G,)`` bool crowd flags. Defaults to none.
        gt_ignore: ``(G,)`` bool, non-crowd ignored regions (e.g. VOC
            difficult): matched once, never counted. Defaults to none.
        gt_areas: ``(G,)`` areas for the area ranges (COCO's ``area``,
            the mask area). Defaults to box ``w * h``.
        box_format (str): ``'xyxy'`` or ``'xywh'``.
        iou_thrs, rec_thrs, max_dets, area_ranges: ``COCOeval.Params``.
        num_images (int, optional): To range-check image indices.
        img_names (Sequence, optional): Image names for error messages.

    Returns:
        dict: ``precision`` ``(T, R, K, A, M)``, ``recall`` ``(T, K, A, M)``,
        ``scores`` ``(T, R, K, A, M)`` as ``COCOeval.eval``; ``stats``
        ``(12,)`` as ``COCOeval.stats`` (when the parameters are the
        defaults); ``num_gts`` ``(K, A)`` non-ignored GT counts.
    """
    if box_format not in ('xyxy', 'xywh'):
        raise ValueError(f"box_format must be 'xyxy' or 'xywh', got "
                         f'{box_format!r}')
    det_boxes, det_labels, det_imgs, det_scores = check_boxes_labels(
        'detection', det_boxes, det_labels, det_imgs, num_classes,
        num_images, scores=det_scores, img_names=img_names,
        box_format=box_format)
    gt_boxes, gt_labels, gt_imgs = check_boxes_labels(
        'ground truth', gt_boxes, gt_labels, gt_imgs, num_classes,
        num_images, img_names=img_names, box_format=box_format)
    num_g = len(gt_boxes)
    gt_iscrowd = check_flags('ground truth', 'iscrowd', gt_iscrowd, num_g)
    gt_ignore = check_flags('ground truth', 'ignore', gt_ignore, num_g)
    if box_format == 'xyxy':
        det_boxes = np.concatenate(
            [det_boxes[:, :2], det_boxes[:, 2:] - det_boxes[:, :2]], 1)
        gt_boxes = np.concatenate(
            [gt_boxes[:, :2], gt_boxes[:, 2:] - gt_boxes[:, :2]], 1)
    if gt_areas is None:
        gt_areas = gt_boxes[:, 2] * gt_boxes[:, 3]
    gt_areas = np.asarray(gt_areas, dtype=np.float64).reshape(-1)
    if len(gt_areas) != num_g:
        raise ValueError(f'ground truth areas has {len(gt_areas)} entries '
                         f'but there are {num_g} boxes')
    iou_thrs = np.asarray(iou_thrs, dtype=np.float64)
    rec_thrs = np.asarray(rec_thrs, dtype=np.float64)
    area_rng = np.asarray(area_ranges, dtype=np.float64).reshape(-1, 2)
    max_dets = list(max_dets)
    num_t, num_r, num_a, num_m = (len(iou_thrs), len(rec_thrs),
                                  len(area_rng), len(max_dets))
    num_imgs = int(max(det_imgs.max(initial=-1),
                       gt_imgs.max(initial=-1))) + 1

    # keep the top max_dets[-1] detections per (image, class)
    det_keys = det_imgs * num_classes + det_labels
    order = score_order(det_scores, det_labels, det_imgs)
    in_group = group_rank(det_keys, order)
    keep = in_group[order] < max_dets[-1]
    order = order[keep]
    in_group = in_group[order]
    det_xywh = det_boxes[order]
    det_lab = det_labels[order]
    det_score = det_scores[order]
    det_area = det_xywh[:, 2] * det_xywh[:, 3]

    # (A, G): ignored GT per area range (crowd and ignore flags always)
    gt_base_ign = gt_iscrowd | gt_ignore
    gt_ignored = gt_base_ign[None] | (gt_areas[None] < area_rng[:, :1]) | (
        gt_areas[None] > area_rng[:, 1:])
    match = coco_match(det_keys[order], det_xywh, gt_boxes,
                       gt_imgs * num_classes + gt_labels, gt_iscrowd,
                       gt_ignored, iou_thrs)  # (T, A, N)
    matched = match >= 0
    a_idx = np.arange(num_a)[None, :, None]
    matched_ign = np.zeros_like(matched)
    if num_g:
        matched_ign = matched & gt_ignored[a_idx, np.maximum(match, 0)]
    det_out = (det_area[None] < area_rng[:, :1]) | (
        det_area[None] > area_rng[:, 1:])  # (A, N)
    det_ign = matched_ign | (~matched & det_out[None])
    tps = matched & ~det_ign
    fps = ~matched & ~det_ign
    num_gts = np.stack([
        np.bincount(gt_labels[~gt_ignored[a]], minlength=num_classes)
        for a in range(num_a)
    ], axis=1)  # (K, A)

    precision = -np.ones((num_t, num_r, num_classes, num_a, num_m))
    recall = -np.ones((num_t, num_classes, num_a, num_m))
    scores = -np.ones((num_t, num_r, num_classes, num_a, num_m))
    for m, md in enumerate(max_dets):
        sel = np.flatnonzero(in_group < md)
        bounds = np.searchsorted(det_lab[sel], np.arange(num_classes + 1))
        for a in range(num_a):
            tp_cum = np.cumsum(tps[:, a, sel], axis=1, dtype=np.float64)
            fp_cum = np.cumsum(fps[:, a, sel], axis=1, dtype=np.float64)
            for k in range(num_classes):
                npig = num_gts[k, a]
                if npig == 0:
                    continue
                s, e = bounds[k], bounds[k + 1]
                if e == s:
                    recall[:, k, a, m] = 0
                    precision[:, :, k, a, m] = 0
                    scores[:, :, k, a, m] = 0
                    continue
                # counts are integers: subtracting the prefix is exact
                tp = tp_cum[:, s:e] - (tp_cum[:, s - 1:s] if s else 0)
                fp = fp_cum[:, s:e] - (fp_cum[:, s - 1:s] if s else 0)
                rc = tp / npig
                pr = tp / (fp + tp + np.spacing(1))
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                recall[:, k, a, m] = rc[:, -1]
                sc = det_score[sel[s:e]]
                for t in range(num_t):
                    inds = np.searchsorted(rc[t], rec_thrs, side='left')
                    ok = inds < (e - s)
                    q = np.zeros(num_r)
                    ss = np.zeros(num_r)
                    q[ok] = pr[t, inds[ok]]
                    ss[ok] = sc[inds[ok]]
                    precision[t, :, k, a, m] = q
                    scores[t, :, k, a, m] = ss
    stats = summarize(precision, recall, iou_thrs, max_dets)
    return dict(precision=precision, recall=recall, scores=scores,
                stats=stats, num_gts=num_gts)


def _mean_valid(s: np.ndarray) -> float:
    v = s[s > -1]
    return -1.0 if v.size == 0 else float(np.mean(v))


def summarize(precision: np.ndarray,
              recall: np.ndarray,
              iou_thrs: np.ndarray = COCO_IOU_THRS,
              max_dets: Sequence[int] = COCO_MAX_DETS) -> np.ndarray:
    """The 12 stats of ``COCOeval.summarize`` (default area ranges).

    Args:
        precision (np.ndarray): ``(T, R, K, A, M)``.
        recall (np.ndarray): ``(T, K, A, M)``.
        iou_thrs (np.ndarray): The ``T`` thresholds.
        max_dets (Sequence[int]): The ``M`` limits.

    Returns:
        np.ndarray: ``(12,)`` in :data:`COCO_STAT_NAMES` order, -1 where
        nothing was valid.
    """
    iou_thrs = np.asarray(iou_thrs)
    md = list(max_dets)
    last = len(md) - 1

    def ap(t=None, a=0, m=last):
        s = precision if t is None else precision[np.where(
            iou_thrs == t)[0]]
        return _mean_valid(s[:, :, :, a, m])

    def ar(a=0, m=last):
        return _mean_valid(recall[:, :, a, m])

    return np.array([
        ap(), ap(t=.5), ap(t=.75), ap(a=1), ap(a=2), ap(a=3),
        ar(m=0), ar(m=min(1, last)), ar(), ar(a=1), ar(a=2), ar(a=3)
    ])
