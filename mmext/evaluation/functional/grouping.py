"""Index helpers that replace per-image Python loops: detection order,
(detection, GT) pairs within the same image and class, segment reductions.
"""
from typing import Tuple

import numpy as np


def score_order(scores: np.ndarray, labels: np.ndarray,
                imgs: np.ndarray) -> np.ndarray:
    """Order detections by class, then score (descending), with ties kept
    in image order and then input order (a stable sort, like the VOC
    devkit's ``sort`` and pycocotools' ``mergesort``).

    Returns:
        np.ndarray: Indices that sort the detections.
    """
    # three stable passes, least significant key first; cheaper than
    # lexsort: inputs usually come image by image (timsort is linear on
    # sorted runs) and small label ranges use radix sort
    if len(imgs) < 2 or (imgs[1:] >= imgs[:-1]).all():
        # already in image order (results come image by image)
        order = stable_argsort(-scores)
    else:
        order = stable_argsort_int(imgs)
        order = order[stable_argsort(-scores[order])]
    return order[stable_argsort_int(labels[order])]


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind='stable')``, faster: NumPy's quicksort
    (vectorized on x86) and then, only where values tie, the tied entries
    put back in index order by a second quicksort of unique keys."""
    order = np.argsort(values)
    ranked = values[order]
    tied = ranked[1:] == ranked[:-1]
    if not tied.any():
        return order
    # runs of equal values keep their place; within a run, index order
    run = np.concatenate([[0], np.cumsum(~tied)])
    return order[np.argsort(run * len(values) + order)]


def stable_argsort_int(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of integers; non-negative keys below 2**30 take two
    16-bit radix passes (NumPy radix-sorts only 16-bit integers), which is
    several times faster than its int64 timsort."""
    keys = np.asarray(keys)
    if len(keys) == 0 or keys.min() < 0 or keys.max() >= 2**30:
        return np.argsort(keys, kind='stable')
    if keys.max() < 2**15:
        return np.argsort(keys.astype(np.int16), kind='stable')
    order = np.argsort((keys & 0x7FFF).astype(np.int16), kind='stable')
    hi = (keys[order] >> 15).astype(np.int16)
    return order[np.argsort(hi, kind='stable')]


def group_rank(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rank of each element within its group, ``order`` giving the ranking.

    Args:
        keys (np.ndarray): ``(N,)`` group keys.
        order (np.ndarray): A permutation putting elements in rank order
            (groups need not be contiguous).

    Returns:
        np.ndarray: ``(N,)`` int64, 0 for the first of each group.
    """
    k = keys[order]
    by_group = stable_argsort_int(k)
    ks = k[by_group]
    # start of each element's group: the last change at or before it
    position = np.arange(len(keys))
    start = np.zeros(len(keys), dtype=np.int64)
    if len(keys):
        start[1:] = np.where(ks[1:] != ks[:-1], position[1:], 0)
        np.maximum.accumulate(start, out=start)
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order[by_group]] = position - start
    return rank


def same_group_pairs(det_keys: np.ndarray,
                     gt_keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """All (detection, GT) index pairs sharing a key (image and class).

    Keys must be non-negative integers.

    Returns:
        tuple: ``det_idx`` and ``gt_idx`` (int64), grouped by detection in
        ascending detection index, GTs of a detection in ascending index.
    """
    g_order = np.argsort(gt_keys, kind='stable')
    num_keys = int(max(det_keys.max(initial=-1), gt_keys.max(initial=-1))) + 1
    if num_keys <= 4 * (len(det_keys) + len(gt_keys)) + 1024:
        # dense key space: a table lookup instead of a binary search
        counts_per_key = np.bincount(gt_keys, minlength=num_keys)
        starts_per_key = np.cumsum(counts_per_key) - counts_per_key
        start = starts_per_key[det_keys]
        counts = counts_per_key[det_keys]
    else:
        gk = gt_keys[g_order]
        start = np.searchsorted(gk, det_keys, side='left')
        counts = np.searchsorted(gk, det_keys, side='right') - start
    det_idx = np.repeat(np.arange(len(det_keys)), counts)
    offsets = np.cumsum(counts) - counts
    pos = start[det_idx] + np.arange(len(det_idx)) - offsets[det_idx]
    return det_idx, g_order[pos]


def segment_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start positions of runs of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(
        np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
