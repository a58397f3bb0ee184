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

Annotation id 0: pycocotools stores the matched GT's id per detection and
reads 0 as "unmatched", so a detection matched to a GT with ``"id": 0`` is a
false positive (or ignored where that GT is) and the GT is still taken and
counted: a perfect prediction scores AP 0.9637 instead of 1.0 when one GT
has id 0. :func:`coco_eval` reproduces this by default when given
``gt_ids`` and warns, naming the annotation; ``match_ann_id_zero=True``
matches such a GT like any other.
"""
import numbers
import warnings
from typing import List, Optional, Sequence

import numpy as np

from .checks import check_boxes_labels, check_flags, check_iou_thrs
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


def coco_match(det_keys: np.ndarray, det_xywh: np.ndarray,
               gt_xywh: np.ndarray, gt_keys: np.ndarray,
               gt_iscrowd: np.ndarray, gt_ignored: np.ndarray,
               iou_thrs: np.ndarray) -> List[List[np.ndarray]]:
    """Greedy pycocotools matching for all thresholds and area ranges.

    Args:
        det_keys (np.ndarray): ``(N,)`` (image, class) key of each
            detection, detections in rank order (best first).
        det_xywh (np.ndarray): ``(N, 4)`` boxes in rank order.
        gt_xywh (np.ndarray): ``(G, 4)`` GT boxes.
        gt_keys (np.ndarray): ``(G,)`` (image, class) key of each GT.
        gt_iscrowd (np.ndarray): ``(G,)`` bool.
        gt_ignored (np.ndarray): ``(A, G)`` bool, GT ignored in area range a.
        iou_thrs (np.ndarray): ``(T,)`` thresholds.

    Returns:
        list: ``matches[t][a]`` is a ``(2, P)`` int64 array of matched
        (detection, GT) pairs, detections ascending; unmatched detections
        are absent.
    """
    num_a, num_g = gt_ignored.shape
    n = len(det_keys)
    num_t = len(iou_thrs)
    d_idx, g_idx = same_group_pairs(det_keys, gt_keys)
    iou = paired_crowd_iou_xywh(det_xywh[d_idx], gt_xywh[g_idx],
                                gt_iscrowd[g_idx])
    thr_eff = np.minimum(iou_thrs, 1 - 1e-10)
    cand = iou >= thr_eff.min()
    d_idx, g_idx, iou = d_idx[cand], g_idx[cand], iou[cand]
    # per area range, order each detection's candidates by preference, the
    # best last: non-ignored first, then highest IoU, then the later GT
    srt = np.lexsort((g_idx, iou, d_idx))
    d_idx, g_idx, iou = d_idx[srt], g_idx[srt], iou[srt]
    # An (image, class) group whose GTs are all ignored or all not, under
    # area range a and under area range 0, is matched the same under both:
    # the preference then only looks at IoU. Only the other groups are
    # matched again for a > 0; the rest copy area range 0.
    _, gt_group = np.unique(gt_keys, return_inverse=True)
    n_groups = int(gt_group.max(initial=-1)) + 1
    n_all = np.bincount(gt_group, minlength=n_groups)
    n_reg = [
        np.bincount(gt_group[~gt_ignored[a]], minlength=n_groups)
        for a in range(num_a)
    ]
    mixed = [(r > 0) & (r < n_all) for r in n_reg]
    redo = [np.ones(n_groups, bool)] + [mixed[a] | mixed[0]
                                        for a in range(1, num_a)]
    by_area = []
    for a in range(num_a):
        sub = redo[a][gt_group[g_idx]]
        d, g, v = d_idx[sub], g_idx[sub], iou[sub]
        # already sorted by detection: a stable pass on (det, regular) is
        # near linear
        srt = np.argsort(d * 2 + ~gt_ignored[a, g], kind='stable')
        by_area.append((d[srt], g[srt], v[srt]))
    # all (threshold, area range) combinations side by side, keyed apart
    dkeys, gts = [], []
    for t in range(num_t):
        for a in range(num_a):
            d, g, v = by_area[a]
            keep = v >= thr_eff[t]
            combo = t * num_a + a
            dkeys.append(d[keep] + combo * n)
            gts.append(g[keep])
    dkey = np.concatenate(dkeys)
    gt = np.concatenate(gts)
    del dkeys, gts, by_area
    # GT state tables only over GTs that are candidates somewhere
    used_gt, gt_c = np.unique(gt, return_inverse=True)
    num_gc = len(used_gt)
    gkey = dkey // n * num_gc + gt_c
    del gt_c
    crowd = gt_iscrowd[gt]
    big = np.iinfo(np.int64).max
    top = np.full(num_t * num_a * num_gc, big)
    taken = np.zeros(num_t * num_a * num_gc, dtype=bool)
    acc_d, acc_g = [], []
    while len(dkey):
        # each detection proposes its best remaining GT (its last entry);
        # entries of one detection are contiguous
        last = np.ones(len(dkey), dtype=bool)
        last[:-1] = dkey[1:] != dkey[:-1]
        # the highest ranked unresolved detection still wanting each GT
        np.minimum.at(top, gkey, dkey)
        accept = last & (crowd | (top[gkey] == dkey))
        top[gkey] = big
        acc_d.append(dkey[accept])
        acc_g.append(gt[accept])
        taken[gkey[accept & ~crowd]] = True
        # drop settled detections (all their entries) and taken GTs
        seg = np.cumsum(np.concatenate([[True], last[:-1]])) - 1
        settled = np.zeros(seg[-1] + 1, dtype=bool)
        settled[seg[accept]] = True
        alive = ~settled[seg] & ~taken[gkey]
        dkey, gkey, gt, crowd = (dkey[alive], gkey[alive], gt[alive],
                                 crowd[alive])
    acc_d = np.concatenate(acc_d) if acc_d else np.zeros(0, np.int64)
    acc_g = np.concatenate(acc_g) if acc_g else np.zeros(0, np.int64)
    srt = np.argsort(acc_d, kind='stable')
    acc_d, acc_g = acc_d[srt], acc_g[srt]
    bounds = np.searchsorted(acc_d, np.arange(num_t * num_a + 1) * n)
    out = []
    for t in range(num_t):
        per_area = []
        for a in range(num_a):
            c = t * num_a + a
            d = acc_d[bounds[c]:bounds[c + 1]] - c * n
            g = acc_g[bounds[c]:bounds[c + 1]]
            if a > 0:
                # groups not matched again: copy area range 0
                d0, g0 = per_area[0]
                same = ~redo[a][gt_group[g0]]
                d = np.concatenate([d0[same], d])
                g = np.concatenate([g0[same], g])
                srt = np.argsort(d, kind='stable')
                d, g = d[srt], g[srt]
            per_area.append((d, g))
        out.append([np.stack(x) for x in per_area])
    return out


def _zero_id_flags(gt_ids, num_g: int, gt_imgs: np.ndarray,
                   img_names: Optional[Sequence],
                   match_ann_id_zero: bool) -> np.ndarray:
    """``(G,)`` bool: the GT that pycocotools never counts as matched (id 0).

    Warns, naming that annotation, unless ``match_ann_id_zero``.
    Refuses duplicate ids: pycocotools looks annotations up by id and would
    evaluate one of them twice.
    """
    if gt_ids is None:
        return np.zeros(num_g, dtype=bool)
    gt_ids = np.asarray(gt_ids).reshape(-1)
    if len(gt_ids) != num_g:
        raise ValueError(f'ground truth ids has {len(gt_ids)} entries but '
                         f'there are {num_g} boxes')

    def where(j):
        img = int(gt_imgs[j])
        return f'image {img_names[img] if img_names is not None else img!r}'

    given = gt_ids.tolist()  # for messages, as the user wrote them
    if not np.issubdtype(gt_ids.dtype, np.number):
        for j, v in enumerate(given):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise ValueError(
                    f'ground truth #{j} ({where(j)}): annotation id {v!r} '
                    'is not a number (pycocotools keeps ids in a float '
                    'array)')
        gt_ids = gt_ids.astype(np.float64)
    srt = np.argsort(gt_ids, kind='stable')
    dup = np.flatnonzero(gt_ids[srt][1:] == gt_ids[srt][:-1])
    if dup.size:
        i, j = int(srt[dup[0]]), int(srt[dup[0] + 1])
        raise ValueError(f'annotation id {given[i]!r} is used by '
                         f'ground truth #{i} ({where(i)}) and #{j} '
                         f'({where(j)}): annotation ids must be unique')
    zero = (gt_ids == 0) & (not match_ann_id_zero)
    if zero.any():
        j = int(np.flatnonzero(zero)[0])
        warnings.warn(
            f'ground truth #{j} ({where(j)}) has annotation id 0: '
            'as in pycocotools, a detection matched to it counts as a false '
            'positive (a perfect prediction does not score 1.0); pass '
            'match_ann_id_zero=True to match it like any other annotation',
            stacklevel=3)
    return zero


def _check_max_dets(max_dets: Sequence[int]) -> List[int]:
    """``max_dets`` as a list of at least 3 positive ints, as pycocotools'
    ``summarize`` needs (it reads ``maxDets[2]``)."""
    max_dets = list(max_dets)
    if len(max_dets) < 3 or any(
            isinstance(m, bool) or not isinstance(m, (int, np.integer))
            or m < 1 for m in max_dets):
        raise ValueError('max_dets must be at least 3 positive ints (as '
                         "pycocotools' summarize reads the third), got "
                         f'{max_dets!r}')
    return max_dets


def _first_reaching(num_gts: np.ndarray, rec_thrs: np.ndarray) -> np.ndarray:
    """Smallest ``j >= 1`` with ``j / num_gts >= r`` in float64, exactly
    as pycocotools' ``searchsorted(tp / npig, r)`` finds it.

    Returns:
        np.ndarray: ``(len(num_gts), len(rec_thrs))`` int64.
    """
    npig = np.maximum(num_gts, 1).astype(np.float64)[:, None]
    base = np.maximum(np.ceil(rec_thrs[None] * npig) - 1, 1)
    cands = base[..., None] + np.arange(3)
    ok = cands / npig[..., None] >= rec_thrs[None, :, None]
    return cands[np.arange(len(npig))[:, None],
                 np.arange(len(rec_thrs))[None],
                 np.argmax(ok, axis=-1)].astype(np.int64)


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
              img_names: Optional[Sequence] = None,
              gt_ids=None,
              match_ann_id_zero: bool = False) -> dict:
    """COCO precision/recall arrays and the 12 summary stats.

    ``xyxy`` boxes are converted with ``w = x2 - x1`` like mmdet's CocoMetric
    does before pycocotools, so both see the same numbers.

    Defined results: images without GT or detections are fine; a class with
    no non-ignored GT in an area range has precision/recall -1 there (as in
    pycocotools) and a stat with nothing valid is -1. No area range gives
    empty arrays and -1 stats, as pycocotools does.

    Stricter than pycocotools (a clear ``ValueError`` where it fails later
    with an ``IndexError`` or returns meaningless numbers): empty
    ``iou_thrs`` (its ``summarize`` fails), a threshold outside ``(0, 1]``
    or NaN, fewer than 3 ``max_dets`` (its ``summarize`` reads the third),
    and malformed boxes, labels or scores.

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
            Area range ``i`` carries pycocotools' default label ``i``
            (``'all'``, ``'small'``, ``'medium'``, ``'large'``), which the
            stats look up; stats whose label has no range are -1.
        num_images (int, optional): To range-check image indices.
        img_names (Sequence, optional): Image names for messages.
        gt_ids: ``(G,)`` annotation ids (COCO json ``id``). Only id 0
            matters, see ``match_ann_id_zero``. Defaults to None (ids
            unknown, matched normally, as mmdet's ``CocoMetric`` without
            ``ann_file``, which numbers GTs from 1).
        match_ann_id_zero (bool): Match a GT whose id is 0 like any other.
            Defaults to False: as pycocotools, its detection is never a
            true positive (a false positive, or ignored where the GT is)
            while the GT stays taken and counted; a warning names it.

    Returns:
        dict: ``precision`` ``(T, R, K, A, M)``, ``recall`` ``(T, K, A, M)``,
        ``scores`` ``(T, R, K, A, M)`` as ``COCOeval.eval``; ``stats``
        ``(12,)`` as ``COCOeval.stats``; ``num_gts`` ``(K, A)``
        non-ignored GT counts.

    Raises:
        ValueError: On bad boxes, labels, scores, flags or parameters (see
            above); the message names the entry or parameter.
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
        # detections are converted below, after ordering (one copy less)
        gt_boxes = np.concatenate(
            [gt_boxes[:, :2], gt_boxes[:, 2:] - gt_boxes[:, :2]], 1)
    if gt_areas is None:
        gt_areas = gt_boxes[:, 2] * gt_boxes[:, 3]
    gt_areas = np.asarray(gt_areas, dtype=np.float64).reshape(-1)
    if len(gt_areas) != num_g:
        raise ValueError(f'ground truth areas has {len(gt_areas)} entries '
                         f'but there are {num_g} boxes')
    zero_id = _zero_id_flags(gt_ids, num_g, gt_imgs, img_names,
                             match_ann_id_zero)
    iou_thrs = check_iou_thrs(iou_thrs)
    rec_thrs = np.asarray(rec_thrs, dtype=np.float64).reshape(-1)
    area_rng = np.asarray(area_ranges, dtype=np.float64).reshape(-1, 2)
    max_dets = _check_max_dets(max_dets)
    num_t, num_r, num_a, num_m = (len(iou_thrs), len(rec_thrs),
                                  len(area_rng), len(max_dets))

    # keep the top max_dets[-1] detections per (image, class)
    det_keys = det_imgs * num_classes + det_labels
    order = score_order(det_scores, det_labels, det_imgs)
    in_group = group_rank(det_keys, order)
    keep = in_group[order] < max_dets[-1]
    order = order[keep]
    in_group = in_group[order]
    det_xywh = np.take(det_boxes, order, axis=0)
    del det_boxes
    if box_format == 'xyxy':
        det_xywh[:, 2:] -= det_xywh[:, :2]
    det_lab = det_labels[order]
    det_score = det_scores[order]
    det_area = det_xywh[:, 2] * det_xywh[:, 3]

    # (A, G): ignored GT per area range (crowd and ignore flags always)
    gt_base_ign = gt_iscrowd | gt_ignore
    gt_ignored = gt_base_ign[None] | (gt_areas[None] < area_rng[:, :1]) | (
        gt_areas[None] > area_rng[:, 1:])
    matches = coco_match(det_keys[order], det_xywh, gt_boxes,
                         gt_imgs * num_classes + gt_labels, gt_iscrowd,
                         gt_ignored, iou_thrs) if num_a else []
    det_out = (det_area[None] < area_rng[:, :1]) | (
        det_area[None] > area_rng[:, 1:])  # (A, N)
    num_gts = np.zeros((num_classes, num_a), dtype=np.int64)
    for a in range(num_a):
        num_gts[:, a] = np.bincount(gt_labels[~gt_ignored[a]],
                                    minlength=num_classes)

    precision = -np.ones((num_t, num_r, num_classes, num_a, num_m))
    recall = -np.ones((num_t, num_classes, num_a, num_m))
    scores = -np.ones((num_t, num_r, num_classes, num_a, num_m))
    class_start = np.searchsorted(det_lab, np.arange(num_classes))
    # Only TPs change recall, and the monotone precision read at a recall
    # threshold is the best precision at a TP at or after it, so everything
    # is computed at the TPs: FP counts come from prefix counts of the
    # counted (in range, unmatched) detections.
    for a in range(num_a):
        valid = num_gts[:, a] > 0
        j_r = _first_reaching(num_gts[:, a], rec_thrs)  # (K, R)
        for m, md in enumerate(max_dets):
            within = in_group < md
            # counted[i]: detections before position i that can be TP or FP
            counted = np.concatenate([[0], np.cumsum(within & ~det_out[a])])
            base = counted[class_start]
            n_class = np.bincount(det_lab[within], minlength=num_classes)
            first = np.searchsorted(np.flatnonzero(within), class_start)
            first_score = np.where(
                n_class > 0, det_score[np.flatnonzero(within)[np.minimum(
                    first, max(within.sum() - 1, 0))]]
                if within.any() else 0, 0)
            for t in range(num_t):
                md_, mg_ = matches[t][a]
                # pycocotools: a match to a regular GT with id 0 reads as
                # "unmatched" (FP, or ignored outside the area range); the
                # GT stays taken
                keep = within[md_] & ~(zero_id[mg_] & ~gt_ignored[a, mg_])
                md_, mg_ = md_[keep], mg_[keep]
                cls = det_lab[md_]
                seg = np.searchsorted(cls, np.arange(num_classes))[cls]
                # matched detections that are counted (in range), and TPs,
                # cumulated within the class
                inr = np.cumsum(~det_out[a, md_])
                inr = inr - np.where(seg > 0, inr[seg - 1], 0)
                is_tp = ~gt_ignored[a, mg_]
                tpc = np.cumsum(is_tp)
                tpc = tpc - np.where(seg > 0, tpc[seg - 1], 0)
                pos, cls, tpc = md_[is_tp], cls[is_tp], tpc[is_tp]
                fpc = (counted[pos + 1] - base[cls] - inr[is_tp]).astype(
                    np.float64)
                tpf = tpc.astype(np.float64)
                pr = tpf / (fpc + tpf + np.spacing(1))
                # suffix maximum within each class: classes are lifted
                # apart by 2 per class so one running max does all (the
                # rounding this adds is below 1e-13)
                lift = 2.0 * (num_classes - cls)
                pr = np.maximum.accumulate((pr + lift)[::-1])[::-1] - lift
                n_tp = np.bincount(cls, minlength=num_classes)
                start = np.cumsum(n_tp) - n_tp
                hit = j_r <= n_tp[:, None]
                idx = np.where(hit, start[:, None] + j_r - 1, 0)
                q = np.where(hit, pr[idx] if len(pr) else 0.0, 0.0)
                ss = np.where(hit, det_score[pos[idx]] if len(pos) else 0.0,
                              0.0)
                # recall 0 sits at the first detection, TP or not
                ss[:, rec_thrs <= 0] = first_score[:, None]
                precision[t, :, valid, a, m] = q[valid]
                scores[t, :, valid, a, m] = ss[valid]
                recall[t, valid, a, m] = n_tp[valid] / num_gts[valid, a]
    stats = summarize(precision, recall, iou_thrs, max_dets,
                      COCO_AREA_LABELS[:num_a])
    return dict(precision=precision, recall=recall, scores=scores,
                stats=stats, num_gts=num_gts)


