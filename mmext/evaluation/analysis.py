""""Why is my mAP low?": the confusion matrix, TIDE error breakdown and
confidence curves of one set of detections, written as JSON + PNG.

The one entry used by :class:`~mmext.evaluation.metrics.DetectionAP`
(``analysis_dir``) and ``tools/analysis/eval_dets.py --analyze``.
"""
import os
import os.path as osp
from typing import Dict, Sequence

from mmext.evaluation.functional.confidence import confidence_curves
from mmext.evaluation.functional.confusion import (confusion_matrix,
                                                   confusion_matrix_mmdet)
from mmext.evaluation.functional.greedy_match import pair_ious
from mmext.evaluation.functional.records import DetectionArrays
from mmext.evaluation.functional.tide import TIDE_COCO_THRS, tide_errors
from mmext.visualization.confidence_plot import write_confidence_curves
from mmext.visualization.confusion_plot import write_confusion_matrix
from mmext.visualization.tide_plot import write_tide

#: the files :func:`analyze_detections` writes, in its ``out_dir``
ANALYSIS_FILES = ('confusion_matrix.json', 'confusion_matrix.png',
                  'tide.json', 'tide.png', 'confidence_curves.json',
                  'confidence_curves.png')


def analyze_detections(arrays: DetectionArrays,
                       class_names: Sequence[str],
                       out_dir: str,
                       score_thr: float = 0.3,
                       iou_thr: float = 0.5,
                       tide_iou_thrs: Sequence[float] = TIDE_COCO_THRS
                       ) -> Dict:
    """Compute and write the error analysis of ``arrays`` into ``out_dir``.

    Writes ``confusion_matrix.{json,png}`` (one-to-one matching at
    ``score_thr`` / ``iou_thr``; the JSON also holds mmdet's counting as
    ``matrix_mmdet``, see :mod:`~mmext.evaluation.functional.confusion`),
    ``tide.{json,png}`` (TIDE at foreground IoU 0.5 and background IoU 0.1,
    plus the average over ``tide_iou_thrs``) and
    ``confidence_curves.{json,png}`` (TP at ``iou_thr``). Each file is
    written atomically.

    Args:
        arrays (DetectionArrays): Detections and GT.
        class_names (Sequence[str]): One name per class.
        out_dir (str): Output folder, created if missing.
        score_thr (float): Confusion matrix score threshold. Defaults to 0.3
            (mmdet's ``confusion_matrix.py``).
        iou_thr (float): IoU of a match for the confusion matrix and the
            confidence curves. Defaults to 0.5.
        tide_iou_thrs (Sequence[float]): Foreground thresholds of TIDE's
            COCO variant; empty to skip it.

    Returns:
        dict: ``out_dir``, ``files`` (paths written), ``confusion_matrix``
        (counts), ``tide`` (the TIDE result), ``best_f1`` (the best mean-F1
        threshold with its P/R/F1).
    """
    if len(class_names) != arrays.num_classes:
        raise ValueError(f'{len(class_names)} class names for '
                         f'{arrays.num_classes} classes')
    os.makedirs(out_dir, exist_ok=True)
    files = [osp.join(out_dir, f) for f in ANALYSIS_FILES]

    pairs = pair_ious(arrays)  # the IoUs all three analyses share
    matrix = confusion_matrix(arrays, score_thr, iou_thr, pairs)
    write_confusion_matrix(
        files[0], files[1], matrix, class_names, score_thr=score_thr,
        iou_thr=iou_thr, matching='one-to-one',
        matrix_mmdet=confusion_matrix_mmdet(arrays, score_thr, iou_thr,
                                            pairs))
    tide = tide_errors(arrays, iou_thrs=tide_iou_thrs, pairs=pairs)
    write_tide(files[2], files[3], tide)
    curves = confidence_curves(arrays, iou_thr, pairs=pairs)
    write_confidence_curves(files[4], files[5], curves, class_names)
    return dict(out_dir=out_dir, files=files, confusion_matrix=matrix,
                tide=tide, best_f1=curves['mean']['best'])
