"""The options of mmdet's ``CocoMetric`` and ``VOCMetric`` that
``DetectionAP`` takes, with mmdet's meaning and numbers (numpy only).

* ``metric='proposal'`` with ``proposal_nums``: ``CocoMetric``'s
  class-agnostic average recall (pycocotools ``useCats=0``) of the top
  ``proposal_nums`` boxes per image, keys ``coco/AR@<n>`` and
  ``coco/AR_s@<n3>``, ``coco/AR_m@<n3>``, ``coco/AR_l@<n3>`` (``n3`` the
  third number), :func:`proposal_metrics`;
* ``metric='recall'`` with ``proposal_nums`` and ``iou_thrs``:
  ``VOCMetric``'s ``eval_recalls``, keys ``pascal_voc/recall@<n>@<thr>`` and
  ``pascal_voc/AR@<n>`` (mean over the thresholds, with several),
  :func:`recall_metrics`;
* ``scale_ranges`` for the VOC metrics: ``eval_map``'s per-range mAP, keys
  ``voc07/mAP_scale_<min>-<max>`` (and ``voc07/AP50_scale_<min>-<max>``...
  with several thresholds), :func:`scale_range_metrics`;
* ``coco_iou_thrs``, ``max_dets``, ``area_ranges``: pycocotools' ``Params``
  for ``metric='coco'`` (``CocoMetric``'s ``iou_thrs``; its
  ``proposal_nums`` are its ``maxDets``), :func:`coco_stat_names` names the
  AR keys after the actual ``max_dets``;
* ``metric_items``: which COCO summary keys are returned,
  :func:`select_items`;
* ``format_only`` / ``outfile_prefix``: the COCO results json, see
  :mod:`mmext.evaluation.results_json`.

mmdet quirks not reproduced (each a bug; the numbers are otherwise equal):
``CocoMetric`` rounds to 3 decimals (mmext returns full precision; rounding
gives mmdet's value); with ``iou_thrs`` given as a list its ``mAP_50`` /
``mAP_75`` are -1 (pycocotools compares a float with a list; mmext looks
the thresholds up); ``metric='proposal'`` labels its results
``AR@100/300/1000`` whatever ``proposal_nums`` says (mmext names them after
the numbers: equal for the default); ``VOCMetric(metric='recall')`` only
uses the detections labelled 0 and, with NumPy >= 1.24, fails in
``eval_recalls`` as soon as images differ in their numbers of GTs or
proposals (mmext: all detections, no failure; equal on RPN outputs, which
are all labelled 0); ``VOCMetric(scale_ranges=...)`` fails (it rounds a
list), so ``scale_ranges`` equals ``eval_map``'s numbers.

On VOC-style data mmdet's ``CocoMetric`` turns every ``ignore_flag``
(difficult) into ``iscrowd``; ``DetectionAP(ignore_as='crowd')`` gives its
numbers there (``'auto'`` treats difficult boxes as ignore regions matched
once, as the VOC rules do).

Any other ``CocoMetric`` / ``VOCMetric`` argument is refused by
:func:`reject_unsupported` with the way to get the same result.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .functional import (COCO_AREA_RANGES, COCO_IOU_THRS, COCO_MAX_DETS,
                         coco_eval, voc_eval)
from .functional.checks import check_iou_thrs
from .functional.recall import check_proposal_nums, proposal_recall
from .functional.records import DetectionArrays
from .functional.voc import check_scale_ranges

#: ``CocoMetric``'s and ``VOCMetric``'s default ``proposal_nums``
PROPOSAL_NUMS = (100, 300, 1000)

#: metrics computed here, besides the VOC and COCO families
OPTION_METRICS = ('proposal', 'recall')
#: metrics that ``scale_ranges`` applies to
VOC_AP_METRICS = ('voc07', 'voc12')
#: metrics that use the VOC ``iou_thrs``
VOC_THRS_METRICS = VOC_AP_METRICS + ('recall', )

#: mmdet metric names that DetectionAP spells differently or not at all
METRIC_HINTS = {
    'bbox': "use metric='coco' (keys coco/AP, coco/AP50...); with "
    'max_dets=(100, 300, 1000) its numbers are exactly CocoMetric\'s, '
    'which passes proposal_nums as pycocotools maxDets; CocoMetric\'s '
    'iou_thrs is coco_iou_thrs here',
    'mAP': "use metric='voc07' (VOCMetric eval_mode='11points') or "
    "metric='voc12' (eval_mode='area')",
    'segm': "mask AP is not supported: use mmdet's CocoMetric(metric="
    "'segm') next to DetectionAP in val_evaluator",
    'proposal_fast': "use metric='recall' with legacy_coords=False (the "
    'same eval_recalls; proposal_fast also ignores scores and ranks the '
    'boxes in their given order)',
}

#: ``CocoMetric`` / ``VOCMetric`` arguments DetectionAP does not take
UNSUPPORTED_OPTIONS = {
    'eval_mode': "choose the VOC metric instead: metric='voc07' is "
    "eval_mode='11points', metric='voc12' is eval_mode='area'",
    'iou_thr': 'use iou_thrs',
    'use_mp_eval': 'remove it: the COCO evaluation is vectorized, there is '
    'no multi-process mode to choose',
    'sort_categories': 'remove it: DetectionAP takes the classes of the '
    "data set (dataset_meta['classes']) in their order",
    'file_client_args': 'remove it: outfile_prefix is a local path',
    'backend_args': 'remove it: outfile_prefix is a local path',
    'ann_file': 'DetectionAP evaluates the GT of the data samples; to '
    'evaluate a COCO json as CocoMetric(ann_file=...) does, run '
    'tools/analysis/eval_dets.py --gt-json ANN --res-json RESULTS (keeps '
    'annotation ids and areas); with format_only=True, ann_file may name '
    'the json whose categories give the category_id of each class',
}


def reject_unsupported(options: dict, format_only: bool = False) -> None:
    """Refuse ``CocoMetric`` / ``VOCMetric`` arguments DetectionAP does not
    take, naming each with the way to get the same thing.

    Args:
        options (dict): The keyword arguments DetectionAP did not recognise
            (``ann_file`` included when not used).
        format_only (bool): Whether ``format_only=True``.

    Raises:
        TypeError: Naming the first argument and what to do instead.
    """
    for name in options:
        hint = UNSUPPORTED_OPTIONS.get(
            name, 'it is not a DetectionAP option nor one of mmdet '
            "CocoMetric's / VOCMetric's that DetectionAP takes")
        if name == 'ann_file' and not format_only:
            hint = UNSUPPORTED_OPTIONS['ann_file']
        raise TypeError(f'DetectionAP does not take {name!r}: {hint}')


def metric_hint(name: str) -> str:
    """What to use instead of an mmdet metric name DetectionAP lacks
    (empty for names it knows nothing about)."""
    return METRIC_HINTS.get(name, '')


def coco_stat_names(max_dets: Sequence[int] = (1, 10, 100)) -> Tuple[str]:
    """Names of the 12 COCO summary stats, AR named after ``max_dets``:
    ``AP, AP50, AP75, APs, APm, APl, AR<m1>, AR<m2>, AR<m3>, ARs, ARm,
    ARl`` (``AR1, AR10, AR100`` for pycocotools' default)."""
    m1, m2, m3 = sorted(max_dets)[:3]  # pycocotools sorts maxDets
    return ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', f'AR{m1}', f'AR{m2}',
            f'AR{m3}', 'ARs', 'ARm', 'ARl')


