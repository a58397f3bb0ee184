from .ap import (VOC07_RECALL_THRS, ap_11point, ap_area, average_precision,
                 interpolated_precision)
from .coco import (COCO_AREA_RANGES, COCO_IOU_THRS, COCO_MAX_DETS,
                   COCO_RECALL_THRS, coco_eval)
from .coco_matching import coco_match
from .coco_summary import COCO_STAT_NAMES, summarize
from .iou import box_iou, paired_box_iou, paired_crowd_iou_xywh, xyxy_to_xywh
from .pr import best_f1_threshold, f1_score, prf_at_threshold
from .voc import voc_eval, voc_match
from .multilabel import *  # noqa: F401,F403
