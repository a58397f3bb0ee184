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
    return _iou_of_sides([b1[..., c] for c in range(4)],
                         [b2[..., c] for c in range(4)], legacy_coords)


def paired_box_iou_at(boxes1: np.ndarray, idx1: np.ndarray,
                      boxes2: np.ndarray, idx2: np.ndarray,
                      legacy_coords: bool = False) -> np.ndarray:
    """``paired_box_iou(boxes1[idx1], boxes2[idx2])``, without building
    the gathered ``(P, 4)`` boxes: each coordinate is gathered on its own,
    which is several times faster for 100k+ pairs.

    Args:
        boxes1 (np.ndarray): ``(N, 4)`` boxes ``x1, y1, x2, y2``, float32
            or float64.
        idx1 (np.ndarray): ``(P,)`` indices into ``boxes1``.
        boxes2 (np.ndarray): ``(M, 4)`` boxes.
        idx2 (np.ndarray): ``(P,)`` indices into ``boxes2``.
        legacy_coords (bool): Add 1 to widths and heights (VOC devkit).

    Returns:
        np.ndarray: ``(P,)`` float64 IoU, bit-equal to
        :func:`paired_box_iou` of the gathered boxes.
    """
    # a row gather, then strided columns: cheaper than gathering each
    # column (NumPy copies a strided column whole before ``take``)
    # (float32 boxes are converted after the gather: exact either way)
    b1 = np.asarray(boxes1).take(idx1, axis=0).astype(np.float64, copy=False)
    b2 = np.asarray(boxes2).take(idx2, axis=0).astype(np.float64, copy=False)
    return _iou_of_sides([b1[:, c] for c in range(4)],
                         [b2[:, c] for c in range(4)], legacy_coords)


def _iou_of_sides(a: list, b: list, legacy_coords: bool) -> np.ndarray:
    """IoU from the four coordinate arrays ``x1, y1, x2, y2`` of each side
    (float64, broadcastable)."""
    extra = 1.0 if legacy_coords else 0.0
    # in place where possible (fewer 100k+ temporaries), in the operation
    # order of the devkit's formula so results are bit-stable
    area1 = _side(a[2], a[0], extra) * _side(a[3], a[1], extra)
    area2 = _side(b[2], b[0], extra) * _side(b[3], b[1], extra)
    # asarray: single boxes give NumPy scalars, which cannot be updated
    iw = np.asarray(np.minimum(a[2], b[2]))
    iw -= np.maximum(a[0], b[0])
    iw += extra
    ih = np.asarray(np.minimum(a[3], b[3]))
    ih -= np.maximum(a[1], b[1])
    ih += extra
    inter = np.maximum(iw, 0, out=iw)
    inter *= np.maximum(ih, 0, out=ih)
    union = area1 + area2
    union -= inter
    # zero-area boxes: IoU 0 instead of 0/0 (mmdet clamps the union by eps)
    with np.errstate(divide='ignore', invalid='ignore'):
        inter /= union
    inter[~(union > 0)] = 0.0
    return inter


def _side(hi: np.ndarray, lo: np.ndarray, extra: float) -> np.ndarray:
    """``hi - lo + extra``: a box width or height."""
    side = hi - lo
    side += extra
    return side


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
