"""Registered TaskAligned assigner: a drop-in for mmdet's in ``TOODHead``."""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmdet.models.task_modules.assigners.iou2d_calculator import \
    BboxOverlaps2D
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor

from mmext.registry import TASK_UTILS
from .functional import TaskAlignedAssignment, task_aligned_assign

# mmdet marks anchors that no GT kept with this max_overlaps value
NEG_OVERLAP = -100000000.0


@TASK_UTILS.register_module()
class TaskAlignedAssigner(BaseAssigner):
    """Task-aligned assigner of TOOD, exact and batched.

    Same ``assign()`` contract and results as mmdet's
    ``TaskAlignedAssigner`` (``gt_inds``, ``labels``, ``max_overlaps`` with
    -1e8 for negatives, ``assign_metrics``), computed by
    :func:`~mmext.models.task_modules.functional.task_aligned_assign`, which
    also serves whole padded batches through :meth:`assign_batch`.
    ``TOODHead`` calls :meth:`assign` one image at a time, where fixed
    per-call costs dominate; whole batches through :meth:`assign_batch`
    gain the most (``benchmarks/bench_assigner.py`` measures both).

    Example:
        >>> # in a TOOD config
        >>> model = dict(bbox_head=dict(train_cfg=dict(
        ...     assigner=dict(type='mmext.TaskAlignedAssigner', topk=13))))

    Stricter than mmdet: ``topk < 1`` raises ``ValueError`` (mmdet
    asserts), and malformed inputs (shapes, labels outside the classes)
    raise a ``ValueError`` naming the field where mmdet fails inside
    tensor indexing.

    Args:
        topk (int): anchors kept per GT.
        iou_calculator (dict): mmdet IoU calculator config. The default
            ``BboxOverlaps2D`` runs as the built-in exact ``box_iou``; any
            other is called on aligned, broadcast boxes. Defaults to
            ``dict(type='BboxOverlaps2D')``.
        mode (str): 'mmdet' (default) or 'ultralytics' semantics, see the
            functional module.
        min_gt_side (float, optional): 'ultralytics' mode only: GT sides
            shorter than this are widened for the centre-inside test.
            Defaults to None.
        max_chunk_elements (int): bound on B * GTs-per-chunk * A of the
            temporaries. Defaults to 2**23.
    """

    def __init__(self,
                 topk: int,
                 iou_calculator: dict = dict(type='BboxOverlaps2D'),
                 mode: str = 'mmdet',
                 min_gt_side: Optional[float] = None,
                 max_chunk_elements: int = 1 << 23) -> None:
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        self.topk = topk
        self.mode = mode
        self.min_gt_side = min_gt_side
        self.max_chunk_elements = max_chunk_elements
        # inner parts are mmdet's: resolve short names in mmdet's registry
        calculator = MMDET_TASK_UTILS.build(iou_calculator)
        plain = (type(calculator) is BboxOverlaps2D and calculator.scale == 1
                 and calculator.dtype is None)
        # the default calculator is exactly box_iou: use the fast path
        self.iou_fn = None if plain else (
            lambda pred, gt: calculator(
                *torch.broadcast_tensors(pred, gt), is_aligned=True))

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None,
               alpha: float = 1,
               beta: float = 6) -> AssignResult:
        """Assign GTs of one image to its anchors.

        Args:
            pred_instances (InstanceData): ``priors`` (A, 4+), decoded
                ``bboxes`` (A, 4) and ``scores`` (A, C).
            gt_instances (InstanceData): ``bboxes`` (M, 4), ``labels`` (M,).
            gt_instances_ignore (InstanceData, optional): unused, as in mmdet.
            alpha (float): score exponent. Defaults to 1.
            beta (float): IoU exponent. Defaults to 6.

        Returns:
            AssignResult: with ``assign_metrics`` (A,) set.
        """
        priors = pred_instances.priors[:, :4]
        gt_bboxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        if gt_bboxes.shape[0] == 0:
            # mmdet only indexes the scores with the labels, so no GT with
            # labels of shape (0, k) is background there too
            gt_labels = gt_labels.reshape(0)
        result = self.assign_batch(pred_instances.scores[None],
                                   pred_instances.bboxes[None], priors,
                                   gt_bboxes[None], gt_labels[None],
                                   alpha=alpha, beta=beta)
        return self.to_assign_result(result, gt_bboxes.shape[0], 0,
                                     priors.dtype)

    def assign_batch(self,
                     pred_scores: Tensor,
                     pred_bboxes: Tensor,
                     priors: Tensor,
                     gt_bboxes: Tensor,
                     gt_labels: Tensor,
                     gt_valid: Optional[Tensor] = None,
                     alpha: float = 1,
                     beta: float = 6) -> TaskAlignedAssignment:
        """Assign a padded batch at once.

        Args:
            pred_scores (Tensor): (B, A, C) scores.
            pred_bboxes (Tensor): (B, A, 4) decoded boxes.
            priors (Tensor): (A, 4) prior boxes (centres are used).
            gt_bboxes (Tensor): (B, M, 4) padded GT boxes.
            gt_labels (Tensor): (B, M) padded GT labels.
            gt_valid (Tensor, optional): (B, M) False on padding.
            alpha (float): score exponent. Defaults to 1.
            beta (float): IoU exponent. Defaults to 6.

        Returns:
            TaskAlignedAssignment: (B, A) tensors.
        """
        centers = torch.stack([(priors[:, 0] + priors[:, 2]) / 2.0,
                               (priors[:, 1] + priors[:, 3]) / 2.0], -1)
        return task_aligned_assign(
            pred_scores, pred_bboxes, centers, gt_bboxes, gt_labels,
            gt_valid, topk=self.topk, alpha=alpha, beta=beta, mode=self.mode,
            min_gt_side=self.min_gt_side, iou_fn=self.iou_fn,
            max_chunk_elements=self.max_chunk_elements)

    @staticmethod
    def to_assign_result(result: TaskAlignedAssignment, num_gts: int,
                         index: int, dtype: torch.dtype) -> AssignResult:
        """mmdet ``AssignResult`` of image ``index`` of a batch result.

        Args:
            result (TaskAlignedAssignment): output of :meth:`assign_batch`.
            num_gts (int): number of (unpadded) GTs of that image.
            index (int): image index in the batch.
            dtype (torch.dtype): float dtype of ``assign_metrics`` (mmdet
                uses the priors' dtype).

        Returns:
            AssignResult: 1-based ``gt_inds`` (0: negative), ``labels``
            (-1: negative), ``max_overlaps`` (mmdet: -1e8 for negatives, 0
            everywhere when the image has no GT) and ``assign_metrics``.
        """
        fg = result.fg_mask[index]
        gt_inds = result.gt_inds[index] + 1
        if num_gts == 0:
            max_overlaps = torch.zeros_like(result.overlaps[index])
        else:
            max_overlaps = torch.where(
                fg, result.overlaps[index],
                result.overlaps.new_full((), NEG_OVERLAP))
        assign_result = AssignResult(num_gts, gt_inds, max_overlaps,
                                     result.labels[index])
        assign_result.assign_metrics = result.metrics[index].to(dtype)
        return assign_result
