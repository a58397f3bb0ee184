"""Greedy one-to-one matching of ranked detections to GTs, for the error
analyses (TIDE, confusion matrix, confidence curves); numpy only.

Each detection, best ranked first, takes the remaining GT with the highest
IoU (ties: the GT listed first) among its candidates, if that IoU reaches
the threshold; a taken GT is gone for later detections. This is the
matching of tidecv's ``TIDEExample`` and of pycocotools (which differs only
on exactly equal IoUs, where it keeps the GT listed last).
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .grouping import (group_rank, same_group_pairs, stable_argsort,
                       stable_argsort_int)
from .iou import paired_crowd_iou_xywh, xyxy_to_xywh
from .records import DetectionArrays


def rank_in_image(scores: np.ndarray, imgs: np.ndarray) -> Tuple[
        np.ndarray, np.ndarray]:
    """Order detections by image, then score (descending), then input order.

    Returns:
        tuple: ``global_rank`` (``(N,)`` int64, unique: the position in that
        order) and ``rank`` (``(N,)`` int64, position within its image).
    """
    imgs = np.asarray(imgs, np.int64)  # a list too
    order = stable_argsort(-np.asarray(scores, np.float64))
    order = order[stable_argsort_int(imgs[order])]
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


@dataclass
class PairIoU:
    """IoU of the overlapping (detection, GT) pairs of each image, computed
    once and shared by the analyses (a pair missing here has IoU 0).

    Regular GTs are those neither ``gt_ignore`` nor ``gt_crowd``; the others
    are ignore regions, whose overlap is the intersection over the
    detection's area (pycocotools' crowd IoU; tidecv uses it for every
    ignore region). IoU is pycocotools' box IoU on ``x, y, w, h`` boxes.

    Args:
        det (np.ndarray): ``(P,)`` detection of each regular pair, grouped
            by detection in ascending order.
        gt (np.ndarray): ``(P,)`` regular GT, ascending within a detection.
        iou (np.ndarray): ``(P,)`` IoU.
        region_det (np.ndarray): ``(R,)`` detection of each region pair.
        region_gt (np.ndarray): ``(R,)`` ignore-region GT.
        region_iou (np.ndarray): ``(R,)`` intersection over detection area.
        num_dets (int): Number of detections indexed.
        det_rank (np.ndarray): ``(N,)`` unique rank of each detection in
            the matching order (image, score descending, input order), as
            :func:`rank_in_image`; shared so that each analysis need not
            sort 500k scores again.
        img_rank (np.ndarray): ``(N,)`` position of each detection among
            all detections of its image (before any :meth:`select`).
    """
    det: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    region_det: np.ndarray
    region_gt: np.ndarray
    region_iou: np.ndarray
    num_dets: int
    det_rank: np.ndarray
    img_rank: np.ndarray

    def select(self, keep: np.ndarray) -> 'PairIoU':
        """The pairs of the detections where ``keep`` (bool ``(N,)``) is
        True, detections renumbered ``0..keep.sum() - 1`` in order (their
        ranks are kept: still unique and in the same order)."""
        new = np.cumsum(keep) - 1
        a = keep[self.det]
        b = keep[self.region_det]
        return PairIoU(new[self.det[a]], self.gt[a], self.iou[a],
                       new[self.region_det[b]], self.region_gt[b],
                       self.region_iou[b], int(keep.sum()),
                       self.det_rank[keep], self.img_rank[keep])


def pair_ious(arrays: DetectionArrays) -> PairIoU:
    """All same-image (detection, GT) pairs of ``arrays`` that overlap
    (IoU > 0), with their IoU, and the detections' ranks."""
    det_imgs = np.asarray(arrays.det_imgs, np.int64)
    gt_imgs = np.asarray(arrays.gt_imgs, np.int64)
    det_xywh = boxes_xywh(arrays.det_boxes, arrays.box_format)
    gt_xywh = boxes_xywh(arrays.gt_boxes, arrays.box_format)
    region = np.asarray(arrays.gt_ignore, bool) | np.asarray(
        arrays.gt_crowd, bool)
    # per axis: contiguous low and high ends, the high end as pycocotools
    # sums it (w + x), so the overlaps below have the same zeros as its IoU
    ends = [(np.ascontiguousarray(b[:, axis]), b[:, axis + 2] + b[:, axis])
            for b in (det_xywh, gt_xywh) for axis in (0, 1)]
    out = []
    for members, crowd in ((np.flatnonzero(~region), False),
                           (np.flatnonzero(region), True)):
        d, j = same_group_pairs(det_imgs, gt_imgs[members])
        g = members[j]
        # most pairs of an image do not overlap: drop them axis by axis
        # before the full IoU
        for (lo_d, hi_d), (lo_g, hi_g) in zip(ends[:2], ends[2:]):
            overlap = np.minimum(hi_d[d], hi_g[g]) > np.maximum(lo_d[d],
                                                                 lo_g[g])
            d, g = d[overlap], g[overlap]
        out += [d, g, paired_crowd_iou_xywh(det_xywh[d], gt_xywh[g],
                                            np.full(len(d), crowd))]
    return PairIoU(*out, len(det_imgs),
                   *rank_in_image(arrays.det_scores, det_imgs))


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
    keep = iou >= iou_thr
    return greedy_match_sorted(*sort_candidates(
        det_rank, det_idx[keep], gt_idx[keep], iou[keep])[:3], num_dets,
        num_gts)


def sort_candidates(det_rank: np.ndarray, det_idx: np.ndarray,
                    gt_idx: np.ndarray, iou: np.ndarray) -> Tuple[
                        np.ndarray, ...]:
    """Candidate pairs in the order :func:`greedy_match_sorted` takes:
    grouped by detection in rank order, its preferred GT last (highest
    IoU, then the GT listed first). A subset keeps the order, so pairs
    sorted once serve every IoU threshold.

    Returns:
        tuple: ``det_idx``, ``gt_idx``, ``det_rank`` of each pair and
        ``iou``, sorted.
    """
    srt = np.lexsort((-gt_idx, iou, det_rank[det_idx]))
    d = det_idx[srt]
    return d, gt_idx[srt], det_rank[d], iou[srt]


def greedy_match_sorted(d: np.ndarray, g: np.ndarray, dkey: np.ndarray,
                        num_dets: int, num_gts: int) -> np.ndarray:
    """:func:`greedy_match` of pairs above the threshold, sorted by
    :func:`sort_candidates`: ``d`` detection, ``g`` GT, ``dkey`` the
    detection's rank."""
    match = np.full(num_dets, -1, dtype=np.int64)
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
