"""Average precision from a precision/recall curve: VOC07 11-point and
VOC12 all-point ('area') interpolation. (COCO's 101-point precision is read
at the true positives in :mod:`.coco_accumulation`.)"""
import numpy as np

#: VOC07 recall thresholds, exactly as the devkit and mmdet build them
VOC07_RECALL_THRS = np.arange(0, 1 + 1e-3, 0.1)


def monotone_precision(precision: np.ndarray) -> np.ndarray:
    """Make precision non-increasing: each value becomes the maximum of
    itself and all later ones (along the last axis)."""
    p = np.asarray(precision, dtype=np.float64)
    return np.maximum.accumulate(p[..., ::-1], axis=-1)[..., ::-1]


def interpolated_precision(recall: np.ndarray, precision: np.ndarray,
                           recall_thrs: np.ndarray) -> np.ndarray:
    """Precision at recall thresholds, pycocotools style.

    For each threshold ``r`` take the monotone precision at the first point
    whose recall is ``>= r``; 0 when recall never reaches ``r``.

    Args:
        recall (np.ndarray): ``(N,)`` non-decreasing recall.
        precision (np.ndarray): ``(N,)`` precision.
        recall_thrs (np.ndarray): ``(R,)`` increasing thresholds.

    Returns:
        np.ndarray: ``(R,)`` float64.
    """
    mono = monotone_precision(precision)
    inds = np.searchsorted(recall, recall_thrs, side='left')
    out = np.zeros(len(recall_thrs))
    ok = inds < len(mono)
    out[ok] = mono[inds[ok]]
    return out


def ap_11point(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC07 11-point AP: mean over ``t`` in 0, 0.1, ..., 1 of the maximum
    precision at recall ``>= t`` (0 when not reached).

    Args:
        recall (np.ndarray): ``(N,)`` non-decreasing recall.
        precision (np.ndarray): ``(N,)`` precision.

    Returns:
        float: AP in [0, 1].
    """
    return float(
        interpolated_precision(recall, precision, VOC07_RECALL_THRS).sum() /
        11)


def ap_area(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010+ all-point AP: area under the monotone precision envelope.

    Args:
        recall (np.ndarray): ``(N,)`` non-decreasing recall.
        precision (np.ndarray): ``(N,)`` precision.

    Returns:
        float: AP in [0, 1].
    """
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = monotone_precision(np.concatenate([[0.0], precision, [0.0]]))
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


_AP_FNS = {'11points': ap_11point, 'area': ap_area}


def average_precision(recall: np.ndarray,
                      precision: np.ndarray,
                      mode: str = 'area') -> float:
    """AP by ``mode``: ``'11points'`` (VOC07) or ``'area'`` (VOC12).

    Args:
        recall (np.ndarray): ``(N,)`` non-decreasing recall.
        precision (np.ndarray): ``(N,)`` precision.
        mode (str): Interpolation. Defaults to ``'area'``.

    Returns:
        float: AP in [0, 1].
    """
    if mode not in _AP_FNS:
        raise ValueError(
            f'mode must be one of {sorted(_AP_FNS)}, got {mode!r}')
    return _AP_FNS[mode](np.asarray(recall, np.float64),
                         np.asarray(precision, np.float64))
