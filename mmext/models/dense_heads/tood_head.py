"""TOOD head whose task-aligned targets come from one batched assignment."""
from typing import List, Tuple

import torch
from mmdet.models.dense_heads import TOODHead as MMDetTOODHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from mmengine import MessageHub
from torch import Tensor

from mmext.registry import MODELS

# mmdet's TOODHead stabilises the normalised metric with this literal
MMDET_NORM_EPS = 10e-8


@MODELS.register_module()
class TOODHead(MMDetTOODHead):
    """mmdet's ``TOODHead`` with the whole batch assigned in one call.

    mmdet's head calls its assigner once per image. With mmext's
    ``TaskAlignedAssigner`` this head pads the batch's GTs and calls its
    ``assign_batch`` once, then builds labels, label weights, box targets
    and normalised alignment metrics for all images with tensor ops. On the
    CPU in fp32 the targets, and so the losses and gradients, are
    bit-identical to mmdet's ``TOODHead`` with mmdet's assigner on the same
    inputs (``tests/test_tood_head.py``).

    Left to mmdet's per-image code: the initial ATSS epochs
    (``epoch < initial_epoch``), an assigner without ``assign_batch``, and
    batches whose images keep different anchors inside their borders
    (``allowed_border >= 0`` on unequal image sizes).

    Under AMP the scores reach the assigner in fp16 as they reach mmdet's,
    and IoU and metric are promoted to fp32 in both, by the same operations.
    On a GPU the dense path runs (the sparse one is CPU-only); its batched
    top-k may break exact ties between anchors in another order than
    mmdet's per-image top-k, so targets can differ there. Not verified on a
    GPU yet: ``benchmarks/bench_train_step.py --device cuda --amp`` reports
    the loss difference.

    Example:
        >>> # in a TOOD config
        >>> model = dict(bbox_head=dict(type='mmext.TOODHead'), train_cfg=dict(
        ...     assigner=dict(type='mmext.TaskAlignedAssigner', topk=13)))

    Args:
        Same as mmdet's ``TOODHead``.
    """

    def get_targets(self,
                    cls_scores: Tensor,
                    bbox_preds: Tensor,
                    anchor_list: List[List[Tensor]],
                    valid_flag_list: List[List[Tensor]],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict],
                    batch_gt_instances_ignore: OptInstanceList = None,
                    unmap_outputs: bool = True) -> tuple:
        """Targets of all images, as mmdet's ``TOODHead.get_targets``.

        Args:
            cls_scores (Tensor): (B, A, C) scores (probabilities).
            bbox_preds (Tensor): (B, A, 4) decoded xyxy boxes.
            anchor_list (list[list[Tensor]]): per image, per level anchors.
            valid_flag_list (list[list[Tensor]]): per image, per level
                valid flags.
            batch_gt_instances (list[InstanceData]): ``bboxes``, ``labels``.
            batch_img_metas (list[dict]): image meta (``img_shape``).
            batch_gt_instances_ignore (list, optional): unused by the
                task-aligned assigner, as in mmdet.
            unmap_outputs (bool): map back to all anchors. Defaults to True.

        Returns:
            tuple: per-level anchors, labels, label weights, box targets and
            normalised alignment metrics, each (B, A_level, ...).
        """
        self.epoch = MessageHub.get_current_instance().get_info('epoch')
        if self.epoch >= self.initial_epoch and hasattr(
                self.alignment_assigner, 'assign_batch'):
            anchors, inside = self._shared_anchors(anchor_list,
                                                   valid_flag_list,
                                                   batch_img_metas)
            if anchors is not None and (unmap_outputs or bool(inside.all())):
                if not inside.any():
                    raise ValueError(
                        'There is no valid anchor inside the image boundary.'
                        ' Please check the image size and anchor sizes, or '
                        'set ``allowed_border`` to -1 to skip the '
                        'condition.')
                targets = self._batch_targets(cls_scores, bbox_preds,
                                              anchors, inside,
                                              batch_gt_instances)
                num_level_anchors = [a.size(0) for a in anchor_list[0]]
                return tuple(
                    list(t.split(num_level_anchors, 1)) for t in targets)
        return super().get_targets(cls_scores, bbox_preds, anchor_list,
                                   valid_flag_list, batch_gt_instances,
                                   batch_img_metas, batch_gt_instances_ignore,
                                   unmap_outputs)

    def _shared_anchors(self, anchor_list: List[List[Tensor]],
                        valid_flag_list: List[List[Tensor]],
                        batch_img_metas: List[dict]) -> Tuple:
        """The (A, 4) anchors and (A,) inside flags common to all images,
        or ``(None, None)`` when images differ (then per image)."""
        anchors = torch.cat(anchor_list[0])
        inside = None
        for levels, flags, meta in zip(anchor_list, valid_flag_list,
                                       batch_img_metas):
            if levels is not anchor_list[0] and not torch.equal(
                    torch.cat(levels), anchors):
                return None, None
            flags = anchor_inside_flags(anchors, torch.cat(flags),
                                        meta['img_shape'][:2],
                                        self.train_cfg['allowed_border'])
            if inside is None:
                inside = flags
            elif not torch.equal(flags, inside):
                return None, None
        return anchors, inside

    def _batch_targets(self, cls_scores: Tensor, bbox_preds: Tensor,
                       anchors: Tensor, inside: Tensor,
                       batch_gt_instances: InstanceList) -> tuple:
        """(B, A, ...) targets of all images from one batched assignment,
        with mmdet's ``_get_targets_single`` arithmetic."""
        all_inside = bool(inside.all())
        if not all_inside:
            anchors, cls_scores = anchors[inside], cls_scores[:, inside]
            bbox_preds = bbox_preds[:, inside]
        gt_bboxes, gt_labels, gt_valid = _pad_gts(batch_gt_instances,
                                                  anchors)
        result = self.alignment_assigner.assign_batch(
            cls_scores, bbox_preds, anchors, gt_bboxes, gt_labels, gt_valid,
            alpha=self.alpha, beta=self.beta)
        fg = result.fg_mask
        b, a = fg.nonzero(as_tuple=True)
        g = result.gt_inds[b, a]
        bsz, num_anchors = fg.shape
        labels = anchors.new_full((bsz, num_anchors), self.num_classes,
                                  dtype=torch.long)
        labels[b, a] = gt_labels[b, g]
        label_weights = anchors.new_ones((bsz, num_anchors),
                                         dtype=torch.float)
        if self.train_cfg['pos_weight'] > 0:
            label_weights[b, a] = self.train_cfg['pos_weight']
        bbox_targets = anchors.new_zeros((bsz, num_anchors, 4))
        bbox_targets[b, a] = gt_bboxes[b, g]
        norm_metrics = anchors.new_zeros((bsz, num_anchors),
                                         dtype=torch.float)
        norm_metrics[b, a] = _normalised_metrics(
            result.metrics[b, a].to(anchors.dtype), result.overlaps[b, a],
            b * gt_bboxes.shape[1] + g, bsz * gt_bboxes.shape[1])
        batch_anchors = anchors.expand(bsz, -1, -1)
        targets = (batch_anchors, labels, label_weights, bbox_targets,
                   norm_metrics)
        if all_inside:
            return targets
        fills = (0, self.num_classes, 0, 0, 0)
        return tuple(
            _unmap(t, inside, fill) for t, fill in zip(targets, fills))


