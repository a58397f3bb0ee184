from .ap import (COCO_RECALL_THRS, VOC07_RECALL_THRS, ap_11point, ap_101point,
                 ap_area, average_precision, interpolated_precision)
from .coco import (COCO_AREA_LABELS, COCO_AREA_RANGES, COCO_IOU_THRS,
                   COCO_MAX_DETS, COCO_STAT_NAMES, coco_eval, coco_match,
                   summarize)
from .iou import box_iou, paired_box_iou, paired_crowd_iou_xywh, xyxy_to_xywh
from .pr import best_f1_threshold, f1_score, pr_curve, prf_at_threshold
from .voc import voc_eval, voc_match
from .multilabel import *  # noqa: F401,F403
