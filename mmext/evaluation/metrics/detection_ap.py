"""One evaluator for VOC07 / VOC12 mAP and the 12 COCO box stats."""
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmext.registry import METRICS
from ..functional import (COCO_STAT_NAMES, best_f1_threshold, coco_eval,
                          f1_score, prf_at_threshold, voc_eval)
from ..functional.checks import check_iou_thrs

VOC_MODES = {'voc07': '11points', 'voc12': 'area'}
ALLOWED_METRICS = ('voc07', 'voc12', 'coco')


def _field(obj, key: str):
    """``obj[key]`` for dicts and ``InstanceData`` alike, or None."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None) if key in obj else None


def _numpy(x, dtype=None) -> np.ndarray:
    if hasattr(x, 'tensor'):  # mmdet box types (HorizontalBoxes)
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def sample_to_arrays(data_sample: dict) -> dict:
    """Compact arrays of one mmdet data sample (predictions and GT).

    GT comes from ``gt_instances`` + ``ignored_instances`` (the test
    pipeline's ``LoadAnnotations``; mmdet marks VOC difficult boxes, boxes
    under ``bbox_min_size`` and COCO crowd boxes as ignored), or else from
    the raw ``instances`` list (``bbox``, ``bbox_label``, ``ignore_flag``,
    optional ``area``).

    Args:
        data_sample (dict): A data sample as given to ``process()``.

    Returns:
        dict: ``img_id``, ``det_boxes`` ``(N, 4)``, ``det_scores``,
        ``det_labels``, ``gt_boxes`` ``(G, 4)``, ``gt_labels``, ``gt_ignore``
        (bool) and ``gt_areas`` (or None).

    Raises:
        KeyError: When predictions or ground truth are missing.
    """
    img_id = data_sample.get('img_id')
    pred = data_sample.get('pred_instances')
    if pred is None:
        raise KeyError(f'data sample of image {img_id!r} has no '
                       "'pred_instances'")
    out = dict(
        img_id=img_id,
        det_boxes=_numpy(pred['bboxes']).reshape(-1, 4),
        det_scores=_numpy(pred['scores']).reshape(-1),
        det_labels=_numpy(pred['labels']).reshape(-1),
        gt_areas=None)
    gt = data_sample.get('gt_instances')
    if gt is not None:
        ign = data_sample.get('ignored_instances')
        boxes = [_numpy(gt['bboxes']).reshape(-1, 4)]
        labels = [_numpy(gt['labels']).reshape(-1)]
        if ign is not None and _field(ign, 'bboxes') is not None:
            boxes.append(_numpy(ign['bboxes']).reshape(-1, 4))
            labels.append(_numpy(ign['labels']).reshape(-1))
        out['gt_boxes'] = np.concatenate(boxes)
        out['gt_labels'] = np.concatenate(labels)
        # regular boxes first, ignored after: mmdet eval_map's order, which
        # decides IoU ties between a regular and an ignored GT
        out['gt_ignore'] = np.arange(len(out['gt_labels'])) >= len(labels[0])
        return out
    instances = data_sample.get('instances')
    if instances is None:
        raise KeyError(f'data sample of image {img_id!r} has neither '
                       "'gt_instances' nor 'instances': add LoadAnnotations "
                       'to the test pipeline')
    out['gt_boxes'] = np.array([i['bbox'] for i in instances],
                               dtype=np.float64).reshape(-1, 4)
    out['gt_labels'] = np.array([i['bbox_label'] for i in instances],
                                dtype=np.int64)
    out['gt_ignore'] = np.array(
        [bool(i.get('ignore_flag', 0)) for i in instances], dtype=bool)
    if instances and all('area' in i for i in instances):
        out['gt_areas'] = np.array([i['area'] for i in instances], float)
    return out


def _xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _concat(samples: List[dict]) -> dict:
    """Flat arrays over samples; image index = position in ``samples``."""
    ids = [s['img_id'] for s in samples]
    seen = {}
    for i, img_id in enumerate(ids):
        if img_id in seen:
            raise ValueError(f'duplicate image id {img_id!r} (samples '
                             f'{seen[img_id]} and {i})')
        seen[img_id] = i
    flat = {}
    for k in ('det_boxes', 'det_scores', 'det_labels', 'gt_boxes',
              'gt_labels', 'gt_ignore'):
        parts = [np.asarray(s[k]) for s in samples]
        flat[k] = (np.concatenate(parts) if parts else np.zeros(
            (0, 4) if k.endswith('boxes') else 0))
    for prefix in ('det', 'gt'):
        flat[f'{prefix}_imgs'] = np.repeat(
            np.arange(len(samples)),
            [len(s[f'{prefix}_labels']) for s in samples])
    flat['gt_crowd'] = np.concatenate(
        [np.zeros(0, bool)] + [
            np.asarray(s['gt_crowd'], bool) if s.get('gt_crowd') is not None
            else np.zeros(len(s['gt_labels']), bool) for s in samples
        ])
    for k in ('gt_areas', 'gt_ids'):  # optional: all samples or none
        flat[k] = np.concatenate([s[k] for s in samples]) if samples and all(
            s.get(k) is not None for s in samples) else None
    flat['img_names'] = ids
    return flat


def compute_detection_metrics(samples: List[dict],
                              classes: Sequence[str],
                              metric: Sequence[str] = ('voc07', ),
                              iou_thrs: Sequence[float] = (0.5, ),
                              legacy_coords: bool = True,
                              ignore_as: str = 'difficult',
                              score_thr: float = 0.5,
                              box_format: str = 'xyxy',
                              match_ann_id_zero: bool = False) -> dict:
    """Evaluate compact per-image samples (see :func:`sample_to_arrays`).

    Images are ranked for score ties in the order of ``samples``.

    Args:
        samples (list[dict]): One dict per image.
        classes (Sequence[str]): Class names, indexed by label.
        metric (Sequence[str]): Any of ``'voc07'``, ``'voc12'``, ``'coco'``.
        iou_thrs (Sequence[float]): IoU thresholds of the VOC metrics.
        legacy_coords (bool): +1 pixel widths for the VOC metrics.
        ignore_as (str): What an ignored GT is in COCO-style evaluation:
            ``'difficult'`` (an ignore region matched once, VOC) or
            ``'crowd'`` (COCO ``iscrowd``). VOC metrics always treat it as
            difficult.
            A sample's optional ``gt_crowd`` flags are always crowd (and
            ignored by the VOC metrics).
        score_thr (float): Score threshold of the P/R/F1 table.
        box_format (str): ``'xyxy'`` or ``'xywh'`` (COCO json); COCO-style
            evaluation takes ``xywh`` as is, so it sees pycocotools' numbers.
        match_ann_id_zero (bool): When samples carry ``gt_ids`` (COCO json
            annotation ids), match a GT with id 0 like any other instead of
            reproducing pycocotools (which never counts it as matched, with
            a warning). Defaults to False.

    Returns:
        dict: ``metrics``: flat ``{key: float}`` (``voc07/mAP``,
        ``voc07/AP50``.. when several thresholds, ``coco/AP``..);
        ``per_class``:
        ``{key prefix: {class: AP}}`` (``voc07/AP`` or ``voc07/AP50/AP``
        when several thresholds, ``coco/AP``); ``curves``: per VOC metric
        and threshold the per-class curves and P/R/F1 rows.
    """
    metric = tuple(metric)
    for m in metric:
        if m not in ALLOWED_METRICS:
            raise KeyError(f'metric must be among {ALLOWED_METRICS}, got '
                           f'{m!r}')
    if ignore_as not in ('difficult', 'crowd'):
        raise ValueError("ignore_as must be 'difficult' or 'crowd', got "
                         f'{ignore_as!r}')
    f = _concat(samples)
    crowd, ign = f['gt_crowd'], f['gt_ignore'].astype(bool)
    if ignore_as == 'crowd':
        crowd, ign = crowd | ign, np.zeros_like(ign)
    num_classes = len(classes)
    common = dict(num_classes=num_classes, num_images=len(samples),
                  img_names=f['img_names'])
    metrics, per_class, curves = {}, {}, {}
    voc = [m for m in metric if m in VOC_MODES]
    if voc:
        det_boxes, gt_boxes = f['det_boxes'], f['gt_boxes']
        if box_format == 'xywh':
            det_boxes, gt_boxes = _xywh_to_xyxy(det_boxes), _xywh_to_xyxy(
                gt_boxes)
        res = voc_eval(
            det_boxes, f['det_scores'], f['det_labels'], f['det_imgs'],
            gt_boxes, f['gt_labels'], f['gt_imgs'],
            gt_ignore=ign | crowd, iou_thrs=iou_thrs,
            legacy_coords=legacy_coords,
            modes=[VOC_MODES[m] for m in voc], **common)
        several = len(iou_thrs) > 1
        for m in voc:
            ap = res['ap'][VOC_MODES[m]]
            for t, thr in enumerate(iou_thrs):
                key = f'{m}/AP{int(round(thr * 100)):02d}' if several \
                    else f'{m}/AP'
                if several:
                    metrics[key] = float(res['mAP'][VOC_MODES[m]][t])
                per_class[key] = {c: float(a) for c, a in zip(classes, ap[t])}
            metrics[f'{m}/mAP'] = float(np.mean(res['mAP'][VOC_MODES[m]]))
        for t, thr in enumerate(iou_thrs):
            curves[f'iou{int(round(thr * 100)):02d}'] = [
                _class_curve(c, res['curves'][t][k], score_thr)
                for k, c in enumerate(classes)
            ]
    if 'coco' in metric:
        res = coco_eval(
            f['det_boxes'], f['det_scores'], f['det_labels'], f['det_imgs'],
            f['gt_boxes'], f['gt_labels'], f['gt_imgs'], gt_iscrowd=crowd,
            gt_ignore=ign, gt_areas=f['gt_areas'], box_format=box_format,
            gt_ids=f['gt_ids'], match_ann_id_zero=match_ann_id_zero,
            **common)
        for name, v in zip(COCO_STAT_NAMES, res['stats']):
            metrics[f'coco/{name}'] = float(v)
        prec = res['precision'][:, :, :, 0, -1]  # all areas, 100 dets
        for key, sl in (('coco/AP', slice(None)), ('coco/AP50', [0]),
                        ('coco/AP75', [5])):
            vals = {}
            for k, c in enumerate(classes):
                p = prec[sl, :, k]
                vals[c] = float(np.mean(p[p > -1])) if (p > -1).any() \
                    else float('nan')
            per_class[key] = vals
    return dict(metrics=metrics, per_class=per_class, curves=curves)


def _class_curve(name: str, c: dict, score_thr: float) -> dict:
    """Curve points and P/R/F1 at ``score_thr`` and at the best F1."""
    at_thr = prf_at_threshold(c['precision'], c['recall'], c['scores'],
                              score_thr)
    best = best_f1_threshold(c['precision'], c['recall'], c['scores'])
    return dict(
        name=name, num_gts=c['num_gts'], recall=c['recall'],
        precision=c['precision'], scores=c['scores'],
        f1=f1_score(c['precision'], c['recall']), at_thr=at_thr, best=best)


@METRICS.register_module()
class DetectionAP(BaseMetric):
    """VOC07 11-point mAP, VOC12 'area' mAP and the 12 COCO stats in one
    pass over in-memory predictions, exact to mmdet's ``eval_map`` and to
    pycocotools (see ``mmext.evaluation.functional``).

    Works on any mmdet dataset. Ignored GTs (``ignore_flag``: VOC difficult
    and ``bbox_min_size``-filtered boxes, COCO crowd) are "difficult" for the
    VOC metrics; for COCO-style evaluation they are crowd regions on COCO
    data sets and ignore regions matched once (like difficult) on VOC ones
    (``ignore_as='auto'`` decides by ``dataset_meta['dataset_type']``).

    Result keys (fractions in [0, 1], as mmdet's ``VOCMetric`` and
    ``CocoMetric``; -1 for a COCO stat with no valid GT, as pycocotools):
    ``voc07/mAP``, ``voc12/mAP`` (mean over ``iou_thrs``) and
    ``voc07/AP50``, ``voc07/AP75``... when several thresholds;
    ``coco/AP``, ``coco/AP50``, ``coco/AP75``, ``coco/APs``, ``coco/APm``,
    ``coco/APl``, ``coco/AR1``, ``coco/AR10``, ``coco/AR100``, ``coco/ARs``,
    ``coco/ARm``, ``coco/ARl``. Per-class APs are printed as tables with
    ``classwise=True`` and written by ``tools/analysis/eval_dets.py``, not
    returned, so the runner's log and scalars are not flooded. Any key works
    as ``save_best`` (e.g. ``save_best='voc07/mAP', rule='greater'``).

    Classes without GT have no AP and are left out of the means; empty
    predictions give 0. Score ties are ranked by dataset order, then
    detection order.

    mmdet data sets do not keep COCO annotation ids (``CocoDataset`` drops
    them), so GTs are matched as by mmdet's ``CocoMetric`` without
    ``ann_file`` (which numbers them from 1). ``CocoMetric`` with
    ``ann_file`` evaluates the json itself: it differs where an annotation
    has id 0 (pycocotools never matches it, see
    :func:`~mmext.evaluation.functional.coco_eval`), where ``area`` is a
    mask area, and on annotations the data set filtered out.
    ``tools/analysis/eval_dets.py --gt-json`` keeps the ids.

    Example:
        >>> val_evaluator = dict(
        ...     type='mmext.DetectionAP',
        ...     metric=('voc07', 'coco'),
        ...     classwise=True,
        ...     pr_curve_dir='pr_curves')
        >>> test_evaluator = val_evaluator

    Args:
        metric (str | Sequence[str]): Any of ``'voc07'``, ``'voc12'``,
            ``'coco'``. Defaults to ``('voc07', 'coco')``.
        iou_thrs (float | Sequence[float]): IoU thresholds of the VOC
            metrics, each in (0, 1] (a ``ValueError`` names any other).
            Defaults to ``(0.5,)``.
        legacy_coords (bool): VOC boxes cover ``x2 - x1 + 1`` pixels (devkit,
            mmdet VOCMetric). Defaults to True. COCO never adds 1.
        classwise (bool): Log per-class AP tables and a per-class table of
            precision, recall and F1 at ``score_thr`` and at the best-F1
            threshold (VOC matching at the first IoU threshold).
            Defaults to False.
        pr_curve_dir (str, optional): Write per-class PR curves (JSON and
            PNG) there; a relative path goes under the runner's work_dir.
            Defaults to None.
        score_thr (float): Score threshold of the P/R/F1 table.
            Defaults to 0.5.
        ignore_as (str): ``'auto'``, ``'difficult'`` or ``'crowd'``, see
            above. Defaults to ``'auto'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for gathering results
            across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the keys. Defaults to None.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 metric: Union[str, Sequence[str]] = ('voc07', 'coco'),
                 iou_thrs: Union[float, Sequence[float]] = (0.5, ),
                 legacy_coords: bool = True,
                 classwise: bool = False,
                 pr_curve_dir: Optional[str] = None,
                 score_thr: float = 0.5,
                 ignore_as: str = 'auto',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metric = (metric, ) if isinstance(metric, str) else tuple(metric)
        for m in self.metric:
            if m not in ALLOWED_METRICS:
                raise KeyError(f'metric must be among {ALLOWED_METRICS}, '
                               f'got {m!r}')
        if not self.metric:
            raise ValueError('metric must name at least one metric')
        self.iou_thrs = tuple(check_iou_thrs(iou_thrs).tolist())
        self.legacy_coords = legacy_coords
        self.classwise = classwise
        self.pr_curve_dir = pr_curve_dir
        self.score_thr = score_thr
        if ignore_as not in ('auto', 'difficult', 'crowd'):
            raise ValueError("ignore_as must be 'auto', 'difficult' or "
                             f"'crowd', got {ignore_as!r}")
        self.ignore_as = ignore_as

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep compact numpy arrays of each sample's predictions and GT.

        Args:
            data_batch (dict): Unused.
            data_samples (Sequence[dict]): Data samples with
                ``pred_instances`` and GT (see :func:`sample_to_arrays`).
        """
        for data_sample in data_samples:
            self.results.append(sample_to_arrays(data_sample))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from all samples (rank 0 after gathering).

        Args:
            results (list): The dicts made by :meth:`process`.

        Returns:
            dict: ``{key: float}``, keys as in the class docstring.
        """
        classes = self.dataset_meta['classes']
        ignore_as = self.ignore_as
        if ignore_as == 'auto':
            dtype = str(self.dataset_meta.get('dataset_type', ''))
            ignore_as = 'difficult' if dtype.startswith('VOC') else 'crowd'
        out = compute_detection_metrics(
            results, classes, self.metric, self.iou_thrs, self.legacy_coords,
            ignore_as, self.score_thr)
        logger = MMLogger.get_current_instance()
        if self.classwise:
            logger.info('\n' + format_ap_tables(out, classes))
            for name, rows in out['curves'].items():
                logger.info('\n' + format_prf_table(rows, self.score_thr,
                                                    name))
        if self.pr_curve_dir is not None and out['curves']:
            out_dir = write_pr_curves(out, self._resolve_dir())
            logger.info(f'PR curves written to {out_dir}')
        return out['metrics']

    def _resolve_dir(self) -> str:
        """``pr_curve_dir``; a relative one goes under the runner's work_dir,
        found from the log file the runner writes to
        (``work_dir/<timestamp>/<timestamp>.log``), else under the current
        directory."""
        if osp.isabs(self.pr_curve_dir):
            return self.pr_curve_dir
        base = '.'
        for handler in MMLogger.get_current_instance().handlers:
            if isinstance(handler, logging.FileHandler):
                base = osp.dirname(osp.dirname(handler.baseFilename))
                break
        return osp.join(base, self.pr_curve_dir)


