"""Element-wise multi-label losses on logits, pure torch (no mmengine).

Each function returns the unreduced (N, C) loss of ``pred`` logits against
``target`` values in [0, 1]; ignored labels, weighting and reduction are the
registered classes' (:mod:`.multilabel_loss`).
"""
from typing import Optional

import torch
import torch.nn.functional as F


def multilabel_bce_loss(pred: torch.Tensor,
                        target: torch.Tensor,
                        pos_weight: Optional[torch.Tensor] = None
                        ) -> torch.Tensor:
    """Element-wise binary cross-entropy with logits.

    Args:
        pred (torch.Tensor): Logits of shape (N, C).
        target (torch.Tensor): Targets in [0, 1] of shape (N, C).
        pos_weight (torch.Tensor, optional): Weight of positive examples
            per class, shape (C,).

    Returns:
        torch.Tensor: Loss of shape (N, C).
    """
    return F.binary_cross_entropy_with_logits(
        pred, target, pos_weight=pos_weight, reduction='none')


def multilabel_focal_loss(pred: torch.Tensor,
                          target: torch.Tensor,
                          gamma: float = 2.0,
                          alpha: float = 0.25) -> torch.Tensor:
    """Element-wise sigmoid focal loss (Lin et al., 2017).

    Args:
        pred (torch.Tensor): Logits of shape (N, C).
        target (torch.Tensor): Targets in [0, 1] of shape (N, C).
        gamma (float): Focusing exponent. Defaults to 2.0.
        alpha (float): Weight of positives; negatives get ``1 - alpha``.
            Defaults to 0.25.

    Returns:
        torch.Tensor: Loss of shape (N, C).
    """
    prob = pred.sigmoid()
    # probability of the wrong answer, the base of the modulating factor
    p_wrong = (1 - prob) * target + prob * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) *
                    (1 - target)) * p_wrong.pow(gamma)
    return F.binary_cross_entropy_with_logits(
        pred, target, reduction='none') * focal_weight


def multilabel_asymmetric_loss(pred: torch.Tensor,
                               target: torch.Tensor,
                               gamma_pos: float = 0.0,
                               gamma_neg: float = 4.0,
                               clip: Optional[float] = 0.05,
                               eps: float = 1e-8) -> torch.Tensor:
    """Element-wise asymmetric loss (Ridnik et al., ICCV 2021).

    Negatives use the shifted probability ``max(p - clip, 0)``, which
    discards very easy negatives, and a stronger focusing exponent.

    Args:
        pred (torch.Tensor): Logits of shape (N, C).
        target (torch.Tensor): Targets in [0, 1] of shape (N, C).
        gamma_pos (float): Focusing exponent of positives. Defaults to 0.
        gamma_neg (float): Focusing exponent of negatives. Defaults to 4.
        clip (float, optional): Probability margin of negatives; None or
            a value <= 0 disables it (as mmpretrain). Defaults to 0.05.
        eps (float): Lower clamp of the probability inside the log.
            Defaults to 1e-8.

    Returns:
        torch.Tensor: Loss of shape (N, C).
    """
    prob = pred.sigmoid()
    neg_prob = 1 - prob
    if clip is not None and clip > 0:
        neg_prob = (neg_prob + clip).clamp(max=1)
    # probability of the right answer
    p_right = neg_prob * (1 - target) + prob * target
    weight = (1 - p_right).pow(gamma_pos * target + gamma_neg * (1 - target))
    return -torch.log(p_right.clamp(min=eps)) * weight
