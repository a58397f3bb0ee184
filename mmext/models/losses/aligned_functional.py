"""Element-wise task-aligned losses, pure torch (no mmengine imports).

Each function returns the unreduced loss; weighting by the alignment metric
and reduction are done by the registered classes. The arithmetic follows
mmdet's ``quality_focal_loss_with_prob`` / ``quality_focal_loss``
(:func:`label_quality_focal_loss`; the dense-target
:func:`quality_focal_loss` as mmdet's ``quality_focal_loss_tensor_target``),
``giou_loss`` (via ``bbox_overlaps(mode='giou', is_aligned=True)``) and
``ciou_loss`` operation for operation, so values agree bit for bit.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor


def soft_targets(labels: Tensor, scores: Tensor, num_classes: int) -> Tensor:
    """Dense (N, C) targets: ``scores[i]`` at ``labels[i]``, 0 elsewhere.

    Args:
        labels (Tensor): (N,) classes; values outside [0, C) mean background.
        scores (Tensor): (N,) quality targets, e.g. normalised alignment.
        num_classes (int): C.

    Returns:
        Tensor: (N, C) soft targets in the dtype of ``scores``.
    """
    pos = (labels >= 0) & (labels < num_classes)
    one_hot = F.one_hot(torch.where(pos, labels, 0).long(), num_classes)
    return one_hot * torch.where(pos, scores, 0)[:, None]


def label_quality_focal_loss(pred: Tensor,
                             labels: Tensor,
                             scores: Tensor,
                             beta: float = 2.0,
                             activated: bool = False) -> Tensor:
    """Quality focal loss of (labels, scores) targets, as mmdet computes it.

    Every element first as a negative (``BCE(p, 0) * p**beta``), then the
    positives' GT-class elements again towards their score: no dense (N, C)
    target is built. On the CPU each pass over (N, C) is a parallel region
    that waits for its slowest thread, which on a busy machine costs a time
    slice; this order makes about half the passes of
    :func:`soft_targets` + :func:`quality_focal_loss`, forward and backward,
    and gives mmdet's bits, values and gradients.

    Args:
        pred (Tensor): (N, C) logits, or probabilities if ``activated``.
        labels (Tensor): (N,) classes; values outside [0, C) mean background.
        scores (Tensor): (N,) quality targets of the positives.
        beta (float): modulating exponent. Defaults to 2.0.
        activated (bool): whether ``pred`` already went through a sigmoid.
            Defaults to False.

    Returns:
        Tensor: (N,) loss summed over classes.
    """
    bce = F.binary_cross_entropy if activated else \
        F.binary_cross_entropy_with_logits
    prob = pred if activated else pred.sigmoid()
    # a broadcast zero: the same kernel values as mmdet's zeros, no fill pass
    zero = pred.new_zeros(()).expand_as(pred)
    loss = bce(pred, zero, reduction='none') * prob.pow(beta)
    pos = ((labels >= 0) & (labels < pred.shape[1])).nonzero().squeeze(1)
    pos_label = labels[pos].long()
    pos_score = scores[pos].to(pred.dtype)
    loss[pos, pos_label] = bce(
        pred[pos, pos_label], pos_score, reduction='none') * (
            pos_score - prob[pos, pos_label]).abs().pow(beta)
    return loss.sum(dim=1)


def quality_focal_loss(pred: Tensor,
                       target: Tensor,
                       beta: float = 2.0,
                       activated: bool = False) -> Tensor:
    """Quality focal loss ``BCE(p, t) * |t - p|**beta`` per sample.

    Args:
        pred (Tensor): (N, C) logits, or probabilities if ``activated``.
        target (Tensor): (N, C) soft targets in [0, 1] (0 for negatives).
        beta (float): modulating exponent. Defaults to 2.0.
        activated (bool): whether ``pred`` already went through a sigmoid.
            Defaults to False.

    Returns:
        Tensor: (N,) loss summed over classes.
    """
    if activated:
        prob = pred
        bce = F.binary_cross_entropy(pred, target, reduction='none')
    else:
        prob = pred.sigmoid()
        bce = F.binary_cross_entropy_with_logits(
            pred, target, reduction='none')
    return (bce * (target - prob).abs().pow(beta)).sum(dim=1)


def giou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """``1 - GIoU`` of aligned (N, 4) xyxy boxes.

    Args:
        pred (Tensor): (N, 4) predicted boxes.
        target (Tensor): (N, 4) target boxes.
        eps (float): lower bound of union and enclosing area.
            Defaults to 1e-7.

    Returns:
        Tensor: (N,) loss.
    """
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    wh = (torch.min(pred[:, 2:], target[:, 2:]) -
          torch.max(pred[:, :2], target[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = (area_p + area_t - overlap).clamp(min=eps)
    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) -
                  torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    enclose = (enclose_wh[:, 0] * enclose_wh[:, 1]).clamp(min=eps)
    gious = overlap / union - (enclose - union) / enclose
    return 1 - gious


def ciou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """``1 - CIoU`` of aligned (N, 4) xyxy boxes, as mmdet's ``ciou_loss``.

    The aspect-ratio trade-off ``a = v / (1 - iou + v)`` is a constant for
    the gradient and, as in mmdet, only applies where IoU > 0.5; it is 0
    where ``v`` is 0, so identical boxes give 0 (mmdet: NaN).

    Args:
        pred (Tensor): (N, 4) predicted boxes.
        target (Tensor): (N, 4) target boxes.
        eps (float): stabiliser of union, heights and diagonal.
            Defaults to 1e-7.

    Returns:
        Tensor: (N,) loss in [0, 2].
    """
    wh = (torch.min(pred[:, 2:], target[:, 2:]) -
          torch.max(pred[:, :2], target[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    ious = overlap / (area_p + area_t - overlap + eps)
    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) -
                  torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    c2 = enclose_wh[:, 0]**2 + enclose_wh[:, 1]**2 + eps
    w_p, h_p = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + eps
    w_t, h_t = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + eps
    rho2 = ((target[:, 0] + target[:, 2]) -
            (pred[:, 0] + pred[:, 2]))**2 / 4 + (
                (target[:, 1] + target[:, 3]) - (pred[:, 1] + pred[:, 3]))**2 / 4
    v = 4 / math.pi**2 * torch.pow(
        torch.atan(w_t / h_t) - torch.atan(w_p / h_p), 2)
    with torch.no_grad():
        # v == 0 (same aspect ratio) gives a = 0; mmdet's 0 / 0 there is NaN
        # for identical boxes
        a = torch.where(v > 0, (ious > 0.5).to(v.dtype) * v / (1 - ious + v),
                        v.new_zeros(()))
    cious = ious - (rho2 / c2 + a * v)
    return 1 - cious.clamp(min=-1.0, max=1.0)