def proposal_stat_names(proposal_nums: Sequence[int]) -> Tuple[str]:
    """Keys of ``metric='proposal'`` (without ``coco/``), in the order of
    ``COCOeval.stats[6:12]``: ``AR@<n1>, AR@<n2>, AR@<n3>, AR_s@<n3>,
    AR_m@<n3>, AR_l@<n3>``."""
    n1, n2, n3 = list(proposal_nums)[:3]
    return (f'AR@{n1}', f'AR@{n2}', f'AR@{n3}', f'AR_s@{n3}', f'AR_m@{n3}',
            f'AR_l@{n3}')


def select_items(metrics: Dict[str, float],
                 metric_items: Optional[Sequence[str]],
                 available: Sequence[str]) -> Dict[str, float]:
    """Keep only the COCO summary keys named by ``metric_items``.

    Args:
        metrics (dict): All metrics; COCO summary keys are ``coco/<item>``.
        metric_items (Sequence[str], optional): Item names (without
            ``coco/``); None keeps all.
        available (Sequence[str]): The COCO items computed.

    Returns:
        dict: ``metrics`` without the COCO summary keys not asked for
        (other keys, per-class ones included, are kept).

    Raises:
        KeyError: Naming an item that is not computed, with the available
            names.
    """
    if metric_items is None:
        return dict(metrics)
    items = [metric_items] if isinstance(metric_items, str) else list(
        metric_items)
    for item in items:
        if item not in available:
            raise KeyError(f'metric item {item!r} is not computed; the '
                           f'COCO items are {list(available)} (mmdet names '
                           "such as 'mAP_50' are 'AP50' here)")
    drop = {f'coco/{a}' for a in available if a not in items}
    return {k: v for k, v in metrics.items() if k not in drop}