def format_ap_tables(out: dict, classes: Sequence[str]) -> str:
    """Per-class AP table: one column per per-class key of ``out``."""
    from mmext.visualization import format_table
    keys = list(out['per_class'])
    rows = [[c] + [out['per_class'][k][c] for k in keys] for c in classes]
    footer = ['mean'] + [
        float(np.nanmean(list(out['per_class'][k].values())))
        if not np.isnan(list(out['per_class'][k].values())).all() else
        float('nan') for k in keys
    ]
    return format_table(['class'] + keys, rows, title='per-class AP',
                        footer=footer)


def format_prf_table(rows: List[dict], score_thr: float, name: str) -> str:
    """Per-class precision/recall/F1 at ``score_thr`` and at best F1."""
    from mmext.visualization import format_table
    header = [
        'class', 'gts', f'P@{score_thr:g}', f'R@{score_thr:g}',
        f'F1@{score_thr:g}', 'best thr', 'P', 'R', 'F1'
    ]
    body = [[
        r['name'], r['num_gts'], r['at_thr']['precision'],
        r['at_thr']['recall'], r['at_thr']['f1'], r['best']['score_thr'],
        r['best']['precision'], r['best']['recall'], r['best']['f1']
    ] for r in rows]
    return format_table(header, body,
                        title=f'P/R/F1 per class (VOC matching, {name})')


def _finite_or_none(obj):
    """JSON has no inf / nan: write them as null."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_pr_curves(out: dict, out_dir: str) -> str:
    """Write ``pr_curves_<iou>.json`` and ``pr_curves_<iou>.png`` per IoU
    threshold of the VOC matching.

    Returns:
        str: ``out_dir``.
    """
    from mmext.visualization.pr_curve import plot_pr_curves
    os.makedirs(out_dir, exist_ok=True)
    for name, rows in out['curves'].items():
        data = {
            r['name']: dict(
                num_gts=r['num_gts'],
                recall=r['recall'].tolist(),
                precision=r['precision'].tolist(),
                scores=r['scores'].tolist(),
                at_thr=r['at_thr'],
                best_f1=r['best'])
            for r in rows
        }
        with open(osp.join(out_dir, f'pr_curves_{name}.json'), 'w') as fh:
            json.dump(_finite_or_none(data), fh)
        plot_pr_curves(
            {
                r['name']: dict(recall=r['recall'],
                                precision=r['precision'])
                for r in rows if r['num_gts'] > 0
            },
            osp.join(out_dir, f'pr_curves_{name}.png'),
            title=f'PR curves ({name})')
    return out_dir
