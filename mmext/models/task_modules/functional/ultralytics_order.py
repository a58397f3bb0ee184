"""'ultralytics' mode (ultralytics / mmyolo ``TaskAlignedAssigner``).

Centre inside first (GT sides shorter than ``min_gt_side`` are widened to
it about the GT centre), ``t`` is zero outside, top-k of that; an anchor
chosen by several GTs goes to the highest IoU over *all* GTs (first GT on
ties). IoU is the CIoU of ultralytics' ``bbox_iou`` clamped at 0.

The float work runs on the list of inside pairs; only the top-k needs a
dense (B, chunk, A) metric; selections and conflicts are resolved on the
top-k lists and the pairs.
"""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .alignment import alignment_metric
from .assignment import Chunk, RunningState, Winners
from .box_overlaps import box_ciou
from .prior_inside import inside_mask, widen_small_gts
from .sparse_cpu.cpu_kernels import num_threads


class _Pairs(NamedTuple):
    """(batch, GT, anchor) pairs with the anchor centre inside the GT."""
    b: Tensor
    g: Tensor
    a: Tensor
    ious: Tensor
    metrics: Tensor
    key: Tensor  # b * M + g, non-decreasing
    pair_key: Tensor  # (b * M + g) * A + a, increasing


class UltralyticsOrder:
    """The 'ultralytics' strategy of :func:`task_aligned_assign`.

    The inside pairs of the whole batch are listed once, with IoU and
    metric computed in one piece in ultralytics' (batch, GT, anchor) order
    and with the caller's ``threads`` so that vectorised pow / atan round
    alike.
    """
    group_pairs: Optional[int] = None  # groups bounded by the chunk size
    needs_gt_chunks = True  # the top-k runs on a dense (B, K, A) metric

    def __init__(self, scores: Tensor, pred_bboxes: Tensor, centers: Tensor,
                 gt_bboxes: Tensor, labels: Tensor, valid: Tensor, topk: int,
                 alpha: float, beta: float, center_eps: Optional[float],
                 min_gt_side: Optional[float], iou_fn, threads: int) -> None:
        self.topk = topk
        self.num_gts = gt_bboxes.shape[1] if scores.shape[1] else 0
        self.pairs = None
        if not self.num_gts:
            return
        center_eps = 1e-9 if center_eps is None else center_eps
        iou_fn = box_ciou if iou_fn is None else iou_fn
        boxes = gt_bboxes if min_gt_side is None else torch.where(
            valid[..., None], widen_small_gts(gt_bboxes, min_gt_side),
            gt_bboxes)
        inside = inside_mask(centers, boxes, valid, center_eps)
        b, g, a = inside.nonzero(as_tuple=True)
        del inside
        pair_scores = scores[b, a, labels[b, g]]
        with num_threads(threads):
            ious = iou_fn(pred_bboxes[b, a], gt_bboxes[b, g])
            metrics = alignment_metric(pair_scores, ious, alpha, beta)
        key = b * self.num_gts + g  # sorted: nonzero is row-major
        self.pairs = _Pairs(b, g, a, ious, metrics, key,
                            key * scores.shape[1] + a)

    def assign_chunk(self, state: RunningState, chunk: Chunk, bs: slice,
                     gs: slice) -> None:
        """Top-k of the chunk's masked metric; count the selections."""
        pairs, num_gts = self.pairs, self.num_gts
        num_anchors = state.count.shape[1]
        # 1. dense (B, K, A) metric of the chunk's inside pairs, zero
        #    elsewhere; a chunk is whole images or a GT slice of one image,
        #    so its pairs are one run of the sorted keys
        bounds = pairs.key.new_tensor([bs.start * num_gts + gs.start,
                                       (bs.stop - 1) * num_gts + gs.stop])
        lo, hi = torch.searchsorted(pairs.key, bounds).tolist()
        shape = (bs.stop - bs.start, gs.stop - gs.start, num_anchors)
        metrics = pairs.metrics.new_zeros(shape)
        metrics[pairs.b[lo:hi] - bs.start, pairs.g[lo:hi] - gs.start,
                pairs.a[lo:hi]] = pairs.metrics[lo:hi]
        # 2. top-k per GT over that masked metric (zeros included, as
        #    ultralytics), then keep the candidates that are inside pairs
        top_metric, top_idx = metrics.topk(min(self.topk, num_anchors),
                                           dim=2)
        del metrics
        if not pairs.key.numel():
            return
        rows = torch.arange(bs.start, bs.stop, device=top_idx.device)[:, None]
        cols = torch.arange(gs.start, gs.stop, device=top_idx.device)[None]
        query = ((rows * num_gts + cols)[..., None] * num_anchors + top_idx)
        pos = torch.searchsorted(pairs.pair_key, query.flatten()).clamp_(
            max=pairs.pair_key.numel() - 1)
        found = (pairs.pair_key[pos] == query.flatten()).view(query.shape)
        # 3. count the selections; conflicts go to the IoU-argmax over all
        fb, fg, fk = found.nonzero(as_tuple=True)
        pos = pos.view(query.shape)[fb, fg, fk]
        state.offer_selected(fb, top_idx[fb, fg, fk], fg + gs.start,
                             pairs.ious[pos], top_metric[fb, fg, fk])

    def end_group(self, state: RunningState, bs: slice) -> None:
        """IoU-argmax over all GTs of the group's images (for conflicts)."""
        pairs, num_gts = self.pairs, self.num_gts
        if pairs is None:
            return
        lo, hi = torch.searchsorted(
            pairs.key, pairs.key.new_tensor(
                [bs.start * num_gts, bs.stop * num_gts])).tolist()
        state.offer_pairs(pairs.b[lo:hi] - bs.start, pairs.a[lo:hi],
                          pairs.g[lo:hi], pairs.ious[lo:hi],
                          pairs.metrics[lo:hi])

    @staticmethod
    def winners(state: RunningState) -> Winners:
        """Selected anchors; the selecting GT, or the IoU-argmax over all
        GTs where several selected the anchor."""
        multi = state.count > 1
        return Winners(state.count > 0,
                       torch.where(multi, state.best_idx, state.sel_idx),
                       torch.where(multi, state.best_iou, state.sel_iou),
                       torch.where(multi, state.best_metric,
                                   state.sel_metric))
