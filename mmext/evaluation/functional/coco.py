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

The steps, one module each: :mod:`.coco_matching` (greedy matching, all
thresholds and area ranges at once), :mod:`.coco_accumulation` (precision,
recall and scores at the recall thresholds) and :mod:`.coco_summary` (the
12 stats).

Scores tied across images are ordered by image index, then input order, as
pycocotools orders them when image indices follow the sorted image ids.

Annotation id 0: pycocotools stores the matched GT's id per detection and
reads 0 as "unmatched", so a detection matched to a GT with ``"id": 0`` is a
false positive (or ignored where that GT is) and the GT is still taken and
counted: a perfect prediction scores AP 0.9637 instead of 1.0 when one GT
has id 0. :func:`coco_eval` reproduces this by default when given
``gt_ids`` and warns, naming the annotation; ``match_ann_id_zero=True``
matches such a GT like any other.

Several processes (``processes=2``, as ``tools/analysis/eval_dets.py``
asks): classes are independent in COCO evaluation (matching and
accumulation are per class; only the summary averages over them), so
after the inputs are checked the classes are split into contiguous ranges
with about as many detections each; forked children evaluate all ranges
but the first while this process does the first, and their precision,
recall and scores arrays are joined on the class axis before the summary,
bit for bit the numbers of one process. It is opt-in, because forking a
process holding threads or devices (a training run) is not safe; and it
falls back to one process when fork is missing, another Python thread runs,
no CPU is idle (:func:`.forked_arrays.spare_cpus`) or there are fewer than
``FORK_MIN_DETECTIONS`` detections. A child that cannot start or fails has
its classes evaluated here (with a warning for a failure), so a result is
never partial; every child is reaped, one still running on an error is
killed. A child's pages are shared with this process until written, and
each process holds the working arrays of its classes only, so the peak
memory of either stays below that of one process doing all classes.
"""
import contextlib
import functools
import numbers
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .checks import check_boxes_labels, check_flags, check_iou_thrs
from .coco_accumulation import RankedDetections, coco_accumulate
from .coco_matching import coco_match
from .coco_summary import COCO_AREA_LABELS, check_max_dets, summarize
from .forked_arrays import ForkedArrays, spare_cpus
from .grouping import group_rank, score_order
from .iou import xyxy_to_xywh

#: pycocotools' defaults for ``iouType='bbox'``
COCO_IOU_THRS = np.linspace(
    .5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
#: COCO recall thresholds, exactly as pycocotools builds them
COCO_RECALL_THRS = np.linspace(
    .0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
COCO_MAX_DETS = (1, 10, 100)
COCO_AREA_RANGES = ((0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2),
                    (96**2, 1e5**2))
#: fewer detections are evaluated in one process whatever ``processes``
#: says: a fork and the copy of the results cost a few milliseconds
FORK_MIN_DETECTIONS = 50_000


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
              rec_thrs: Sequence[float] = COCO_RECALL_THRS,
              max_dets: Sequence[int] = COCO_MAX_DETS,
              area_ranges: Sequence[Sequence[float]] = COCO_AREA_RANGES,
              num_images: Optional[int] = None,
              img_names: Optional[Sequence] = None,
              gt_ids=None,
              match_ann_id_zero: bool = False,
              processes: int = 1) -> dict:
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
        processes (int): Evaluate in up to this many processes, a class
            range each (forked children beside this one, see the module
            docstring); fewer when CPUs are busy or the input is small.
            Defaults to 1.

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
    if isinstance(processes, bool) or not isinstance(
            processes, numbers.Integral) or processes < 1:
        raise ValueError(f'processes must be an integer >= 1, got '
                         f'{processes!r}')
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
        gt_boxes = xyxy_to_xywh(gt_boxes)
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
    max_dets = check_max_dets(max_dets)
    num_a = len(area_rng)
    gt_ignored = _ignored_by_area(gt_iscrowd | gt_ignore, gt_areas,
                                  area_rng)
    num_gts = np.zeros((num_classes, num_a), dtype=np.int64)
    for a in range(num_a):
        num_gts[:, a] = np.bincount(gt_labels[~gt_ignored[a]],
                                    minlength=num_classes)
    evaluate = functools.partial(
        _evaluate_classes, det_boxes, det_scores, det_labels, det_imgs,
        box_format == 'xyxy', gt_boxes, gt_labels, gt_imgs, gt_iscrowd,
        gt_ignored, zero_id, iou_thrs, rec_thrs, max_dets, area_rng)
    precision, recall, scores = _evaluate_by_class(
        evaluate, _class_parts(det_labels, num_classes, processes))
    stats = summarize(precision, recall, iou_thrs, max_dets,
                      COCO_AREA_LABELS[:num_a])
    return dict(precision=precision, recall=recall, scores=scores,
                stats=stats, num_gts=num_gts)


def _class_parts(det_labels: np.ndarray, num_classes: int,
                 processes: int) -> List[Tuple[int, int]]:
    """Class ranges ``[lo, hi)`` with about as many detections each, one
    per process: as many as asked for and CPUs are idle, one for small
    inputs (see the module docstring)."""
    if processes > 1 and len(det_labels) >= FORK_MIN_DETECTIONS:
        processes = min(processes, 1 + spare_cpus(), num_classes)
    else:
        processes = 1
    if processes == 1:
        return [(0, num_classes)]
    total = np.cumsum(np.bincount(det_labels, minlength=num_classes))
    # equal shares: a child's range costs it about as much as this
    # process's costs it (as measured at 500k detections; checking the
    # input and summarizing happen before the forks and after the join)
    target = len(det_labels) * np.arange(1, processes) / processes
    # cut before or after the class that crosses the target, the nearer
    crossing = np.minimum(np.searchsorted(total, target), num_classes - 1)
    before = np.where(crossing > 0, total[crossing - 1], 0)
    cuts = crossing + (total[crossing] - target < target - before)
    # non-empty, increasing ranges
    cuts = np.maximum(cuts, np.arange(1, processes))
    cuts = np.minimum(cuts, num_classes - processes + np.arange(1, processes))
    bounds = [0, *np.maximum.accumulate(cuts).tolist(), num_classes]
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def _evaluate_by_class(evaluate: Callable[[int, int], Dict[str, np.ndarray]],
                       parts: List[Tuple[int, int]]
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``evaluate`` on each class range, the first here and each other in
    a forked child meanwhile; results joined on the class axis.

    A range whose child cannot start or fails is evaluated here (with a
    warning for a failure): the result is always whole.
    """
    with contextlib.ExitStack() as stack:
        children = []
        for lo, hi in parts[1:]:
            try:
                children.append(stack.enter_context(
                    ForkedArrays(functools.partial(evaluate, lo, hi))))
            except OSError:  # no process to spare: done here below
                children.append(None)
        results = [evaluate(*parts[0])]
        for (lo, hi), child in zip(parts[1:], children):
            res = child.result() if child is not None else None
            if res is None:
                if child is not None:
                    warnings.warn(f'the process evaluating classes {lo} to '
                                  f'{hi - 1} failed: evaluating them here')
                res = evaluate(lo, hi)
            results.append(res)
    if len(results) == 1:
        res = results[0]
    else:  # class axis: 2 of precision and scores, 1 of recall
        res = {k: np.concatenate([r[k] for r in results],
                                 axis=1 if k == 'recall' else 2)
               for k in ('precision', 'recall', 'scores')}
    return res['precision'], res['recall'], res['scores']


