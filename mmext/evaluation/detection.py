"""The one evaluation entry of mmext's detection metrics (numpy only).

:func:`evaluate_detections` takes one :class:`DetectionArrays` record and
runs the VOC family (mmdet ``eval_map``'s rules) and the COCO family
(pycocotools' rules) over it. The registered ``DetectionAP`` and
``tools/analysis/eval_dets.py`` both call it; neither does arithmetic of its
own.

Key names, shared by both callers (fractions in [0, 1]):

* summary: ``voc07/mAP``, ``voc12/mAP`` (mean over the VOC IoU thresholds),
  ``voc07/AP50``, ``voc07/AP75``... with several thresholds; ``coco/AP``
  ... ``coco/ARl`` (:data:`COCO_STAT_NAMES`, -1 without valid GT);
* per class (:func:`per_class_scalars`): ``<family>/<stat>_<class name>``,
  e.g. ``voc07/AP_aeroplane`` (``voc07/AP50_aeroplane``... with several
  thresholds), ``coco/AP_aeroplane``, ``coco/AP50_aeroplane``,
  ``coco/AP75_aeroplane``; the class name is kept verbatim. A class without
  (non-ignored) GT has no per-class key.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .functional import (COCO_AREA_RANGES, COCO_IOU_THRS, COCO_MAX_DETS,
                         best_f1_threshold, coco_eval, f1_score,
                         prf_at_threshold, voc_eval)
from .functional.records import DetectionArrays
from .mmdet_options import (OPTION_METRICS, EvalOptions, coco_stat_names,
                            metric_hint, option_metrics)

# 'proposal' and 'recall' (and the options): see mmext.evaluation.mmdet_options
ALLOWED_METRICS = ('voc07', 'voc12', 'coco') + OPTION_METRICS
# AP interpolation of each VOC metric, as named by ``voc_eval``
VOC_MODES = {'voc07': '11points', 'voc12': 'area'}
IGNORE_AS = ('difficult', 'crowd')
# COCO per-class APs besides the mean over thresholds: key -> IoU threshold
COCO_PER_CLASS_THRS = (('coco/AP50', 0.5), ('coco/AP75', 0.75))


def check_metrics(metric: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """The metric names as a tuple, each among :data:`ALLOWED_METRICS`.

    Raises:
        KeyError: Naming an unknown metric.
        ValueError: When no metric is named.
    """
    metric = (metric, ) if isinstance(metric, str) else tuple(metric)
    for m in metric:
        if m not in ALLOWED_METRICS:
            hint = metric_hint(m)
            raise KeyError(f'metric must be among {ALLOWED_METRICS}, got '
                           f'{m!r}' + (f': {hint}' if hint else ''))
    if not metric:
        raise ValueError('metric must name at least one metric')
    return metric


def resolve_ignore_as(ignore_as: str, dataset_type: str = '') -> str:
    """What an ignored GT is in COCO-style evaluation.

    Args:
        ignore_as (str): ``'difficult'``, ``'crowd'`` or ``'auto'``:
            ``'difficult'`` for VOC data sets (``dataset_type`` starting
            with ``'VOC'``), ``'crowd'`` otherwise.
        dataset_type (str): ``dataset_meta['dataset_type']``, for
            ``'auto'``.

    Returns:
        str: ``'difficult'`` or ``'crowd'``.

    Raises:
        ValueError: For any other ``ignore_as``.
    """
    if ignore_as == 'auto':
        return 'difficult' if str(dataset_type).startswith('VOC') else 'crowd'
    if ignore_as not in IGNORE_AS:
        raise ValueError("ignore_as must be 'auto', 'difficult' or 'crowd', "
                         f'got {ignore_as!r}')
    return ignore_as


@dataclass
class DetectionResults:
    """What :func:`evaluate_detections` computes.

    Args:
        metrics (dict): Summary ``{key: float}`` (see the module docstring).
        per_class (dict): ``{key prefix: {class name: AP}}``, prefixes
            ``voc07/AP`` (``voc07/AP50``... with several thresholds),
            ``coco/AP``, ``coco/AP50``, ``coco/AP75``; AP ``nan`` for a
            class without GT.
        curves (dict): Per VOC IoU threshold (``'iou50'``...) a list over
            classes of dicts: ``name``, ``num_gts``, ``recall``,
            ``precision``, ``scores``, ``f1`` (rank order), ``at_thr`` and
            ``best`` (P/R/F1 at ``score_thr`` and at the best-F1 threshold)
            and ``ap`` (``{VOC metric: AP}``).
        classes (list[str]): Class names, indexed by label.
        num_gts (np.ndarray): ``(K,)`` GTs per class that count (neither
            ignored nor crowd).
        num_dets (np.ndarray): ``(K,)`` detections per class.
    """
    metrics: Dict[str, float] = field(default_factory=dict)
    per_class: Dict[str, Dict[str, float]] = field(default_factory=dict)
    curves: Dict[str, List[dict]] = field(default_factory=dict)
    classes: List[str] = field(default_factory=list)
    num_gts: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    num_dets: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def classes_without_gt(self) -> List[str]:
        """Classes that no AP is defined for."""
        return [c for c, n in zip(self.classes, self.num_gts) if n == 0]


def per_class_scalars(results: DetectionResults) -> Dict[str, float]:
    """Per-class APs as flat keys ``<key prefix>_<class name>``.

    Classes without GT have no key (their AP is undefined).
    """
    return {
        f'{prefix}_{name}': ap
        for prefix, aps in results.per_class.items()
        for name, ap in aps.items() if not np.isnan(ap)
    }


def evaluate_detections(arrays: DetectionArrays,
                        classes: Sequence[str],
                        metric: Sequence[str] = ('voc07', ),
                        iou_thrs: Sequence[float] = (0.5, ),
                        legacy_coords: bool = True,
                        ignore_as: str = 'difficult',
                        score_thr: float = 0.5,
                        match_ann_id_zero: bool = False,
                        options: Optional[EvalOptions] = None,
                        coco_processes: int = 1) -> DetectionResults:
    """Evaluate one record with the VOC and / or COCO rules.

    Images are ranked for score ties in the order of ``arrays.img_ids``.

    Args:
        arrays (DetectionArrays): Detections and GT of all images.
        classes (Sequence[str]): Class names, indexed by label.
        metric (Sequence[str]): Any of ``'voc07'``, ``'voc12'``, ``'coco'``.
        iou_thrs (Sequence[float]): IoU thresholds of the VOC metrics.
        legacy_coords (bool): +1 pixel widths for the VOC metrics.
        ignore_as (str): What an ignored GT (``gt_ignore``) is in
            COCO-style evaluation: ``'difficult'`` (an ignore region matched
            once, VOC) or ``'crowd'`` (COCO ``iscrowd``). VOC metrics always
            treat it as difficult. ``gt_crowd`` is always crowd (and ignored
            by the VOC metrics).
        score_thr (float): Score threshold of the P/R/F1 rows of the curves.
        match_ann_id_zero (bool): With ``arrays.gt_ids`` (COCO json
            annotation ids), match a GT with id 0 like any other instead of
            reproducing pycocotools (which never counts it as matched, with
            a warning). Defaults to False.
        options (EvalOptions, optional): mmdet's options (``proposal_nums``,
            ``scale_ranges``, COCO ``iou_thrs`` / ``max_dets`` / area
            ranges), see :mod:`mmext.evaluation.mmdet_options`. Defaults to
            None (their defaults).
        coco_processes (int): ``processes`` of
            :func:`~.functional.coco.coco_eval` (forked children evaluate
            part of the classes; not in a training process). Defaults to 1.

    Returns:
        DetectionResults: Summary metrics, per-class APs, VOC curves and
        per-class counts.
    """
    metric = check_metrics(metric)
    options = EvalOptions() if options is None else options
    crowd, ignore = _coco_flags(arrays, resolve_ignore_as(ignore_as))
    results = DetectionResults(classes=list(classes))
    voc = [m for m in metric if m in VOC_MODES]
    if voc:
        _add_voc(results, arrays, voc, iou_thrs, legacy_coords,
                 ignore | crowd, score_thr)
    if 'coco' in metric:
        _add_coco(results, arrays, crowd, ignore, match_ann_id_zero,
                  coco_processes, **options.coco_kwargs())
    results.metrics.update(
        option_metrics(arrays, metric, options, iou_thrs, legacy_coords,
                       resolve_ignore_as(ignore_as), VOC_MODES))
    # after the core has checked the labels
    results.num_gts = _per_class_count(arrays.gt_labels[~(ignore | crowd)],
                                       len(classes))
    results.num_dets = _per_class_count(arrays.det_labels, len(classes))
    return results


def _per_class_count(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(
        np.asarray(labels).astype(np.int64), minlength=num_classes)


def _coco_flags(arrays: DetectionArrays,
                ignore_as: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(crowd, ignore)`` flags of COCO-style evaluation."""
    crowd = np.asarray(arrays.gt_crowd, bool)
    ignore = np.asarray(arrays.gt_ignore).astype(bool)
    if ignore_as == 'crowd':
        return crowd | ignore, np.zeros_like(ignore)
    return crowd, ignore


