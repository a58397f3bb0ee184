"""Per-class ROC and precision-recall curves of multi-label scores, and
their mean curves (numpy only; for plots, not for the statistics, which
:mod:`.multilabel_ranking` computes without full sorts).

Points sit at distinct score thresholds (predict ``score >= thr``), as
sklearn's ``roc_curve(drop_intermediate=False)`` and
``precision_recall_curve`` place them; ignored labels (-1) are left out.
"""
from typing import List, Optional

import numpy as np

from .multilabel_inputs import check_multilabel_inputs

__all__ = ['multilabel_curves', 'mean_roc_curve', 'mean_pr_curve']


def multilabel_curves(scores, targets) -> List[Optional[dict]]:
    """ROC and PR points of every class.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.

    Returns:
        list[dict | None]: Per class ``fpr``, ``tpr`` (from (0, 0)),
        ``recall`` and ``precision`` (from recall 0, precision 1), float64;
        ``fpr`` is None without negatives, and the entry is None without
        positives (no curve is defined).
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    curves = []
    for col in range(scores.shape[1]):
        valid = targets[:, col] >= 0
        score = scores[valid, col]
        order = np.argsort(-score, kind='stable')
        pos = targets[valid, col][order] == 1
        num_pos, num_neg = int(pos.sum()), int((~pos).sum())
        if not num_pos:
            curves.append(None)
            continue
        # the last index of every run of equal scores is one threshold
        last = np.flatnonzero(np.diff(score[order])) if len(order) else []
        last = np.r_[last, len(order) - 1]
        tps = np.cumsum(pos)[last].astype(np.float64)
        fps = (last + 1) - tps
        curves.append(dict(
            fpr=np.r_[0.0, fps / num_neg] if num_neg else None,
            tpr=np.r_[0.0, tps / num_pos],
            recall=np.r_[0.0, tps / num_pos],
            precision=np.r_[1.0, tps / (tps + fps)]))
    return curves


def mean_roc_curve(curves: List[Optional[dict]],
                   num_points: int = 201) -> Optional[dict]:
    """Macro mean ROC: each class's TPR interpolated on one FPR grid.

    Args:
        curves (list[dict | None]): From :func:`multilabel_curves`.
        num_points (int): Points of the FPR grid on [0, 1].

    Returns:
        dict | None: ``fpr`` and ``tpr`` arrays, None when no class has a
        ROC curve.
    """
    grid = np.linspace(0, 1, num_points)
    tprs = [np.interp(grid, c['fpr'], c['tpr']) for c in curves
            if c is not None and c['fpr'] is not None]
    if not tprs:
        return None
    tpr = np.mean(tprs, axis=0)
    tpr[0] = 0.0  # the curve starts at (0, 0) as each class's does
    return dict(fpr=grid, tpr=tpr)


def mean_pr_curve(curves: List[Optional[dict]],
                  num_points: int = 101) -> Optional[dict]:
    """Macro mean PR: interpolated precision (the best precision at any
    recall >= r, as COCO) of each class, averaged on one recall grid.

    Args:
        curves (list[dict | None]): From :func:`multilabel_curves`.
        num_points (int): Points of the recall grid on [0, 1].

    Returns:
        dict | None: ``recall`` and ``precision`` arrays, None when no
        class has positives.
    """
    grid = np.linspace(0, 1, num_points)
    precisions = []
    for c in curves:
        if c is None:
            continue
        envelope = np.maximum.accumulate(c['precision'][::-1])[::-1]
        index = np.searchsorted(c['recall'], grid, side='left')
        precisions.append(np.r_[envelope, 0.0][index])
    if not precisions:
        return None
    return dict(recall=grid, precision=np.mean(precisions, axis=0))