def _coco_flags(arrays: DetectionArrays, ignore_as: str):
    crowd = np.asarray(arrays.gt_crowd, bool)
    ignore = np.asarray(arrays.gt_ignore).astype(bool)
    if ignore_as == 'crowd':
        return crowd | ignore, np.zeros_like(ignore)
    return crowd, ignore


def _xyxy(arrays: DetectionArrays) -> Tuple[np.ndarray, np.ndarray]:
    """Detection and GT boxes as ``x1, y1, x2, y2``."""
    det, gt = arrays.det_boxes, arrays.gt_boxes
    if arrays.box_format == 'xywh':
        det, gt = (np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)
                   for b in (np.asarray(det, np.float64).reshape(-1, 4),
                             np.asarray(gt, np.float64).reshape(-1, 4)))
    return det, gt


def proposal_metrics(arrays: DetectionArrays,
                     proposal_nums: Sequence[int] = PROPOSAL_NUMS,
                     iou_thrs: Sequence[float] = COCO_IOU_THRS,
                     ignore_as: str = 'crowd') -> Dict[str, float]:
    """``CocoMetric(metric='proposal')``: class-agnostic COCO AR.

    pycocotools with ``useCats=0`` and ``maxDets=proposal_nums``: per image
    all boxes form one class; its lists go category by category (then in
    input order), which decides score and IoU ties, so the boxes are
    ordered so here before the labels are dropped.

    Args:
        arrays (DetectionArrays): Detections and GT of all images.
        proposal_nums (Sequence[int]): At least 3 numbers of top boxes per
            image (pycocotools' summary reads the third).
        iou_thrs (Sequence[float]): COCO IoU thresholds.
        ignore_as (str): ``'crowd'`` (mmdet: ``ignore_flag`` becomes
            ``iscrowd``) or ``'difficult'``: what ``gt_ignore`` is.

    Returns:
        dict: ``{'coco/AR@<n>': AR, ...}``, see :func:`proposal_stat_names`.

    Raises:
        ValueError: With fewer than 3 ``proposal_nums``, or on bad input.
    """
    nums = check_proposal_nums(proposal_nums).tolist()
    if len(nums) < 3:
        raise ValueError('metric=\'proposal\' needs 3 proposal_nums (the AR '
                         'at the first, second and third, and by area at '
                         f'the third), got {proposal_nums!r}')
    crowd, ignore = _coco_flags(arrays, ignore_as)
    det = np.lexsort((np.arange(len(arrays.det_labels)), arrays.det_labels,
                      arrays.det_imgs))
    gt = np.lexsort((np.arange(len(arrays.gt_labels)), arrays.gt_labels,
                     arrays.gt_imgs))
    gt_areas = None if arrays.gt_areas is None else np.asarray(
        arrays.gt_areas)[gt]
    res = coco_eval(
        np.asarray(arrays.det_boxes)[det], np.asarray(arrays.det_scores)[det],
        np.zeros(len(det), np.int64), np.asarray(arrays.det_imgs)[det],
        np.asarray(arrays.gt_boxes)[gt], np.zeros(len(gt), np.int64),
        np.asarray(arrays.gt_imgs)[gt], num_classes=1,
        gt_iscrowd=crowd[gt], gt_ignore=ignore[gt], gt_areas=gt_areas,
        box_format=arrays.box_format, iou_thrs=iou_thrs, max_dets=nums,
        num_images=arrays.num_images, img_names=arrays.img_ids)
    return {
        f'coco/{name}': float(v)
        for name, v in zip(proposal_stat_names(nums), res['stats'][6:])
    }


def recall_metrics(arrays: DetectionArrays,
                   proposal_nums: Sequence[int] = PROPOSAL_NUMS,
                   iou_thrs: Sequence[float] = (0.5, ),
                   legacy_coords: bool = True) -> Dict[str, float]:
    """``VOCMetric(metric='recall')``: ``eval_recalls`` of all boxes.

    GTs that are ignored or crowd are left out (mmdet passes the regular
    GTs only); labels play no part.

    Returns:
        dict: ``pascal_voc/recall@<n>@<thr>`` per number and threshold
        (``thr`` written as Python writes the float), and with several
        thresholds ``pascal_voc/AR@<n>``, their mean.
    """
    nums = check_proposal_nums(proposal_nums)
    thrs = [float(t) for t in np.asarray(iou_thrs, np.float64).reshape(-1)]
    det_boxes, gt_boxes = _xyxy(arrays)
    regular = ~(np.asarray(arrays.gt_ignore).astype(bool)
                | np.asarray(arrays.gt_crowd, bool))
    recalls = proposal_recall(
        det_boxes, arrays.det_imgs, gt_boxes[regular],
        np.asarray(arrays.gt_imgs)[regular], nums, thrs,
        det_scores=arrays.det_scores, legacy_coords=legacy_coords,
        num_images=arrays.num_images, img_names=arrays.img_ids)
    out = {}
    for i, num in enumerate(nums.tolist()):
        for j, thr in enumerate(thrs):
            out[f'pascal_voc/recall@{num}@{thr}'] = float(recalls[i, j])
    if len(thrs) > 1:
        for i, num in enumerate(nums.tolist()):
            out[f'pascal_voc/AR@{num}'] = float(recalls[i].mean())
    return out