def _common(arrays: DetectionArrays) -> dict:
    return dict(num_classes=arrays.num_classes, num_images=arrays.num_images,
                img_names=arrays.img_ids)


def _xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _thr_name(thr: float) -> str:
    return f'{int(round(thr * 100)):02d}'


def _add_voc(results: DetectionResults, arrays: DetectionArrays,
             voc: Sequence[str], iou_thrs: Sequence[float],
             legacy_coords: bool, gt_ignore: np.ndarray,
             score_thr: float) -> None:
    """VOC mAP, per-class AP and curves into ``results``."""
    det_boxes, gt_boxes = arrays.det_boxes, arrays.gt_boxes
    if arrays.box_format == 'xywh':
        det_boxes, gt_boxes = (_xywh_to_xyxy(det_boxes),
                               _xywh_to_xyxy(gt_boxes))
    res = voc_eval(
        det_boxes, arrays.det_scores, arrays.det_labels, arrays.det_imgs,
        gt_boxes, arrays.gt_labels, arrays.gt_imgs, gt_ignore=gt_ignore,
        iou_thrs=iou_thrs, legacy_coords=legacy_coords,
        modes=[VOC_MODES[m] for m in voc], **_common(arrays))
    several = len(iou_thrs) > 1
    for m in voc:
        ap, mean_ap = res['ap'][VOC_MODES[m]], res['mAP'][VOC_MODES[m]]
        for t, thr in enumerate(iou_thrs):
            key = f'{m}/AP{_thr_name(thr)}' if several else f'{m}/AP'
            if several:
                results.metrics[key] = float(mean_ap[t])
            results.per_class[key] = {
                c: float(a) for c, a in zip(results.classes, ap[t])
            }
        results.metrics[f'{m}/mAP'] = float(np.mean(mean_ap))
    for t, thr in enumerate(iou_thrs):
        results.curves[f'iou{_thr_name(thr)}'] = [
            _class_curve(c, res['curves'][t][k], score_thr,
                         {m: float(res['ap'][VOC_MODES[m]][t, k])
                          for m in voc})
            for k, c in enumerate(results.classes)
        ]


