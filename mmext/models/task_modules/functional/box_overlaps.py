"""Box overlap kernels of the TaskAligned assigners.

Each kernel repeats, element for element, the floating-point operations of
the reference it stands for: the alignment metric raises IoU to the 6th
power and top-k then breaks ties on exact bits, so a last-bit difference in
the IoU can change which anchors a GT keeps.
"""
import math

import torch
from torch import Tensor


def box_iou(pred: Tensor, gt: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU of broadcast pairs of xyxy boxes, in mmdet's arithmetic.

    Reproduces mmdet's ``bbox_overlaps(pred, gt)`` operation order (areas,
    clamped overlap, union clamped at ``eps``) because 'mmdet' mode must
    give mmdet's ``TaskAlignedAssigner`` bits.

    Args:
        pred (Tensor): (..., 4) predicted boxes.
        gt (Tensor): (..., 4) GT boxes, broadcastable against ``pred``.
        eps (float): lower bound of the union. Defaults to 1e-6.

    Returns:
        Tensor: IoU of shape ``broadcast(pred, gt).shape[:-1]``.
    """
    return iou_of_sides(pred.unbind(-1), gt.unbind(-1), eps)


def iou_of_sides(pred: tuple, gt: tuple, eps: float = 1e-6) -> Tensor:
    """:func:`box_iou` of boxes given as their (x1, y1, x2, y2) tensors.

    Reproduces mmdet's ``bbox_overlaps`` order as :func:`box_iou`; in place
    on its own temporaries only (the same operations, fewer fresh
    allocations: page faults dominate these element-wise ops on large
    blocks).
    """
    p_x1, p_y1, p_x2, p_y2 = pred
    g_x1, g_y1, g_x2, g_y2 = gt
    area_pred = torch.sub(p_x2, p_x1).mul_(p_y2 - p_y1)
    area_gt = (g_x2 - g_x1) * (g_y2 - g_y1)
    overlap = torch.minimum(p_x2, g_x2).sub_(torch.maximum(
        p_x1, g_x1)).clamp_(min=0)
    h = torch.minimum(p_y2, g_y2).sub_(torch.maximum(p_y1,
                                                     g_y1)).clamp_(min=0)
    overlap.mul_(h)
    del h
    union = torch.add(area_pred, area_gt).sub_(overlap).clamp_(min=eps)
    return overlap.div_(union)


def box_ciou(pred: Tensor, gt: Tensor, eps: float = 1e-7) -> Tensor:
    """Complete IoU of broadcast pairs of xyxy boxes, clamped at 0.

    Reproduces ultralytics' ``bbox_iou(gt, pred, xywh=False,
    CIoU=True).clamp(0)`` operation order (GT first, eps added to heights)
    because 'ultralytics' mode must give ultralytics' assigner bits.

    Args:
        pred (Tensor): (..., 4) predicted boxes.
        gt (Tensor): (..., 4) GT boxes, broadcastable against ``pred``.
        eps (float): stabiliser of heights, union and diagonal.
            Defaults to 1e-7.

    Returns:
        Tensor: CIoU >= 0 of shape ``broadcast(pred, gt).shape[:-1]``.
    """
    g_x1, g_y1, g_x2, g_y2 = gt.unbind(-1)
    p_x1, p_y1, p_x2, p_y2 = pred.unbind(-1)
    g_w, g_h = g_x2 - g_x1, g_y2 - g_y1 + eps
    p_w, p_h = p_x2 - p_x1, p_y2 - p_y1 + eps
    inter = (torch.minimum(g_x2, p_x2) - torch.maximum(g_x1, p_x1)).clamp(0) * (
        torch.minimum(g_y2, p_y2) - torch.maximum(g_y1, p_y1)).clamp(0)
    union = g_w * g_h + p_w * p_h - inter + eps
    iou = inter / union
    cw = torch.maximum(g_x2, p_x2) - torch.minimum(g_x1, p_x1)
    ch = torch.maximum(g_y2, p_y2) - torch.minimum(g_y1, p_y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((p_x1 + p_x2 - g_x1 - g_x2).pow(2) +
            (p_y1 + p_y2 - g_y1 - g_y2).pow(2)) / 4
    v = (4 / math.pi**2) * ((p_w / p_h).atan() - (g_w / g_h).atan()).pow(2)
    a = v / (1 - iou + v + eps)
    return (iou - (rho2 / c2 + v * a)).clamp(0)
