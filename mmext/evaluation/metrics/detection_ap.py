"""One registered evaluator for VOC07 / VOC12 mAP and the 12 COCO box stats:
config, sample adaptation, one call to
:func:`mmext.evaluation.detection.evaluate_detections`, logging."""
import os.path as osp
from typing import Dict, Optional, Sequence, Union

from mmengine.logging import MMLogger

from mmext.registry import METRICS
from mmext.visualization.pr_curve import write_pr_curves
from mmext.visualization.table import format_ap_table, format_prf_table
from ..analysis import analyze_detections
from ..collect import GroupCollectMetric
from ..detection import (VOC_MODES, DetectionResults, check_metrics,
                         evaluate_detections, per_class_scalars,
                         resolve_ignore_as)
from ..functional.checks import check_iou_thrs
from ..mmdet_options import EvalOptions, reject_unsupported, select_items
from ..results_json import (category_ids_from_json, prediction_arrays,
                            write_coco_results)
from ..samples import concat_samples, sample_to_arrays


@METRICS.register_module()
class DetectionAP(GroupCollectMetric):
    """VOC07 11-point mAP, VOC12 'area' mAP and the 12 COCO stats in one
    pass over in-memory predictions, exact to mmdet's ``eval_map`` and to
    pycocotools (see :mod:`mmext.evaluation.detection`).

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
    ``coco/ARm``, ``coco/ARl``.

    With ``classwise=True`` the per-class APs are returned too, so they
    reach the runner's ``vis_data/scalars.json``, TensorBoard and W&B:
    ``<family>/<stat>_<class name>``, i.e. ``voc07/AP_aeroplane`` (or
    ``voc07/AP50_aeroplane``, ``voc07/AP75_aeroplane``... with several
    thresholds), ``voc12/AP_aeroplane``, and ``coco/AP_aeroplane``,
    ``coco/AP50_aeroplane``, ``coco/AP75_aeroplane`` (all areas, 100
    detections, as mmdet's ``CocoMetric(classwise=True)``), class names
    verbatim. A class without GT has no AP and no key; one log line names
    the classes without GT. The AP tables and P/R/F1 tables are logged as
    well. Any key works as ``save_best`` (e.g. ``save_best='voc07/mAP',
    rule='greater'``).

    Classes without GT are left out of the means; empty predictions give 0.
    Score ties are ranked by dataset order, then detection order.

    mmdet data sets do not keep COCO annotation ids (``CocoDataset`` drops
    them), so GTs are matched as by mmdet's ``CocoMetric`` without
    ``ann_file`` (which numbers them from 1). ``CocoMetric`` with
    ``ann_file`` evaluates the json itself: it differs where an annotation
    has id 0 (pycocotools never matches it, see
    :func:`~mmext.evaluation.functional.coco_eval`), where ``area`` is a
    mask area, and on annotations the data set filtered out.
    ``tools/analysis/eval_dets.py --gt-json`` keeps the ids.

    mmdet's ``CocoMetric`` / ``VOCMetric`` options are taken with mmdet's
    meaning and numbers (keys and the quirks not reproduced:
    :mod:`mmext.evaluation.mmdet_options`): ``metric='proposal'`` and
    ``'recall'`` with ``proposal_nums``, ``scale_ranges``, COCO
    ``coco_iou_thrs`` (``CocoMetric``'s ``iou_thrs``) / ``max_dets`` /
    ``area_ranges``, ``metric_items``, ``format_only`` with
    ``outfile_prefix``. Any other mmdet argument is refused with the way to
    get the same thing; an option no requested metric uses is refused too.

    Example:
        >>> val_evaluator = dict(
        ...     type='mmext.DetectionAP',
        ...     metric=('voc07', 'coco'),
        ...     classwise=True,
        ...     curve_dir='pr_curves')
        >>> # and "why is my mAP low": confusion matrix, TIDE, confidence
        >>> test_evaluator = dict(type='mmext.DetectionAP',
        ...                       analysis_dir='analysis')
        >>> # a relative curve_dir / analysis_dir goes under the work dir
        >>> # with this hook
        >>> custom_hooks = [dict(type='mmext.MetricWorkDirHook')]
        >>> # CocoMetric(metric='bbox', iou_thrs=[0.5, 0.75]) numbers
        >>> val_evaluator = dict(type='mmext.DetectionAP', metric='coco',
        ...                      coco_iou_thrs=[0.5, 0.75],
        ...                      max_dets=(100, 300, 1000))
        >>> # RPN: CocoMetric(metric='proposal') and VOCMetric recall
        >>> val_evaluator = dict(type='mmext.DetectionAP',
        ...                      metric=('proposal', 'recall'),
        ...                      proposal_nums=(100, 300, 1000))
        >>> # test-dev submission: only writes test-dev.bbox.json
        >>> test_evaluator = dict(
        ...     type='mmext.DetectionAP', format_only=True,
        ...     outfile_prefix='work_dirs/test-dev',
        ...     ann_file='data/coco/annotations/image_info_test-dev2017.json')

    Args:
        metric (str | Sequence[str]): Any of ``'voc07'``, ``'voc12'``,
            ``'coco'``, ``'proposal'`` (class-agnostic COCO AR at
            ``proposal_nums``, keys ``coco/AR@100``...), ``'recall'``
            (mmdet ``eval_recalls``, keys ``pascal_voc/recall@100@0.5``...).
            Defaults to ``('voc07', 'coco')``.
        iou_thrs (float | Sequence[float], optional): IoU thresholds of the
            VOC metrics and ``'recall'``, each in (0, 1] (a ``ValueError``
            names any other). Defaults to None: ``(0.5,)``.
        legacy_coords (bool): VOC boxes cover ``x2 - x1 + 1`` pixels (devkit,
            mmdet VOCMetric). Defaults to True. COCO never adds 1.
        classwise (bool): Return per-class APs (see above) and log per-class
            AP tables and a per-class table of precision, recall and F1 at
            ``score_thr`` and at the best-F1 threshold (VOC matching).
            Classes with neither GT nor detections are left out of the
            tables. Defaults to False.
        pr_curve_dir (str, optional): The former name of ``curve_dir``,
            kept for existing configs. Defaults to None.
        score_thr (float): Score threshold of the P/R/F1 table.
            Defaults to 0.5.
        ignore_as (str): ``'auto'``, ``'difficult'`` or ``'crowd'``, see
            above. Defaults to ``'auto'``.
        collect_device (str): How ranks' results are gathered:
            ``'group'`` through the process group (gloo or NCCL; no shared
            directory, works across nodes), ``'cpu'`` / ``'gpu'`` as in
            mmengine (``'cpu'``: a temporary directory all ranks share).
            Defaults to ``'group'``.
        prefix (str, optional): Prefix of the keys. Defaults to None.
        curve_dir (str, optional): Write per-class PR curves of the VOC
            matching there, per IoU threshold: ``pr_curves_iou50.png`` (AP
            of each class in the legend, bold mean curve) and
            ``pr_curves_iou50.json`` (points, AP, P/R/F1). A relative path
            goes under the runner's work dir when
            :class:`~mmext.engine.hooks.MetricWorkDirHook` is registered,
            else under the current directory. Needs a VOC metric.
            Defaults to None.
        analysis_dir (str, optional): Write the error analysis of
            :func:`~mmext.evaluation.analysis.analyze_detections` there:
            ``confusion_matrix.{png,json}`` (score ``analysis_score_thr``,
            IoU 0.5), ``tide.{png,json}`` (TIDE error breakdown, dAP at
            AP50 and AP@[.5:.95]) and ``confidence_curves.{png,json}``
            (precision, recall, F1 against the score threshold). A relative
            path goes where a relative ``curve_dir`` goes; the log names
            the folder. Defaults to None.
        analysis_score_thr (float): Score threshold of the confusion
            matrix. Defaults to 0.3 (mmdet's ``confusion_matrix.py``).
        scale_ranges (Sequence[tuple], optional): VOC ``(min, max)`` box
            sides (mmdet ``eval_map``): adds ``voc07/mAP_scale_0-32``...
            Defaults to None.
        proposal_nums (Sequence[int], optional): Boxes per image of
            ``'proposal'`` (at least 3) and ``'recall'``. Defaults to None:
            ``(100, 300, 1000)``.
        coco_iou_thrs (Sequence[float], optional): IoU thresholds of
            ``'coco'`` and ``'proposal'``. Defaults to None: 0.5:0.95.
        max_dets (Sequence[int], optional): ``'coco'``'s maxDets (at least
            3; AR keys named after them). Defaults to None: ``(1, 10, 100)``.
        area_ranges (Sequence[tuple], optional): ``'coco'``'s area ranges
            (all, small, medium, large). Defaults to None: COCO's.
        metric_items (Sequence[str], optional): The COCO summary keys to
            return (without ``coco/``), e.g. ``['AP', 'AP50']``. Defaults
            to None: all.
        format_only (bool): Only write ``<outfile_prefix>.bbox.json``
            (no GT needed, no metric returned). Defaults to False.
        outfile_prefix (str, optional): Write the COCO results json there
            (also when evaluating). Required with ``format_only``.
        ann_file (str, optional): With ``format_only``: a COCO json whose
            ``categories`` give the ``category_id`` of each class (by
            name). Defaults to None: the label index.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 metric: Union[str, Sequence[str]] = ('voc07', 'coco'),
                 iou_thrs: Union[float, Sequence[float], None] = None,
                 legacy_coords: bool = True,
                 classwise: bool = False,
                 pr_curve_dir: Optional[str] = None,
                 score_thr: float = 0.5,
                 ignore_as: str = 'auto',
                 collect_device: str = 'group',
                 prefix: Optional[str] = None,
                 curve_dir: Optional[str] = None,
                 scale_ranges: Optional[Sequence[tuple]] = None,
                 proposal_nums: Optional[Sequence[int]] = None,
                 coco_iou_thrs: Optional[Sequence[float]] = None,
                 max_dets: Optional[Sequence[int]] = None,
                 area_ranges: Optional[Sequence[tuple]] = None,
                 metric_items: Optional[Sequence[str]] = None,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 ann_file: Optional[str] = None,
                 analysis_dir: Optional[str] = None,
                 analysis_score_thr: float = 0.3,
                 **unsupported) -> None:
        if ann_file is not None and not format_only:
            unsupported = dict(unsupported, ann_file=ann_file)
        reject_unsupported(unsupported)
        if format_only and outfile_prefix is None:
            raise ValueError('format_only=True writes '
                             '<outfile_prefix>.bbox.json: set outfile_prefix')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metric = check_metrics(metric)
        self.iou_thrs = tuple(
            check_iou_thrs((0.5, ) if iou_thrs is None else iou_thrs).tolist())
        self.options = EvalOptions(proposal_nums, scale_ranges, coco_iou_thrs,
                                   max_dets, area_ranges, metric_items)
        self.options.check(self.metric, iou_thrs is not None)
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.ann_file = ann_file
        self.legacy_coords = legacy_coords
        self.classwise = classwise
        self.curve_dir = _curve_dir(curve_dir, pr_curve_dir, self.metric)
        self.score_thr = score_thr
        self.analysis_dir = analysis_dir
        self.analysis_score_thr = analysis_score_thr
        resolve_ignore_as(ignore_as)  # refuse a bad value now, not at eval
        self.ignore_as = ignore_as
        # set by MetricWorkDirHook: where a relative curve_dir goes
        self.work_dir: Optional[str] = None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep compact numpy arrays of each sample's predictions and GT.

        Args:
            data_batch (dict): Unused.
            data_samples (Sequence[dict]): Data samples with
                ``pred_instances`` and GT (see
                :func:`~mmext.evaluation.samples.sample_to_arrays`).
        """
        to_arrays = prediction_arrays if self.format_only else sample_to_arrays
        for data_sample in data_samples:
            self.results.append(to_arrays(data_sample))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from all samples (rank 0 after gathering).

        Args:
            results (list): The dicts made by :meth:`process`.

        Returns:
            dict: ``{key: float}``, keys as in the class docstring.
        """
        classes = list(self.dataset_meta['classes'])
        if self.outfile_prefix is not None:
            write_coco_results(
                results, f'{self.outfile_prefix}.bbox.json',
                category_ids_from_json(self.ann_file, classes)
                if self.ann_file else range(len(classes)))
        if self.format_only:
            return {}
        arrays = concat_samples(results, len(classes))
        out = evaluate_detections(
            arrays, classes, self.metric,
            self.iou_thrs, self.legacy_coords,
            resolve_ignore_as(self.ignore_as,
                              self.dataset_meta.get('dataset_type', '')),
            self.score_thr, options=self.options)
        metrics = select_items(out.metrics, self.options.metric_items,
                               self.options.items(self.metric))
        if self.classwise:
            self._log_tables(out)
            metrics.update(per_class_scalars(out))
        if self.curve_dir is not None:
            self._write_curves(out)
        if self.analysis_dir is not None:
            self._write_analysis(arrays, classes)
        return metrics

    def _log_tables(self, out: DetectionResults) -> None:
        logger = MMLogger.get_current_instance()
        logger.info('\n' + format_ap_table(out.per_class, out.classes,
                                           out.num_gts, out.num_dets))
        for name, rows in out.curves.items():
            logger.info('\n' + format_prf_table(rows, self.score_thr, name,
                                                out.num_dets))
        without_gt = out.classes_without_gt
        if without_gt:
            logger.info(f'{len(without_gt)} classes without GT (no AP, no '
                        f'per-class key): {", ".join(without_gt)}')

    def _write_curves(self, out: DetectionResults) -> None:
        out_dir = self._output_dir(self.curve_dir, 'curve_dir')
        ap_name = next(m for m in self.metric if m in VOC_MODES)
        write_pr_curves(out.curves, out_dir, ap_name=ap_name)
        MMLogger.get_current_instance().info(
            f'PR curves written to {out_dir}')

    def _write_analysis(self, arrays, classes: Sequence[str]) -> None:
        out_dir = self._output_dir(self.analysis_dir, 'analysis_dir')
        analyze_detections(arrays, classes, out_dir,
                           score_thr=self.analysis_score_thr)
        MMLogger.get_current_instance().info(
            'error analysis (confusion matrix, TIDE errors, confidence '
            f'curves) written to {out_dir}')

    def _output_dir(self, out_dir: str, option: str) -> str:
        """``out_dir``; a relative one under the work dir when
        :class:`~mmext.engine.hooks.MetricWorkDirHook` set it, else under
        the current directory (with a warning)."""
        if osp.isabs(out_dir):
            return out_dir
        if self.work_dir is None:
            MMLogger.get_current_instance().warning(
                f'{option} {out_dir!r} goes under the current directory: '
                "add custom_hooks = [dict(type='mmext.MetricWorkDirHook')] "
                'to put it under the work dir')
        return osp.join(self.work_dir or '.', out_dir)


def _curve_dir(curve_dir: Optional[str], pr_curve_dir: Optional[str],
               metric: Sequence[str]) -> Optional[str]:
    """``curve_dir`` (or its former name), checked against ``metric``."""
    if curve_dir is not None and pr_curve_dir is not None \
            and curve_dir != pr_curve_dir:
        raise ValueError('give curve_dir or its former name pr_curve_dir, '
                         f'not both ({curve_dir!r} and {pr_curve_dir!r})')
    curve_dir = curve_dir if curve_dir is not None else pr_curve_dir
    if curve_dir is not None and not any(m in VOC_MODES for m in metric):
        raise ValueError(
            'curve_dir draws the PR curves of the VOC matching: add '
            f"'voc07' or 'voc12' to metric (got {tuple(metric)})")
    return curve_dir