def _evaluate_classes(det_boxes: np.ndarray, det_scores: np.ndarray,
                      det_labels: np.ndarray, det_imgs: np.ndarray,
                      xyxy: bool, gt_boxes: np.ndarray, gt_labels: np.ndarray,
                      gt_imgs: np.ndarray, gt_iscrowd: np.ndarray,
                      gt_ignored: np.ndarray, zero_id: np.ndarray,
                      iou_thrs: np.ndarray, rec_thrs: np.ndarray,
                      max_dets: List[int], area_rng: np.ndarray, lo: int,
                      hi: int) -> Dict[str, np.ndarray]:
    """Matching and accumulation of the classes ``[lo, hi)`` (checked
    inputs; GT boxes ``xywh``): ``precision``, ``recall`` and ``scores``
    with ``hi - lo`` classes. Classes are independent in COCO evaluation,
    so a class range gives exactly the numbers of a whole run."""
    if lo > 0 or hi <= det_labels.max(initial=-1) or \
            hi <= gt_labels.max(initial=-1):
        det = (det_labels >= lo) & (det_labels < hi)
        det_boxes, det_scores, det_imgs = (det_boxes[det], det_scores[det],
                                           det_imgs[det])
        det_labels = det_labels[det] - lo
        gt = (gt_labels >= lo) & (gt_labels < hi)
        gt_boxes, gt_imgs, gt_iscrowd, zero_id = (
            gt_boxes[gt], gt_imgs[gt], gt_iscrowd[gt], zero_id[gt])
        gt_labels, gt_ignored = gt_labels[gt] - lo, gt_ignored[:, gt]
    num_classes = hi - lo
    num_t, num_r, num_a, num_m = (len(iou_thrs), len(rec_thrs),
                                  len(area_rng), len(max_dets))
    if not num_a:
        precision = np.full((num_t, num_r, num_classes, 0, num_m), -1.0)
        return dict(precision=precision, scores=precision.copy(),
                    recall=np.full((num_t, num_classes, 0, num_m), -1.0))
    dets, det_keys, det_xywh = _rank_detections(
        det_boxes, det_scores, det_labels, det_imgs, num_classes, xyxy,
        max_dets[-1], area_rng)
    # a class range's copies are ranked now: freed before the matching
    # peaks (the caller holds the whole arrays)
    del det_boxes, det_scores, det_labels, det_imgs
    # crowd regions only are matched as crowds: other ignored GTs (ignore
    # flag, area range) are taken once, as pycocotools does for GTs outside
    # the area range
    matches = coco_match(det_keys, det_xywh, gt_boxes,
                         gt_imgs * num_classes + gt_labels, gt_iscrowd,
                         gt_ignored, iou_thrs)
    del det_xywh
    num_gts = np.zeros((num_classes, num_a), dtype=np.int64)
    for a in range(num_a):
        num_gts[:, a] = np.bincount(gt_labels[~gt_ignored[a]],
                                    minlength=num_classes)
    precision, recall, scores = coco_accumulate(
        matches, dets, gt_ignored, zero_id, num_gts, rec_thrs, max_dets)
    return dict(precision=precision, recall=recall, scores=scores)


