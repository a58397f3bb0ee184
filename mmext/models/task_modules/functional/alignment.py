"""The task-alignment metric ``t = s**alpha * iou**beta``, written once."""
from typing import Callable, Optional

import torch
from torch import Tensor

PowFn = Callable[[Tensor, float], Tensor]


def alignment_metric(scores: Tensor,
                     ious: Tensor,
                     alpha: float,
                     beta: float,
                     iou_pow: Optional[PowFn] = None,
                     out: Optional[Tensor] = None) -> Tensor:
    """``scores**alpha * ious**beta``, element-wise.

    The product is taken in the references' order (``iou**beta`` first;
    multiplication commutes, so the bits are those of mmdet's and
    ultralytics' ``s**alpha * iou**beta``). ``x**1`` is a copy in torch, so
    alpha = 1 skips it.

    Args:
        scores (Tensor): class scores of the pairs.
        ious (Tensor): overlaps of the same pairs.
        alpha (float): score exponent.
        beta (float): IoU exponent.
        iou_pow (callable, optional): ``iou_pow(ious, beta)`` replacing
            ``torch.pow`` (the sparse path's model of the dense kernel).
        out (Tensor, optional): where to write the result (``torch.pow``
            only).

    Returns:
        Tensor: the metric, shaped as ``ious`` (``out`` when given).
    """
    if iou_pow is None:
        metric = torch.pow(ious, beta, out=out)
    else:
        metric = iou_pow(ious, beta)
    return metric.mul_(scores if alpha == 1 else scores.pow(alpha))
