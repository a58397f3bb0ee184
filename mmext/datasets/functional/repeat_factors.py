"""Repeat-factor sampling (LVIS, Gupta et al. 2019) over plain numpy arrays.

Image-level category sets come in CSR form: ``labels`` holds the category
ids of all images back to back and ``lengths[i]`` says how many belong to
image ``i`` (duplicates allowed, an image may have none).

1. f(c): fraction of images that contain category c.
2. r(c) = max(1, sqrt(t / f(c))).
3. r(I) = max over the categories c of I of r(c); 1 for an image without
   categories.

No mmengine imports here: the dataset wrapper and the tools call these.
"""
from typing import NamedTuple

import numpy as np

ROUNDINGS = ('ceil', 'stochastic')


class RepeatFactors(NamedTuple):
    """Per-category and per-image repeat factors of one data set.

    Attributes:
        image_counts (np.ndarray): (C,) int64, images that contain c.
        category_freq (np.ndarray): (C,) float64, f(c) in [0, 1].
        category_repeat (np.ndarray): (C,) float64, r(c); 1 where f(c) = 0.
        image_repeat (np.ndarray): (N,) float64, r(I).
        image_ids (np.ndarray): (P,) int64, image of each unique
            (image, category) pair.
        category_ids (np.ndarray): (P,) int64, category of each pair.
    """
    image_counts: np.ndarray
    category_freq: np.ndarray
    category_repeat: np.ndarray
    image_repeat: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_repeat)


def check_oversample_thr(oversample_thr: float) -> float:
    """Return ``oversample_thr`` as float if it lies in (0, 1].

    Raises:
        ValueError: If it is not a number in (0, 1].
    """
    if (isinstance(oversample_thr, bool)
            or not isinstance(oversample_thr, (int, float, np.floating))
            or not 0 < oversample_thr <= 1):
        raise ValueError('oversample_thr must be a number in (0, 1], '
                         f'got {oversample_thr!r}')
    return float(oversample_thr)


def unique_image_categories(labels: np.ndarray, lengths: np.ndarray,
                            num_classes: int):
    """Deduplicate (image, category) pairs of CSR category lists.

    Args:
        labels (np.ndarray): (L,) integer category ids, image after image.
        lengths (np.ndarray): (N,) number of ids of each image.
        num_classes (int): C; ids must lie in [0, C).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``image_ids`` and ``category_ids`` of
        the unique pairs, sorted by image then category.

    Raises:
        ValueError: If an id lies outside [0, C); the message names the
            first offending image index and id.
    """
    labels = np.asarray(labels, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if labels.shape[0] != lengths.sum():
        raise ValueError(f'{labels.shape[0]} labels but lengths sum to '
                         f'{lengths.sum()}')
    image_of_label = np.repeat(np.arange(len(lengths)), lengths)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f'image {int(image_of_label[first])} has category id '
            f'{int(labels[first])}, outside the {num_classes} classes')
    # One int64 key per pair makes deduplication a single sort.
    keys = np.unique(image_of_label * num_classes + labels)
    return keys // num_classes, keys % num_classes


def compute_repeat_factors(labels: np.ndarray, lengths: np.ndarray,
                           num_classes: int,
                           oversample_thr: float) -> RepeatFactors:
    """Compute f(c), r(c) and r(I).

    The arithmetic is the one of mmengine's ``ClassBalancedDataset`` in
    float64 (count / N, sqrt, max), so ``np.ceil(image_repeat)`` reproduces
    its repeats bit for bit.

    Args:
        labels (np.ndarray): (L,) category ids of all images, back to back.
        lengths (np.ndarray): (N,) number of ids of each image.
        num_classes (int): Number of categories C.
        oversample_thr (float): t in (0, 1]; categories with f(c) < t are
            oversampled.

    Returns:
        RepeatFactors: The factors and the unique (image, category) pairs.
    """
    oversample_thr = check_oversample_thr(oversample_thr)
    num_images = len(lengths)
    if num_images == 0:
        raise ValueError('cannot compute repeat factors of 0 images')
    image_ids, category_ids = unique_image_categories(labels, lengths,
                                                      num_classes)
    image_counts = np.bincount(category_ids, minlength=num_classes)
    category_freq = image_counts / num_images
    category_repeat = np.ones(num_classes)
    present = image_counts > 0
    category_repeat[present] = np.maximum(
        1.0, np.sqrt(oversample_thr / category_freq[present]))
    image_repeat = np.ones(num_images)
    np.maximum.at(image_repeat, image_ids, category_repeat[category_ids])
    return RepeatFactors(image_counts, category_freq, category_repeat,
                         image_repeat, image_ids, category_ids)


