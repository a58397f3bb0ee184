"""Registered task-aligned losses for TOOD-style heads."""
from typing import Optional, Tuple, Union

import torch
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from mmext.registry import MODELS
from .aligned_functional import (ciou_loss, giou_loss,
                                 label_quality_focal_loss, quality_focal_loss)
from .reduction import check_reduction


@MODELS.register_module()
class AlignedQualityFocalLoss(nn.Module):
    """Quality focal loss towards the normalised alignment metric.

    The classifier of the GT class is trained towards the soft target
    ``t`` (TOOD: the normalised alignment metric), every other class towards
    0, each element weighted by ``|t - p|**beta``. Same values as mmdet's
    ``QualityFocalLoss`` on the same inputs.

    Example:
        >>> model = dict(bbox_head=dict(loss_cls=dict(
        ...     type='mmext.AlignedQualityFocalLoss', activated=True,
        ...     beta=2.0, loss_weight=1.0)))

    Args:
        use_sigmoid (bool): only sigmoid classification is supported.
            Defaults to True.
        beta (float): modulating exponent. Defaults to 2.0.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
        activated (bool): predictions are probabilities, not logits (TOOD
            passes probabilities). Defaults to False.
    """

    def __init__(self,
                 use_sigmoid: bool = True,
                 beta: float = 2.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 activated: bool = False) -> None:
        super().__init__()
        if not use_sigmoid:
            raise ValueError('AlignedQualityFocalLoss needs use_sigmoid=True')
        check_reduction(reduction)
        self.use_sigmoid = use_sigmoid
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self,
                pred: Tensor,
                target: Union[Tuple[Tensor, Tensor], Tensor],
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (N, C) logits or probabilities.
            target (tuple[Tensor, Tensor] | Tensor): ``(labels, scores)``,
                both (N,), labels outside [0, C) meaning background; or dense
                (N, C) soft targets.
            weight (Tensor, optional): (N,) per-sample weights.
            avg_factor (float, optional): divisor of the 'mean' reduction.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor: the loss.
        """
        reduction = reduction_override or self.reduction
        check_reduction(reduction)
        if isinstance(target, (tuple, list)):
            labels, scores = target
            loss = label_quality_focal_loss(pred, labels, scores, self.beta,
                                            self.activated)
        elif target.shape != pred.shape:
            raise ValueError(f'target must be {tuple(pred.shape)} soft '
                             f'targets, got {tuple(target.shape)}')
        else:
            loss = quality_focal_loss(pred, target.to(pred.dtype), self.beta,
                                      self.activated)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction,
                                                     avg_factor)


@MODELS.register_module()
class AlignedIoULoss(nn.Module):
    """IoU-family box loss (GIoU or CIoU) weighted by alignment.

    With ``mode='giou'`` the values equal mmdet's ``GIoULoss``, with
    ``mode='ciou'`` mmdet's ``CIoULoss``. ``TOODHead`` passes the alignment
    metrics of the positives as ``weight``.

    Example:
        >>> model = dict(bbox_head=dict(loss_bbox=dict(
        ...     type='mmext.AlignedIoULoss', mode='giou', loss_weight=2.0)))

    Args:
        mode (str): 'giou' or 'ciou'. Defaults to 'giou'.
        eps (float): numerical stabiliser. Defaults to 1e-6, as mmdet's
            ``GIoULoss`` and ``CIoULoss``.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """
    MODES = {'giou': giou_loss, 'ciou': ciou_loss}

    def __init__(self,
                 mode: str = 'giou',
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {tuple(self.MODES)}, got '
                             f'{mode!r}')
        check_reduction(reduction)
        self.mode = mode
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (N, 4) predicted xyxy boxes.
            target (Tensor): (N, 4) target boxes.
            weight (Tensor, optional): (N,) weights (alignment metrics), or
                (N, 4) which are averaged over the last dim as in mmdet.
            avg_factor (float, optional): divisor of the 'mean' reduction.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor: the loss.
        """
        reduction = reduction_override or self.reduction
        check_reduction(reduction)
        if weight is not None and not torch.any(weight > 0):
            # no positive weight: a zero that keeps the graph connected
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        if weight is not None and weight.dim() > 1:
            weight = weight.mean(-1)
        loss = self.MODES[self.mode](pred, target, self.eps)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction,
                                                     avg_factor)
