"""F1 and score thresholds of a precision-recall curve (detections in
rank order, e.g. the ``curves`` of :func:`~.voc.voc_eval`)."""
from typing import Dict

import numpy as np


def f1_score(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Harmonic mean, 0 where precision and recall are both 0."""
    denom = precision + recall
    return np.where(denom > 0, 2 * precision * recall /
                    np.where(denom > 0, denom, 1), 0.0)


def prf_at_threshold(precision: np.ndarray, recall: np.ndarray,
                     scores: np.ndarray,
                     score_thr: float) -> Dict[str, float]:
    """Precision, recall and F1 keeping detections with score ``>= thr``.

    Args:
        precision (np.ndarray): ``(N,)`` of the curve.
        recall (np.ndarray): ``(N,)`` of the curve.
        scores (np.ndarray): ``(N,)`` non-increasing scores.
        score_thr (float): Score threshold.

    Returns:
        dict: ``precision``, ``recall``, ``f1``; all 0 when no detection
        passes (precision of an empty set is taken as 0).
    """
    # scores are sorted descending: count those >= thr
    n = int(np.searchsorted(-np.asarray(scores), -score_thr, side='right'))
    if n == 0:
        return dict(precision=0.0, recall=0.0, f1=0.0)
    p, r = float(precision[n - 1]), float(recall[n - 1])
    return dict(precision=p, recall=r, f1=float(f1_score(p, r)))


def best_f1_threshold(precision: np.ndarray, recall: np.ndarray,
                      scores: np.ndarray) -> Dict[str, float]:
    """The score threshold maximising F1 and the P/R/F1 there.

    Only thresholds between distinct scores are valid cut points (a cut
    cannot separate tied scores), so each tie group is evaluated after its
    last member. Ties in F1 go to the highest threshold.

    Args:
        precision (np.ndarray): ``(N,)`` of the curve.
        recall (np.ndarray): ``(N,)`` of the curve.
        scores (np.ndarray): ``(N,)`` non-increasing scores.

    Returns:
        dict: ``score_thr``, ``precision``, ``recall``, ``f1``; threshold
        ``inf`` and zeros when there is no detection.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return dict(score_thr=float('inf'), precision=0.0, recall=0.0,
                    f1=0.0)
    cut = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    f1 = f1_score(precision[cut], recall[cut])
    i = cut[int(np.argmax(f1))]
    return dict(score_thr=float(scores[i]), precision=float(precision[i]),
                recall=float(recall[i]), f1=float(f1_score(
                    precision[i], recall[i])))
