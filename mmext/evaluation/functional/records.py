"""The one typed record of detection arrays that every evaluator, analysis
and writer in mmext consumes (numpy only).

Shells build it from mmdet data samples (:mod:`mmext.evaluation.samples`)
or from COCO / VOC files; the functional core never sees a data sample.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np


@dataclass
class DetectionArrays:
    """Detections and ground truth of a whole data set, flat over images.

    Image ``i`` is the ``i``-th entry of ``img_ids``; its position also
    breaks score ties between images (earlier images rank first, as in the
    VOC devkit and pycocotools).

    Args:
        det_boxes (np.ndarray): ``(N, 4)`` float64 detection boxes, in
            ``box_format``.
        det_scores (np.ndarray): ``(N,)`` float64 confidences.
        det_labels (np.ndarray): ``(N,)`` int64 class indices in
            ``[0, num_classes)``.
        det_imgs (np.ndarray): ``(N,)`` int64 image index of each detection.
        gt_boxes (np.ndarray): ``(G, 4)`` float64 GT boxes, in
            ``box_format``.
        gt_labels (np.ndarray): ``(G,)`` int64 class indices.
        gt_imgs (np.ndarray): ``(G,)`` int64 image index of each GT.
        gt_ignore (np.ndarray): ``(G,)`` bool, an ignore region: VOC
            ``difficult``, mmdet ``ignore_flag`` (boxes under
            ``bbox_min_size`` too). VOC metrics never count it; COCO-style
            evaluation treats it as the evaluator's ``ignore_as`` says.
        gt_crowd (np.ndarray): ``(G,)`` bool, a COCO ``iscrowd`` region:
            may absorb several detections, IoU over the detection's area.
            Ignored by VOC metrics.
        num_classes (int): Number of classes (labels index class names).
        img_ids (list): One id per image (file stem, COCO image id, ...),
            used in messages and outputs.
        box_format (str): ``'xyxy'`` (mmdet) or ``'xywh'`` (COCO json,
            evaluated COCO-style as is so that numbers equal pycocotools).
        gt_areas (np.ndarray, optional): ``(G,)`` float64 COCO ``area`` of
            each GT (segmentation area), which COCO area ranges use instead
            of the box area. None: box areas.
        gt_ids (np.ndarray, optional): ``(G,)`` int64 COCO annotation ids,
            needed only to reproduce pycocotools' handling of id 0.
    """
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_labels: np.ndarray
    det_imgs: np.ndarray
    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    gt_imgs: np.ndarray
    gt_ignore: np.ndarray
    gt_crowd: np.ndarray
    num_classes: int
    img_ids: List = field(default_factory=list)
    box_format: str = 'xyxy'
    gt_areas: Optional[np.ndarray] = None
    gt_ids: Optional[np.ndarray] = None

    @property
    def num_images(self) -> int:
        """Number of images (including images without GT or detections)."""
        return len(self.img_ids)
