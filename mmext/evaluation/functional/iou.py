"""Box IoU: exact (COCO), legacy +1 pixel (VOC devkit) and crowd IoU.

All functions work on float64 copies so that results do not depend on the
input dtype; the reference implementations differ here (mmdet's numpy
``bbox_overlaps`` computes in float32, the VOC devkit and pycocotools in
double), see :func:`box_iou`.
"""
import numpy as np


def box_iou(boxes1: np.ndarray,
            boxes2: np.ndarray,
            legacy_coords: bool = False) -> np.ndarray:
    """IoU of every box in ``boxes1`` with every box in ``boxes2``.

    Args:
        boxes1 (np.ndarray): ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        boxes2 (np.ndarray): ``(M, 4)`` boxes ``x1, y1, x2, y2``.
        legacy_coords (bool): VOC devkit convention: a box covers
            ``x2 - x1 + 1`` pixels. Defaults to False.

    Returns:
        np.ndarray: ``(N, M)`` float64 IoU. Computed in double like the VOC
        devkit; mmdet's ``bbox_overlaps`` uses float32, which can differ in
        the last float32 bit (never at a threshold on integer pixel boxes).
    """
    b1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 1, 4)
    b2 = np.asarray(boxes2, dtype=np.float64).reshape(1, -1, 4)
    return paired_box_iou(b1, b2, legacy_coords)


def paired_box_iou(boxes1: np.ndarray,
                   boxes2: np.ndarray,
                   legacy_coords: bool = False) -> np.ndarray:
    """IoU of broadcast pairs of ``x1, y1, x2, y2`` boxes (last axis 4).

    Args:
        boxes1 (np.ndarray): ``(..., 4)`` boxes.
        boxes2 (np.ndarray): ``(..., 4)`` boxes, broadcastable with
            ``boxes1``.
        legacy_coords (bool): Add 1 to widths and heights (VOC devkit).

    Returns:
        np.ndarray: float64 IoU of the broadcast shape without the last axis.
    """
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    extra = 1.0 if legacy_coords else 0.0
    area1 = (b1[..., 2] - b1[..., 0] + extra) * (b1[..., 3] - b1[..., 1] +
                                                 extra)
    area2 = (b2[..., 2] - b2[..., 0] + extra) * (b2[..., 3] - b2[..., 1] +
                                                 extra)
    iw = np.minimum(b1[..., 2], b2[..., 2]) - np.maximum(
        b1[..., 0], b2[..., 0]) + extra
    ih = np.minimum(b1[..., 3], b2[..., 3]) - np.maximum(
        b1[..., 1], b2[..., 1]) + extra
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = area1 + area2 - inter
    # zero-area boxes: IoU 0 instead of 0/0 (mmdet clamps the union by eps)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return iou


def paired_crowd_iou_xywh(dets: np.ndarray, gts: np.ndarray,
                          gt_iscrowd: np.ndarray) -> np.ndarray:
    """pycocotools' box IoU of paired ``x, y, w, h`` boxes, crowd-aware.

    Reproduces ``maskUtils.iou`` (``bbIou`` in ``maskApi.c``) operation by
    operation, so results are bit-identical: right edges are ``x + w``, and
    for a crowd GT the union is the detection's area (intersection over
    detection), so one crowd region can absorb many detections.

    Args:
        dets (np.ndarray): ``(P, 4)`` detection boxes ``x, y, w, h``.
        gts (np.ndarray): ``(P, 4)`` GT boxes ``x, y, w, h``.
        gt_iscrowd (np.ndarray): ``(P,)`` bool, whether the GT is a crowd.

    Returns:
        np.ndarray: ``(P,)`` float64 IoU.
    """
    d = np.asarray(dets, dtype=np.float64)
    g = np.asarray(gts, dtype=np.float64)
    da = d[:, 2] * d[:, 3]
    ga = g[:, 2] * g[:, 3]
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(
        d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(
        d[:, 1], g[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    union = np.where(np.asarray(gt_iscrowd, dtype=bool), da, da + ga - inter)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(overlap, inter / np.where(overlap, union, 1), 0.0)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Convert ``x1, y1, x2, y2`` to ``x, y, w, h`` (``w = x2 - x1``), as
    mmdet's CocoMetric does before handing boxes to pycocotools."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