def _class_curve(name: str, c: dict, score_thr: float,
                 ap: Dict[str, float]) -> dict:
    """Curve points, APs and P/R/F1 at ``score_thr`` and at the best F1."""
    at_thr = prf_at_threshold(c['precision'], c['recall'], c['scores'],
                              score_thr)
    best = best_f1_threshold(c['precision'], c['recall'], c['scores'])
    return dict(
        name=name, num_gts=c['num_gts'], recall=c['recall'],
        precision=c['precision'], scores=c['scores'],
        f1=f1_score(c['precision'], c['recall']), at_thr=at_thr, best=best,
        ap=ap)


def _add_coco(results: DetectionResults, arrays: DetectionArrays,
              crowd: np.ndarray, ignore: np.ndarray,
              match_ann_id_zero: bool, processes: int,
              iou_thrs: Sequence[float] = COCO_IOU_THRS,
              max_dets: Sequence[int] = COCO_MAX_DETS,
              area_ranges: Sequence[Sequence[float]] = COCO_AREA_RANGES
              ) -> None:
    """The 12 COCO stats (AR keys named after ``max_dets``) and per-class
    COCO APs into ``results``."""
    res = coco_eval(
        arrays.det_boxes, arrays.det_scores, arrays.det_labels,
        arrays.det_imgs, arrays.gt_boxes, arrays.gt_labels, arrays.gt_imgs,
        gt_iscrowd=crowd, gt_ignore=ignore, gt_areas=arrays.gt_areas,
        box_format=arrays.box_format, iou_thrs=iou_thrs, gt_ids=arrays.gt_ids,
        match_ann_id_zero=match_ann_id_zero, max_dets=max_dets,
        processes=processes,
        area_ranges=area_ranges, **_common(arrays))
    for name, v in zip(coco_stat_names(max_dets), res['stats']):
        results.metrics[f'coco/{name}'] = float(v)
    results.per_class.update(
        coco_per_class_ap(res['precision'], iou_thrs, results.classes))


def coco_per_class_ap(precision: np.ndarray, iou_thrs: Sequence[float],
                      classes: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Per-class COCO AP (all areas, the largest ``max_dets``), as mmdet's
    ``CocoMetric(classwise=True)`` computes it.

    Args:
        precision (np.ndarray): ``(T, R, K, A, M)`` from ``coco_eval``.
        iou_thrs (Sequence[float]): The ``T`` thresholds of ``precision``;
            AP50 / AP75 are looked up in it by equality, as pycocotools'
            ``summarize`` does, and are absent when it lacks them.
        classes (Sequence[str]): The ``K`` class names.

    Returns:
        dict: ``{'coco/AP': {class: AP}, 'coco/AP50': ..., 'coco/AP75':
        ...}``; AP ``nan`` for a class without valid precision.
    """
    prec = np.asarray(precision)[:, :, :, 0, -1]
    thrs = np.asarray(iou_thrs, dtype=np.float64)
    rows = {'coco/AP': np.arange(len(thrs))}
    for key, thr in COCO_PER_CLASS_THRS:
        hit = np.flatnonzero(thrs == thr)
        if len(hit):
            rows[key] = hit
    out = {}
    for key, t in rows.items():
        out[key] = {}
        for k, c in enumerate(classes):
            p = prec[t, :, k]
            valid = p > -1
            out[key][c] = float(np.mean(p[valid])) if valid.any() \
                else float('nan')
    return out