def _rank_detections(boxes: np.ndarray, scores: np.ndarray,
                     labels: np.ndarray, imgs: np.ndarray, num_classes: int,
                     xyxy: bool, max_det: int, area_rng: np.ndarray):
    """The top ``max_det`` detections of each (image, class), in rank order.

    Returns:
        tuple: :class:`RankedDetections`, their (image, class) keys and
        ``x, y, w, h`` boxes.
    """
    keys = imgs * num_classes + labels
    order = score_order(scores, labels, imgs)
    rank = group_rank(keys, order)
    order = order[rank[order] < max_det]
    xywh = np.take(boxes, order, axis=0)
    if xyxy:
        xywh[:, 2:] -= xywh[:, :2]
    area = xywh[:, 2] * xywh[:, 3]
    outside = (area[None] < area_rng[:, :1]) | (area[None] > area_rng[:, 1:])
    ranked = RankedDetections(labels=labels[order], scores=scores[order],
                              rank_in_image=rank[order],
                              outside_area=outside)
    return ranked, keys[order], xywh


def _ignored_by_area(always_ignored: np.ndarray, gt_areas: np.ndarray,
                     area_rng: np.ndarray) -> np.ndarray:
    """``(A, G)`` bool: ignored flag, or area outside range a (inclusive)."""
    return always_ignored[None] | (gt_areas[None] < area_rng[:, :1]) | (
        gt_areas[None] > area_rng[:, 1:])