def _pad_gts(batch_gt_instances: InstanceList, like: Tensor) -> tuple:
    """(B, M, 4) boxes, (B, M) labels and valid mask, zero padded."""
    counts = [len(gt) for gt in batch_gt_instances]
    bsz, num_gts = len(counts), max(counts, default=0)
    boxes = like.new_zeros((bsz, num_gts, 4))
    labels = torch.zeros((bsz, num_gts), dtype=torch.long,
                         device=like.device)
    valid = torch.zeros((bsz, num_gts), dtype=torch.bool, device=like.device)
    for i, (gt, n) in enumerate(zip(batch_gt_instances, counts)):
        if n:
            boxes[i, :n] = get_box_tensor(gt.bboxes)
            labels[i, :n] = gt.labels
            valid[i, :n] = True
    return boxes, labels, valid


def _normalised_metrics(metrics: Tensor, ious: Tensor, key: Tensor,
                        num_keys: int) -> Tensor:
    """mmdet's ``t / (max t + 10e-8) * max iou``, the maxima over the
    positives of the same (image, GT) ``key`` (all metrics and IoUs of
    positives are > 0)."""
    max_t = metrics.new_zeros(num_keys).scatter_reduce_(
        0, key, metrics, 'amax')
    max_iou = ious.new_zeros(num_keys).scatter_reduce_(0, key, ious, 'amax')
    return metrics / (max_t[key] + MMDET_NORM_EPS) * max_iou[key]


def _unmap(data: Tensor, inside: Tensor, fill: float) -> Tensor:
    """(B, A_inside, ...) back to (B, A, ...), ``fill`` outside."""
    out = data.new_full((data.shape[0], inside.numel()) + data.shape[2:],
                        fill)
    out[:, inside] = data
    return out