def scale_range_metrics(arrays: DetectionArrays,
                        voc_modes: Dict[str, str],
                        scale_ranges: Sequence[Sequence[float]],
                        iou_thrs: Sequence[float] = (0.5, ),
                        legacy_coords: bool = True) -> Dict[str, float]:
    """mAP per scale range of each VOC metric (mmdet ``eval_map``).

    Args:
        arrays (DetectionArrays): Detections and GT of all images.
        voc_modes (dict): ``{metric name: AP mode}``, e.g.
            ``{'voc07': '11points'}``.
        scale_ranges (Sequence[Sequence[float]]): ``(min, max)`` box sides.
        iou_thrs (Sequence[float]): VOC IoU thresholds.
        legacy_coords (bool): +1 pixel widths (areas too).

    Returns:
        dict: ``<metric>/mAP_scale_<min>-<max>`` (mean over thresholds) and,
        with several thresholds, ``<metric>/AP<thr>_scale_<min>-<max>``
        (``<min>``, ``<max>`` written with ``%g``).
    """
    ranges = check_scale_ranges(scale_ranges)
    det_boxes, gt_boxes = _xyxy(arrays)
    res = voc_eval(
        det_boxes, arrays.det_scores, arrays.det_labels, arrays.det_imgs,
        gt_boxes, arrays.gt_labels, arrays.gt_imgs, arrays.num_classes,
        gt_ignore=(np.asarray(arrays.gt_ignore).astype(bool)
                   | np.asarray(arrays.gt_crowd, bool)),
        iou_thrs=iou_thrs, legacy_coords=legacy_coords,
        modes=list(voc_modes.values()), num_images=arrays.num_images,
        img_names=arrays.img_ids, scale_ranges=ranges)['scales']
    out = {}
    for m, mode in voc_modes.items():
        mean_ap = res['mAP'][mode]  # (S, T)
        for s, (lo, hi) in enumerate(ranges):
            tag = f'scale_{lo:g}-{hi:g}'
            if len(iou_thrs) > 1:
                for t, thr in enumerate(iou_thrs):
                    out[f'{m}/AP{int(round(thr * 100)):02d}_{tag}'] = float(
                        mean_ap[s, t])
            out[f'{m}/mAP_{tag}'] = float(np.mean(mean_ap[s]))
    return out


