"""mmdet's own VOC evaluation of data samples: the independent oracle of
the DetectionAP and eval_dets tests."""
import copy
from typing import List, Tuple


def mmdet_eval_map(meta: dict, samples: List[dict],
                   mode: str = '11points') -> Tuple[float, list]:
    """mmdet's ``eval_map`` at IoU 0.5 on the annotations and detections
    that its ``VOCMetric`` collects from ``samples``, with the same options
    as ``VOCMetric`` (legacy coordinates).

    Returns:
        tuple: ``(mAP, per-class results)``, each result a dict with
        ``num_gts`` and ``ap`` (0 for a class without GT).
    """
    from mmdet.evaluation import VOCMetric, eval_map
    ref = VOCMetric(iou_thrs=[0.5], eval_mode=mode)
    ref.dataset_meta = meta
    ref.process({}, copy.deepcopy(samples))
    gts, dets = zip(*ref.results)
    return eval_map(list(dets), list(gts), iou_thr=0.5, eval_mode=mode,
                    dataset=meta['classes'], logger='silent',
                    use_legacy_coordinate=True)
