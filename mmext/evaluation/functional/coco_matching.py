"""pycocotools' greedy detection-to-GT matching, for all IoU thresholds and
area ranges at once.

pycocotools matches one (image, class) at a time, one detection at a time,
in score order: a detection takes, among the GTs with IoU ``>= t`` not yet
taken (crowd GTs are never taken), a non-ignored one if any, the highest
IoU, ties to the later GT.

Here every (threshold, area range) combination and every image are matched
together in rounds: each unsettled detection proposes its best still-free
GT; a proposal is accepted when no higher ranked unsettled detection wants
that GT too. The accepted pairs are exactly the greedy ones (a detection is
only settled once nothing ranked above it can interfere), and the top
unsettled detection is settled every round, so it terminates; in practice
after a few rounds.
"""
from typing import List, Tuple

import numpy as np

from .grouping import same_group_pairs, stable_argsort
from .iou import paired_crowd_iou_xywh

_NO_DETECTION = np.iinfo(np.int64).max


def coco_match(det_keys: np.ndarray, det_xywh: np.ndarray,
               gt_xywh: np.ndarray, gt_keys: np.ndarray,
               gt_iscrowd: np.ndarray, gt_ignored: np.ndarray,
               iou_thrs: np.ndarray) -> List[List[np.ndarray]]:
    """Greedy pycocotools matching for all thresholds and area ranges.

    Args:
        det_keys (np.ndarray): ``(N,)`` (image, class) key of each
            detection, detections in rank order (best first).
        det_xywh (np.ndarray): ``(N, 4)`` boxes in rank order.
        gt_xywh (np.ndarray): ``(G, 4)`` GT boxes.
        gt_keys (np.ndarray): ``(G,)`` (image, class) key of each GT.
        gt_iscrowd (np.ndarray): ``(G,)`` bool: crowd regions, matched with
            intersection over detection area and never taken. Only these:
            other ignored GTs are matched once, like regular ones.
        gt_ignored (np.ndarray): ``(A, G)`` bool, GT ignored in area range a
            (crowd, ignore flag or area outside the range).
        iou_thrs (np.ndarray): ``(T,)`` thresholds.

    Returns:
        list: ``matches[t][a]`` is a ``(2, P)`` int64 array of matched
        (detection, GT) pairs, detections ascending; unmatched detections
        are absent.
    """
    num_areas = len(gt_ignored)
    num_dets = len(det_keys)
    # pycocotools compares with min(t, 1 - 1e-10)
    thrs = np.minimum(iou_thrs, 1 - 1e-10)
    pairs = candidate_pairs(det_keys, det_xywh, gt_xywh, gt_keys,
                            gt_iscrowd, thrs.min())
    gt_group, rematch = groups_to_rematch(gt_keys, gt_ignored)
    by_area = [
        preference_order(pairs, gt_ignored[a], rematch[a][gt_group[pairs[1]]])
        for a in range(num_areas)
    ]
    # all (threshold, area range) combinations side by side: combination c
    # holds detection d under the key c * num_dets + d
    det_key, gt_idx = [], []
    for t, thr in enumerate(thrs):
        for a, (det, gt, iou) in enumerate(by_area):
            keep = iou >= thr
            det_key.append(det[keep] + (t * num_areas + a) * num_dets)
            gt_idx.append(gt[keep])
    del by_area, pairs
    det_key, gt_idx = greedy_rounds(np.concatenate(det_key),
                                    np.concatenate(gt_idx), num_dets,
                                    gt_iscrowd)
    bounds = np.searchsorted(det_key,
                             np.arange(len(thrs) * num_areas + 1) * num_dets)
    matches = []
    for t in range(len(thrs)):
        per_area = []
        for a in range(num_areas):
            c = t * num_areas + a
            det = det_key[bounds[c]:bounds[c + 1]] - c * num_dets
            gt = gt_idx[bounds[c]:bounds[c + 1]]
            if a > 0:
                det, gt = _with_copied_groups(det, gt, *per_area[0],
                                              rematch[a][gt_group])
            per_area.append((det, gt))
        matches.append([np.stack(pair) for pair in per_area])
    return matches


