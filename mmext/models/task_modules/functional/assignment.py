"""The assignment record and the per-anchor state the driver folds into."""
import math
from typing import NamedTuple

import torch
from torch import Tensor


class TaskAlignedAssignment(NamedTuple):
    """Per-anchor result of ``task_aligned_assign``, all (B, A).

    Attributes:
        fg_mask (Tensor): bool, True for positive anchors.
        gt_inds (Tensor): long, 0-based index of the assigned GT, -1 for
            background.
        labels (Tensor): long, class of the assigned GT, -1 for background.
        overlaps (Tensor): IoU with the assigned GT, 0 for background.
        metrics (Tensor): alignment metric ``t`` with the assigned GT, 0 for
            background.
        norm_metrics (Tensor): ``t * max_iou(g) / (max_t(g) + norm_eps)``
            where the maxima run over the positives of the assigned GT ``g``
            (the soft classification target of YOLOv8), 0 for background.
    """
    fg_mask: Tensor
    gt_inds: Tensor
    labels: Tensor
    overlaps: Tensor
    metrics: Tensor
    norm_metrics: Tensor


class Chunk(NamedTuple):
    """A slice of the GTs of a group of images."""
    start: int  # index of the chunk's first GT
    bboxes: Tensor  # (B, K, 4)
    labels: Tensor  # (B, K)
    valid: Tensor  # (B, K)


class Winners(NamedTuple):
    """(B, A) outcome of the conflict rule: who each anchor belongs to."""
    fg: Tensor
    gt_inds: Tensor
    ious: Tensor
    metrics: Tensor


class RunningState:
    """(B, A) reductions over GT chunks; ties keep the lowest GT index.

    ``best_*`` track the IoU-argmax over the GTs offered by each chunk
    (mmdet: GTs that chose the anchor; ultralytics: all GTs), ``sel_*`` the
    GT that chose the anchor (meaningful when ``count == 1``).
    """

    def __init__(self, bsz: int, num_anchors: int, num_gts: int,
                 like: Tensor) -> None:
        shape = (bsz, num_anchors)
        self.num_gts = num_gts
        self.count = torch.zeros(shape, dtype=torch.int32, device=like.device)
        self.best_iou = like.new_full(shape, -math.inf)
        self.best_idx = torch.zeros(shape, dtype=torch.long, device=like.device)
        self.best_metric = like.new_zeros(shape)
        self.sel_idx = torch.zeros_like(self.best_idx)
        self.sel_iou = like.new_zeros(shape)
        self.sel_metric = like.new_zeros(shape)

    def offer_reduced(self, start: int, chunk_max: Tensor, chunk_arg: Tensor,
                      chunk_metric: Tensor) -> None:
        """Fold a chunk's (B, A) best IoU, its GT and metric in."""
        if start == 0:  # first chunk: nothing to fold into
            self.best_iou, self.best_idx, self.best_metric = (chunk_max,
                                                              chunk_arg,
                                                              chunk_metric)
            return
        better = chunk_max > self.best_iou  # strict: earlier GT wins ties
        self.best_iou = torch.where(better, chunk_max, self.best_iou)
        self.best_idx = torch.where(better, chunk_arg + start, self.best_idx)
        self.best_metric = torch.where(better, chunk_metric, self.best_metric)

    def offer_selected(self, b: Tensor, a: Tensor, g: Tensor, ious: Tensor,
                       metrics: Tensor) -> None:
        """Count selections of anchors ``(b, a)`` by GTs ``g`` (1-D lists)
        and remember a selecting GT (the one, where ``count == 1``)."""
        self.count.index_put_((b, a), torch.ones_like(b, dtype=torch.int32),
                              accumulate=True)
        self.sel_idx[b, a] = g
        self.sel_iou[b, a] = ious
        self.sel_metric[b, a] = metrics

    def offer_pairs(self, b: Tensor, a: Tensor, g: Tensor, ious: Tensor,
                    metrics: Tensor) -> None:
        """IoU-argmax over all GTs from the nonzero-IoU (b, g, a) pairs of
        all GTs of the group; every other pair has IoU (and metric) 0, so
        an anchor without a positive IoU gets GT 0, as a dense argmax."""
        num_anchors = self.count.shape[1]
        flat = b * num_anchors + a
        best = ious.new_zeros(self.count.numel())
        best.scatter_reduce_(0, flat, ious, 'amax')
        hit = (ious == best[flat]) & (ious > 0)
        arg = flat.new_full(best.shape, self.num_gts)
        arg.scatter_reduce_(0, flat[hit], g[hit], 'amin')
        arg = torch.where(best > 0, arg, 0)
        win = hit & (g == arg[flat])
        metric = metrics.new_zeros(best.shape)
        metric[flat[win]] = metrics[win]
        shape = self.count.shape
        self.best_iou = best.view(shape)
        self.best_idx = arg.view(shape)
        self.best_metric = metric.view(shape)


def finish(winners: Winners, labels: Tensor, num_gts: int,
           norm_eps: float) -> TaskAlignedAssignment:
    """Gather labels and normalise the metrics of the positives.

    Args:
        winners (Winners): (B, A) outcome of the conflict rule.
        labels (Tensor): (B, M) GT labels, safe to gather on padding.
        num_gts (int): M.
        norm_eps (float): stabiliser of ``norm_metrics``.
    """
    if num_gts == 0:  # no GT at all: everything is background
        labels = labels.new_zeros(labels.shape[0], 1)
    fg = winners.fg
    (bsz, num_anchors), rows = fg.shape, max(num_gts, 1)
    flat = fg.view(-1).nonzero().squeeze(1)
    g = winners.gt_inds.reshape(-1)[flat]
    iou, t = winners.ious.reshape(-1)[flat], winners.metrics.reshape(-1)[flat]
    key = flat.div(num_anchors, rounding_mode='floor') * rows + g
    # per-GT maxima over its positives, then t * max_iou / max_t
    max_t = t.new_zeros(bsz * rows).scatter_reduce_(0, key, t, 'amax')
    max_iou = iou.new_zeros(bsz * rows).scatter_reduce_(0, key, iou, 'amax')
    norm = t * max_iou[key] / (max_t[key] + norm_eps)

    def spread(values: Tensor, background: float) -> Tensor:
        out = values.new_full(fg.shape, background)
        out.view(-1)[flat] = values
        return out

    return TaskAlignedAssignment(fg, spread(g, -1),
                                 spread(labels.reshape(-1)[key], -1),
                                 spread(iou, 0), spread(t, 0),
                                 spread(norm, 0))