def _mean_valid(s: np.ndarray) -> float:
    v = s[s > -1]
    return -1.0 if v.size == 0 else float(np.mean(v))


def summarize(precision: np.ndarray,
              recall: np.ndarray,
              iou_thrs: np.ndarray = COCO_IOU_THRS,
              max_dets: Sequence[int] = COCO_MAX_DETS,
              area_labels: Sequence[str] = COCO_AREA_LABELS) -> np.ndarray:
    """The 12 stats of ``COCOeval.summarize``, with its lookups.

    As pycocotools: thresholds (0.5, 0.75), area labels and max-detection
    limits are looked up by value; AP (all thresholds) is read at 100
    detections, the other AP stats and AR100 / ARs / ARm / ARl at
    ``max_dets[2]``, AR1 / AR10 at ``max_dets[0]`` / ``max_dets[1]``.

    Args:
        precision (np.ndarray): ``(T, R, K, A, M)``.
        recall (np.ndarray): ``(T, K, A, M)``.
        iou_thrs (np.ndarray): The ``T`` thresholds.
        max_dets (Sequence[int]): The ``M`` limits, at least 3.
        area_labels (Sequence[str]): Label of each of the ``A`` area
            ranges. Defaults to ``('all', 'small', 'medium', 'large')``.

    Returns:
        np.ndarray: ``(12,)`` in :data:`COCO_STAT_NAMES` order, -1 where
        nothing was valid (or nothing matched a lookup).
    """
    iou_thrs = np.asarray(iou_thrs)
    md = _check_max_dets(max_dets)
    labels = list(area_labels)

    def stat(arr, ap, iou_thr=None, area='all', max_det=100):
        # pycocotools' index lists, paired by numpy fancy indexing
        aind = [i for i, lab in enumerate(labels) if lab == area]
        mind = [i for i, m in enumerate(md) if m == max_det]
        if iou_thr is not None:
            arr = arr[np.where(iou_thr == iou_thrs)[0]]
        arr = arr[:, :, :, aind, mind] if ap else arr[:, :, aind, mind]
        return _mean_valid(arr)

    p, r, m2 = precision, recall, md[2]
    return np.array([
        stat(p, 1), stat(p, 1, iou_thr=.5, max_det=m2),
        stat(p, 1, iou_thr=.75, max_det=m2),
        stat(p, 1, area='small', max_det=m2),
        stat(p, 1, area='medium', max_det=m2),
        stat(p, 1, area='large', max_det=m2),
        stat(r, 0, max_det=md[0]), stat(r, 0, max_det=md[1]),
        stat(r, 0, max_det=m2), stat(r, 0, area='small', max_det=m2),
        stat(r, 0, area='medium', max_det=m2),
        stat(r, 0, area='large', max_det=m2)
    ])