def repeat_counts(image_repeat: np.ndarray,
                  rounding: str = 'ceil',
                  seed: int = 0,
                  epoch: int = 0) -> np.ndarray:
    """Number of times each image appears in one epoch.

    Args:
        image_repeat (np.ndarray): (N,) r(I) >= 1.
        rounding (str): ``'ceil'``: ceil(r(I)), the same every epoch.
            ``'stochastic'``: floor(r(I)) + Bernoulli(r(I) - floor(r(I))),
            drawn from ``(seed, epoch)`` only, so every process that asks
            for the same epoch gets the same counts.
        seed (int): Seed of the stochastic draws.
        epoch (int): Epoch of the stochastic draws.

    Returns:
        np.ndarray: (N,) int64 counts.
    """
    if rounding == 'ceil':
        return np.ceil(image_repeat).astype(np.int64)
    if rounding != 'stochastic':
        raise ValueError(f'rounding must be one of {ROUNDINGS}, '
                         f'got {rounding!r}')
    # A fresh generator per (seed, epoch): no hidden state, reproducible
    # on any rank and after resuming.
    rng = np.random.default_rng([seed, epoch])
    floor = np.floor(image_repeat)
    extra = rng.random(len(image_repeat)) < image_repeat - floor
    return floor.astype(np.int64) + extra


def expected_repeats(image_repeat: np.ndarray, rounding: str) -> np.ndarray:
    """Expected repeats per image in an epoch: ceil(r(I)) or r(I) itself."""
    if rounding == 'ceil':
        return np.ceil(image_repeat)
    if rounding != 'stochastic':
        raise ValueError(f'rounding must be one of {ROUNDINGS}, '
                         f'got {rounding!r}')
    return np.asarray(image_repeat, dtype=np.float64)


def repeat_indices(counts: np.ndarray) -> np.ndarray:
    """Expand counts into the index list, e.g. [1, 2, 0] -> [0, 1, 1]."""
    return np.repeat(np.arange(len(counts)), counts)


def active_slots(slot_counts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices of the first ``counts[i]`` of the ``slot_counts[i]`` slots of
    each image ``i`` in a list where image ``i`` owns ``slot_counts[i]``
    consecutive slots.

    Args:
        slot_counts (np.ndarray): (N,) slots per image.
        counts (np.ndarray): (N,) slots used this epoch, <= slot_counts.

    Returns:
        np.ndarray: (sum(counts),) int64 slot indices, ascending.
    """
    if np.any(counts > slot_counts):
        raise ValueError('counts exceed the slots of their images')
    slot_start = np.cumsum(slot_counts) - slot_counts
    used_start = np.cumsum(counts) - counts
    rank_in_image = np.arange(counts.sum()) - np.repeat(used_start, counts)
    return np.repeat(slot_start, counts) + rank_in_image


def balanced_class_frequency(rf: RepeatFactors,
                             weights: np.ndarray) -> np.ndarray:
    """Fraction of the balanced epoch's samples that contain each category.

    Args:
        rf (RepeatFactors): The factors.
        weights (np.ndarray): (N,) (expected) repeats per image: ceil counts,
            or r(I) itself for stochastic rounding.

    Returns:
        np.ndarray: (C,) float64.
    """
    weights = np.asarray(weights, dtype=np.float64)
    per_class = np.bincount(
        rf.category_ids,
        weights=weights[rf.image_ids],
        minlength=len(rf.image_counts))
    return per_class / weights.sum()