@dataclass
class EvalOptions:
    """The mmdet-derived options of one evaluation (see the module
    docstring); None: not given.

    Args:
        proposal_nums (Sequence[int], optional): Boxes per image of
            ``'proposal'`` / ``'recall'``. None: ``(100, 300, 1000)``.
        scale_ranges (Sequence, optional): VOC ``(min, max)`` box sides.
        coco_iou_thrs (Sequence[float], optional): IoU thresholds of
            ``'coco'`` and ``'proposal'``. None: ``0.5:0.95``.
        max_dets (Sequence[int], optional): ``'coco'``'s pycocotools
            ``maxDets`` (at least 3). None: ``(1, 10, 100)``.
        area_ranges (Sequence, optional): ``'coco'``'s ``areaRng`` (labels
            ``all, small, medium, large`` by position). None: COCO's.
        metric_items (Sequence[str], optional): COCO summary items kept.
    """
    proposal_nums: Optional[Sequence[int]] = None
    scale_ranges: Optional[Sequence[Sequence[float]]] = None
    coco_iou_thrs: Optional[Sequence[float]] = None
    max_dets: Optional[Sequence[int]] = None
    area_ranges: Optional[Sequence[Sequence[float]]] = None
    metric_items: Optional[Sequence[str]] = None

    def check(self, metric: Sequence[str], iou_thrs_given: bool) -> None:
        """Refuse values that are malformed or that no metric of
        ``metric`` would use (never silently ignored).

        Raises:
            ValueError: Naming the option and what it needs.
            KeyError: For an unknown metric item.
        """
        needs = dict(
            proposal_nums=OPTION_METRICS, scale_ranges=VOC_AP_METRICS,
            coco_iou_thrs=('coco', 'proposal'), max_dets=('coco', ),
            area_ranges=('coco', ), metric_items=('coco', 'proposal'))
        for name, users in needs.items():
            if getattr(self, name) is not None and not set(users) & set(
                    metric):
                raise ValueError(f'{name} is used by metric {users} only, '
                                 f'and metric is {tuple(metric)}')
        if iou_thrs_given and not set(VOC_THRS_METRICS) & set(metric):
            raise ValueError(
                'iou_thrs are the IoU thresholds of the VOC metrics '
                f"{VOC_THRS_METRICS}; for 'coco' and 'proposal' (mmdet "
                "CocoMetric's iou_thrs) pass coco_iou_thrs")
        if self.proposal_nums is not None:
            nums = check_proposal_nums(self.proposal_nums)
            if 'proposal' in metric and len(nums) < 3:
                raise ValueError(
                    "metric='proposal' needs 3 proposal_nums (the AR at "
                    'the first, second and third, and by area at the '
                    f'third), got {self.proposal_nums!r}')
        if self.scale_ranges is not None:
            check_scale_ranges(self.scale_ranges)
        if self.coco_iou_thrs is not None:
            check_iou_thrs(self.coco_iou_thrs)
        if self.max_dets is not None:
            nums = check_proposal_nums(self.max_dets)
            if len(nums) < 3:
                raise ValueError('max_dets needs at least 3 numbers '
                                 "(pycocotools' summary reads the third), "
                                 f'got {self.max_dets!r}')
        if self.area_ranges is not None:
            rng = np.asarray(self.area_ranges, dtype=np.float64)
            if rng.ndim != 2 or rng.shape[1] != 2:
                raise ValueError('area_ranges must be (min, max) area '
                                 f'pairs, got {self.area_ranges!r}')
        select_items({}, self.metric_items, self.items(metric))

    def coco_kwargs(self) -> dict:
        """``iou_thrs``, ``max_dets``, ``area_ranges`` for ``coco_eval``."""
        return dict(
            iou_thrs=(COCO_IOU_THRS if self.coco_iou_thrs is None else
                      check_iou_thrs(self.coco_iou_thrs)),
            max_dets=list(COCO_MAX_DETS if self.max_dets is None else
                          self.max_dets),
            area_ranges=(COCO_AREA_RANGES if self.area_ranges is None else
                         self.area_ranges))

    def items(self, metric: Sequence[str]) -> Tuple[str, ...]:
        """The COCO summary items that ``metric`` computes."""
        items = ()
        if 'coco' in metric:
            items += coco_stat_names(self.coco_kwargs()['max_dets'])
        if 'proposal' in metric:
            items += proposal_stat_names(self.nums())
        return items

    def nums(self) -> Sequence[int]:
        """``proposal_nums`` or mmdet's default."""
        return (PROPOSAL_NUMS
                if self.proposal_nums is None else self.proposal_nums)


def option_metrics(arrays: DetectionArrays, metric: Sequence[str],
                   options: EvalOptions, iou_thrs: Sequence[float],
                   legacy_coords: bool, ignore_as: str,
                   voc_modes: Dict[str, str]) -> Dict[str, float]:
    """The summary keys of ``'proposal'``, ``'recall'`` and the VOC scale
    ranges that ``metric`` and ``options`` ask for.

    Args:
        arrays (DetectionArrays): Detections and GT of all images.
        metric (Sequence[str]): The metric names.
        options (EvalOptions): The options.
        iou_thrs (Sequence[float]): The VOC IoU thresholds.
        legacy_coords (bool): +1 pixel widths of the VOC rules.
        ignore_as (str): What an ignored GT is COCO-style.
        voc_modes (dict): ``{VOC metric name: AP mode}``.

    Returns:
        dict: ``{key: float}``.
    """
    out = {}
    if 'proposal' in metric:
        out.update(
            proposal_metrics(arrays, options.nums(),
                             options.coco_kwargs()['iou_thrs'], ignore_as))
    if 'recall' in metric:
        out.update(
            recall_metrics(arrays, options.nums(), iou_thrs, legacy_coords))
    voc = {m: voc_modes[m] for m in metric if m in voc_modes}
    if options.scale_ranges is not None and voc:
        out.update(
            scale_range_metrics(arrays, voc, options.scale_ranges, iou_thrs,
                                legacy_coords))
    return out
