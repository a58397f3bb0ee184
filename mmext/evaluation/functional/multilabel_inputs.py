"""Checked inputs of the multi-label statistics (numpy only).

Scores are an (N, C) array of real numbers, targets an (N, C) array in
{-1, 0, 1} where -1 means "ignore this label of this sample". Conventions
of the statistics themselves are stated once in
:mod:`mmext.evaluation.functional.multilabel`.
"""
from typing import Sequence, Tuple, Union

import numpy as np

__all__ = ['check_multilabel_inputs', 'check_class_thresholds']


def check_multilabel_inputs(scores, targets) -> Tuple[np.ndarray, np.ndarray]:
    """Validate scores and targets and convert them to numpy.

    Args:
        scores (array-like): Scores of shape (N, C). Anything
            ``np.asarray`` takes (a CPU torch tensor converts through its
            ``__array__``; the registered metric converts tensors itself).
        targets (array-like): Targets of shape (N, C) with values in
            {-1, 0, 1}.

    Returns:
        tuple[np.ndarray, np.ndarray]: Floating scores (float32 stays
        float32, other types become float64) and int8 targets.

    Raises:
        ValueError: On empty input, wrong ndim, shape mismatch, NaN scores
            or targets outside {-1, 0, 1}.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets)
    if scores.ndim != 2 or targets.ndim != 2:
        raise ValueError('scores and targets must have shape (N, C), got '
                         f'{scores.shape} and {targets.shape}')
    if scores.shape != targets.shape:
        raise ValueError(f'shape mismatch: scores {scores.shape} vs '
                         f'targets {targets.shape}')
    if scores.size == 0:
        raise ValueError(f'empty input: scores of shape {scores.shape}')
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ValueError('scores contain NaN')
    valid = (targets == -1) | (targets == 0) | (targets == 1)
    if not valid.all():
        bad = np.unique(targets[~valid])[:5]
        raise ValueError(
            f'targets must be in {{-1, 0, 1}} (-1 = ignore), got {bad}')
    return scores, targets.astype(np.int8)


def check_class_thresholds(thr: Union[float, Sequence[float], np.ndarray],
                           num_classes: int) -> Union[float, np.ndarray]:
    """One threshold for all classes, or one per class.

    Args:
        thr (float | Sequence[float]): A number, or ``num_classes`` numbers
            (``inf`` = never predict the class).
        num_classes (int): C.

    Returns:
        float | np.ndarray: The float, or a float64 array of shape (C,).

    Raises:
        ValueError: On NaN, or a sequence whose length is not C.
    """
    if np.ndim(thr) == 0:
        if np.isnan(thr):
            raise ValueError('thr is NaN')
        return float(thr)
    thr = np.asarray(thr, dtype=np.float64)
    if thr.shape != (num_classes, ):
        raise ValueError(f'{thr.size} per-class thresholds for '
                         f'{num_classes} classes')
    if np.isnan(thr).any():
        raise ValueError(f'per-class thresholds contain NaN: {thr.tolist()}')
    return thr
