"""Index helpers that replace per-image Python loops: detection order,
(detection, GT) pairs within the same image and class, segment reductions.
"""
from typing import Optional, Tuple

import numpy as np


def score_order(scores: np.ndarray, labels: np.ndarray,
                imgs: np.ndarray) -> np.ndarray:
    """Order detections by class, then score (descending), with ties kept
    in image order and then input order (a stable sort, like the VOC
    devkit's ``sort`` and pycocotools' ``mergesort``).

    Returns:
        np.ndarray: Indices that sort the detections.
    """
    in_image_order = len(imgs) < 2 or bool((imgs[1:] >= imgs[:-1]).all())
    # image order first: then input position breaks every remaining tie
    by_img = None if in_image_order else stable_argsort_int(imgs)
    if by_img is not None:
        scores, labels = scores[by_img], labels[by_img]
    order = packed_class_score_order(scores, labels)
    if order is None:
        # three stable passes, least significant key first; timsort is
        # linear on the sorted runs of the input, labels are radix-sorted
        order = stable_argsort(-scores)
        order = order[stable_argsort_int(labels[order])]
    return order if by_img is None else by_img[order]


def packed_class_score_order(scores: np.ndarray,
                             labels: np.ndarray) -> Optional[np.ndarray]:
    """Stable order by label, then score descending, sorting packed keys.

    Detections are grouped by label (a radix sort), then each group's
    scores and positions are packed into one unsigned 64-bit key per
    detection (all distinct), so NumPy's unstable quicksort on the keys
    alone gives the stable order: about 3x faster than stable sorts of the
    scores, and sorting groups rather than everything saves another 15%.
    Scores must be exact float32 values (what models output).

    Returns:
        np.ndarray | None: The order, or None when the key does not fit
        (scores that are not float32 values, labels negative or above
        the number of detections).
    """
    n = len(scores)
    # (labels above n would make the class table below larger than n)
    if n == 0 or labels.min() < 0 or labels.max() > n:
        return None
    rank = descending_float32_bits(scores)
    position_bits = max(int(n - 1).bit_length(), 1)
    if rank is None or 32 + position_bits > 64:
        return None
    by_label = stable_argsort_int(labels)
    key = rank[by_label].astype(np.uint64)
    key <<= np.uint64(position_bits)
    key |= by_label.astype(np.uint64)
    ends = np.cumsum(np.bincount(labels))
    for start, end in zip(np.append(0, ends[:-1]), ends):
        key[start:end].sort()
    key &= np.uint64((1 << position_bits) - 1)
    return key.view(np.int64)  # positions < 2**63: the same values


def descending_float32_bits(values: np.ndarray) -> Optional[np.ndarray]:
    """Unsigned 32-bit integers whose ascending order is the descending
    order of ``values`` (equal values, -0.0 and 0.0 included, get equal
    integers), or None when a value is not exactly a float32 (or is NaN).
    """
    if values.dtype == np.float32:
        v32 = values
    else:
        v32 = values.astype(np.float32)
        if not np.array_equal(v32, values):  # NaN fails here too
            return None
    if np.isnan(v32).any():
        return None
    # + 0.0 turns -0.0 into 0.0; then IEEE bits order like sign-magnitude
    # integers: flip negatives entirely and positives' sign bit to order
    # them as unsigned, and everything once more to descend
    bits = (v32 + np.float32(0)).view(np.int32)
    bits ^= ~((bits >> 31) | np.int32(-2**31))
    return bits.view(np.uint32)


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
        # most detections meet no GT of their key: only the others go on
        dets = np.flatnonzero(counts_per_key[det_keys])
        keys = det_keys[dets]
        counts = counts_per_key[keys]
        start = (np.cumsum(counts_per_key) - counts_per_key)[keys]
    else:
        gk = gt_keys[g_order]
        start = np.searchsorted(gk, det_keys, side='left')
        counts = np.searchsorted(gk, det_keys, side='right') - start
        dets = np.flatnonzero(counts)
        start, counts = start[dets], counts[dets]
    det_idx = np.repeat(dets, counts)
    # a pair's place in g_order: its detection's first GT plus its offset
    # among that detection's pairs
    shift = start - (np.cumsum(counts) - counts)
    pos = np.arange(len(det_idx)) + np.repeat(shift, counts)
    return det_idx, g_order[pos]


def segment_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start positions of runs of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(
        np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
