"""Registered multi-label losses on logits: BCE, focal and asymmetric (ASL).

All three share one calling convention, that of mmpretrain's losses, so
they drop into ``MultiLabelLinearClsHead(loss=...)``: ``pred`` logits and
``target`` of shape (N, C), target values in [0, 1] (soft labels allowed)
or -1 for "ignore this label" (e.g. VOC difficult), which contributes
neither loss nor gradient and is left out of the ``'mean'`` count. The
math is in :mod:`.multilabel_functional`; weighting and reduction are
mmdet's ``weight_reduce_loss``, as for the aligned losses.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmdet.models.losses.utils import weight_reduce_loss

from mmext.registry import MODELS
from .multilabel_functional import (multilabel_asymmetric_loss,
                                    multilabel_bce_loss, multilabel_focal_loss)
from .reduction import check_reduction

__all__ = [
    'MultiLabelBCELoss', 'MultiLabelFocalLoss', 'MultiLabelAsymmetricLoss'
]


class _MultiLabelLoss(nn.Module):
    """Shared weighting and reduction of the element-wise losses.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss.
        class_weight (Sequence[float], optional): Weight per class.
    """

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 class_weight: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = (None if class_weight is None else
                             torch.as_tensor(class_weight, dtype=torch.float))

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (torch.Tensor): Logits of shape (N, C).
            target (torch.Tensor): Targets of shape (N, C) in [0, 1], or -1
                to ignore an entry.
            weight (torch.Tensor, optional): Weight per sample (N,) or per
                entry (N, C).
            avg_factor (float, optional): Divisor of the sum for
                ``'mean'`` (mmpretrain heads pass the batch size).
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            torch.Tensor: The scalar loss, or (N, C) for ``'none'``.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target '
                             f'{tuple(target.shape)} must have one shape')
        reduction = reduction_override or self.reduction
        check_reduction(reduction)
        target = target.to(pred.dtype)
        valid = target >= 0
        loss = self.elementwise(pred, target.clamp(min=0))
        weights = valid.to(loss.dtype)
        if self.class_weight is not None:
            weights = weights * self.class_weight.to(loss)
        if weight is not None:
            weight = weight.to(loss)
            weights = weights * (weight.reshape(-1, 1) if weight.dim() == 1
                                 else weight)
        if reduction == 'mean' and avg_factor is None:
            # the mean over the labels that are not ignored
            avg_factor = valid.sum().clamp(min=1)
        return self.loss_weight * weight_reduce_loss(loss, weights, reduction,
                                                     avg_factor)


@MODELS.register_module()
class MultiLabelBCELoss(_MultiLabelLoss):
    """Binary cross-entropy on logits with optional class weights.

    Args:
        class_weight (Sequence[float], optional): Weight of each class's
            loss, shape (C,). Defaults to None.
        pos_weight (Sequence[float], optional): Weight of positive examples
            per class (C,), as in ``torch.nn.BCEWithLogitsLoss``.
            Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Raises ``ValueError`` (where mmpretrain's ``CrossEntropyLoss`` asserts)
    on an unknown ``reduction``, ``avg_factor`` with ``'sum'`` and a
    ``target`` whose shape differs from ``pred``'s.

    Example:
        In an mmpretrain config::

            head=dict(type='MultiLabelLinearClsHead', num_classes=20,
                      in_channels=2048,
                      loss=dict(type='mmext.MultiLabelBCELoss',
                                class_weight=[1.0] * 20))
    """

    def __init__(self,
                 class_weight: Optional[Sequence[float]] = None,
                 pos_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight, class_weight)
        self.pos_weight = (None if pos_weight is None else
                           torch.as_tensor(pos_weight, dtype=torch.float))

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        pos_weight = (None if self.pos_weight is None else
                      self.pos_weight.to(pred))
        return multilabel_bce_loss(pred, target, pos_weight)


@MODELS.register_module()
class MultiLabelFocalLoss(_MultiLabelLoss):
    """Sigmoid focal loss; equals mmpretrain's ``FocalLoss`` on 0/1 targets.

    Args:
        gamma (float): Focusing exponent. Defaults to 2.0.
        alpha (float): Weight of positives, negatives get ``1 - alpha``.
            Defaults to 0.25.
        class_weight (Sequence[float], optional): Weight per class.
            Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Stricter than mmpretrain (``ValueError`` where it asserts or fails
    later): an unknown ``reduction``, ``avg_factor`` with ``'sum'``, and a
    ``target`` whose shape differs from ``pred``'s (mmpretrain also takes
    class indices of shape (N,); ``MultiLabelLinearClsHead`` always passes
    (N, C)).

    Example:
        In an mmpretrain config::

            head=dict(type='MultiLabelLinearClsHead', num_classes=20,
                      in_channels=2048,
                      loss=dict(type='mmext.MultiLabelFocalLoss', gamma=2.0,
                                alpha=0.25))
    """

    def __init__(self,
                 gamma: float = 2.0,
                 alpha: float = 0.25,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight, class_weight)
        self.gamma = gamma
        self.alpha = alpha

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        return multilabel_focal_loss(pred, target, self.gamma, self.alpha)


@MODELS.register_module()
class MultiLabelAsymmetricLoss(_MultiLabelLoss):
    """Asymmetric loss (ASL); equals mmpretrain's ``AsymmetricLoss`` (with
    ``use_sigmoid=True``) on 0/1 targets.

    Args:
        gamma_pos (float): Focusing exponent of positives. Defaults to 0.0.
        gamma_neg (float): Focusing exponent of negatives. Defaults to 4.0.
        clip (float, optional): Probability margin of negatives; None (or
            <= 0) disables it, as in mmpretrain. Defaults to 0.05.
        eps (float): Lower clamp inside the log. Defaults to 1e-8.
        class_weight (Sequence[float], optional): Weight per class.
            Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Stricter than mmpretrain (``ValueError`` where it asserts or fails
    later): an unknown ``reduction``, ``avg_factor`` with ``'sum'``, and a
    ``target`` whose shape differs from ``pred``'s (mmpretrain also takes
    class indices of shape (N,); ``MultiLabelLinearClsHead`` always passes
    (N, C)). mmpretrain's ``use_sigmoid=False`` (softmax) is not offered.

    Example:
        In an mmpretrain config::

            head=dict(type='MultiLabelLinearClsHead', num_classes=20,
                      in_channels=2048,
                      loss=dict(type='mmext.MultiLabelAsymmetricLoss',
                                gamma_pos=0.0, gamma_neg=4.0, clip=0.05))
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 clip: Optional[float] = 0.05,
                 eps: float = 1e-8,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight, class_weight)
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.eps = eps

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        return multilabel_asymmetric_loss(pred, target, self.gamma_pos,
                                          self.gamma_neg, self.clip,
                                          self.eps)