def candidate_pairs(det_keys: np.ndarray, det_xywh: np.ndarray,
                    gt_xywh: np.ndarray, gt_keys: np.ndarray,
                    gt_iscrowd: np.ndarray, min_thr: float
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detection, GT, IoU) of the same image and class with IoU at least
    the lowest threshold, by detection, then IoU, then GT (ascending)."""
    det, gt = same_group_pairs(det_keys, gt_keys)
    iou = paired_crowd_iou_xywh(det_xywh[det], gt_xywh[gt], gt_iscrowd[gt])
    close = iou >= min_thr
    det, gt, iou = det[close], gt[close], iou[close]
    # pairs come by detection, GTs ascending within one: a stable sort by
    # (detection, IoU) keeps that GT order among equal IoUs. One sort of
    # the key (detection, stable IoU rank), all keys distinct, is twice as
    # fast as np.lexsort
    num = len(iou)
    if num and int(det[-1]) < (1 << 62) // num:
        rank = np.empty(num, np.int64)
        rank[stable_argsort(iou)] = np.arange(num)
        order = np.argsort(det * num + rank)
    else:  # the key would overflow
        order = np.lexsort((iou, det))
    return det[order], gt[order], iou[order]


def groups_to_rematch(gt_keys: np.ndarray, gt_ignored: np.ndarray
                      ) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Which (image, class) groups need matching again per area range.

    A group whose GTs are all ignored or all regular, under area range a
    and under area range 0, is matched the same under both: the preference
    then looks at IoU only. Area range 0 is always matched; the others
    only for the remaining groups, and copy range 0 for the rest.

    Returns:
        tuple: ``gt_group`` ``(G,)`` group index of each GT and, per area
        range, ``(num_groups,)`` bool: matched again.
    """
    _, gt_group = np.unique(gt_keys, return_inverse=True)
    num_groups = int(gt_group.max(initial=-1)) + 1
    group_size = np.bincount(gt_group, minlength=num_groups)
    mixed = []
    for ignored in gt_ignored:
        regular = np.bincount(gt_group[~ignored], minlength=num_groups)
        mixed.append((regular > 0) & (regular < group_size))
    rematch = [np.ones(num_groups, bool)] + [m | mixed[0] for m in mixed[1:]]
    return gt_group, rematch


def preference_order(pairs: Tuple[np.ndarray, np.ndarray, np.ndarray],
                     gt_ignored: np.ndarray, keep: np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept pairs, each detection's candidates by preference, the best
    last: ignored GTs before regular ones, then by IoU, then by GT index."""
    det, gt, iou = (x[keep] for x in pairs)
    # already sorted by detection: a stable pass on (det, regular) is near
    # linear
    order = np.argsort(det * 2 + ~gt_ignored[gt], kind='stable')
    return det[order], gt[order], iou[order]


def greedy_rounds(det_key: np.ndarray, gt_idx: np.ndarray, num_dets: int,
                  gt_iscrowd: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Settle every detection's match, in rounds (see the module docstring).

    Args:
        det_key (np.ndarray): ``(P,)`` ``combination * num_dets +
            detection`` of each candidate pair; a detection's candidates
            contiguous, its preferred one last.
        gt_idx (np.ndarray): ``(P,)`` GT of each candidate pair.
        num_dets (int): Detections per combination.
        gt_iscrowd (np.ndarray): ``(G,)`` bool, crowd GTs (never taken).

    Returns:
        tuple: Matched ``det_key`` (ascending) and GT indices.
    """
    if not len(det_key):
        return det_key, gt_idx
    # a GT is taken per combination: one slot per (combination, GT), over
    # the GTs that are candidates somewhere when all GTs would be too many
    num_combos = int(det_key.max()) // num_dets + 1
    if num_combos * len(gt_iscrowd) <= 4 * len(det_key) + 1024:
        gt_slot, num_gts = gt_idx, len(gt_iscrowd)
    else:
        used_gt, gt_slot = np.unique(gt_idx, return_inverse=True)
        num_gts = len(used_gt)
    num_slots = num_combos * num_gts
    gt_key = det_key // num_dets * num_gts + gt_slot
    del gt_slot
    crowd = gt_iscrowd[gt_idx]
    top_wanting = np.full(num_slots, _NO_DETECTION)
    taken = np.zeros(num_slots, dtype=bool)
    matched_det, matched_gt = [], []
    while len(det_key):
        # each detection proposes its best remaining GT (its last entry)
        proposal = np.ones(len(det_key), dtype=bool)
        proposal[:-1] = det_key[1:] != det_key[:-1]
        # the highest ranked unsettled detection still wanting each GT
        np.minimum.at(top_wanting, gt_key, det_key)
        accept = proposal & (crowd | (top_wanting[gt_key] == det_key))
        top_wanting[gt_key] = _NO_DETECTION
        matched_det.append(det_key[accept])
        matched_gt.append(gt_idx[accept])
        taken[gt_key[accept & ~crowd]] = True
        # drop settled detections (all their entries) and taken GTs
        det_of = np.cumsum(np.concatenate([[True], proposal[:-1]])) - 1
        settled = np.zeros(det_of[-1] + 1, dtype=bool)
        settled[det_of[accept]] = True
        alive = ~settled[det_of] & ~taken[gt_key]
        det_key, gt_key, gt_idx, crowd = (det_key[alive], gt_key[alive],
                                          gt_idx[alive], crowd[alive])
    matched_det = np.concatenate(matched_det)
    order = np.argsort(matched_det, kind='stable')
    return matched_det[order], np.concatenate(matched_gt)[order]


def _with_copied_groups(det: np.ndarray, gt: np.ndarray, det0: np.ndarray,
                        gt0: np.ndarray, rematched: np.ndarray
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Matches of an area range: its own, plus area range 0's in the groups
    it did not match again (``rematched``: per GT), by detection."""
    copied = ~rematched[gt0]
    det = np.concatenate([det0[copied], det])
    gt = np.concatenate([gt0[copied], gt])
    order = np.argsort(det, kind='stable')
    return det[order], gt[order]
