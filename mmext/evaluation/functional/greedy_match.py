"""Greedy one-to-one matching of ranked detections to GTs, for the error
analyses (TIDE, confusion matrix, confidence curves); numpy only.

Each detection, best ranked first, takes the remaining GT with the highest
IoU (ties: the GT listed first) among its candidates, if that IoU reaches
the threshold; a taken GT is gone for later detections. This is the
matching of tidecv's ``TIDEExample`` and of pycocotools (which differs only
on exactly equal IoUs, where it keeps the GT listed last).
"""
from typing import Tuple

import numpy as np

from .grouping import group_rank, same_group_pairs
from .iou import xyxy_to_xywh


def rank_in_image(scores: np.ndarray, imgs: np.ndarray) -> Tuple[
        np.ndarray, np.ndarray]:
    """Order detections by image, then score (descending), then input order.

    Returns:
        tuple: ``global_rank`` (``(N,)`` int64, unique: the position in that
        order) and ``rank`` (``(N,)`` int64, position within its image).
    """
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores), imgs))
    global_rank = np.empty(len(scores), dtype=np.int64)
    global_rank[order] = np.arange(len(scores))
    return global_rank, group_rank(imgs, order)


def boxes_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """``(N, 4)`` float64 boxes as ``x1, y1, x2, y2``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if box_format == 'xyxy':
        return b
    if box_format == 'xywh':
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    raise ValueError(f"box_format must be 'xyxy' or 'xywh', got "
                     f'{box_format!r}')


def boxes_xywh(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """``(N, 4)`` float64 boxes as ``x, y, w, h`` (pycocotools' form)."""
    if box_format == 'xywh':
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return xyxy_to_xywh(boxes_xyxy(boxes, box_format))


def image_pairs(det_imgs: np.ndarray,
                gt_imgs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Every (detection, GT) index pair of the same image.

    Returns:
        tuple: ``det_idx`` and ``gt_idx`` (int64), grouped by detection,
        GTs in ascending index.
    """
    return same_group_pairs(np.asarray(det_imgs, np.int64),
                            np.asarray(gt_imgs, np.int64))


def greedy_match(det_rank: np.ndarray, det_idx: np.ndarray,
                 gt_idx: np.ndarray, iou: np.ndarray, iou_thr: float,
                 num_dets: int, num_gts: int) -> np.ndarray:
    """Greedy one-to-one matching over candidate pairs.

    Args:
        det_rank (np.ndarray): ``(N,)`` unique int rank of each detection
            (lower goes first), e.g. from :func:`rank_in_image`.
        det_idx (np.ndarray): ``(P,)`` detection of each candidate pair.
        gt_idx (np.ndarray): ``(P,)`` GT of each candidate pair.
        iou (np.ndarray): ``(P,)`` IoU of each pair.
        iou_thr (float): A pair matches when ``iou >= iou_thr``.
        num_dets (int): Number of detections ``N``.
        num_gts (int): Number of GTs.

    Returns:
        np.ndarray: ``(N,)`` int64 matched GT of each detection, -1 if none.
    """
    match = np.full(num_dets, -1, dtype=np.int64)
    keep = iou >= iou_thr
    d, g, v = det_idx[keep], gt_idx[keep], iou[keep]
    # candidates of one detection contiguous, its preferred GT last:
    # highest IoU, then the GT listed first
    srt = np.lexsort((-g, v, det_rank[d]))
    dkey, g = det_rank[d][srt], g[srt]
    d = d[srt]
    big = np.iinfo(np.int64).max
    top = np.full(num_gts, big)
    while len(dkey):
        last = np.ones(len(dkey), dtype=bool)
        last[:-1] = dkey[1:] != dkey[:-1]
        # a detection takes its preferred GT when no better ranked detection
        # still has that GT among its candidates (then the sequential greedy
        # pass would give it the same GT)
        np.minimum.at(top, g, dkey)
        accept = last & (top[g] == dkey)
        top[g] = big
        match[d[accept]] = g[accept]
        taken = np.zeros(num_gts, dtype=bool)
        taken[g[accept]] = True
        alive = (match[d] < 0) & ~taken[g]
        dkey, g, d = dkey[alive], g[alive], d[alive]
    return match
