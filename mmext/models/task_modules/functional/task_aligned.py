"""Batched task-aligned label assignment (TOOD / YOLOv8), pure torch.

The alignment metric of a (GT, anchor) pair is ``t = s**alpha * iou**beta``
where ``s`` is the anchor's predicted score of the GT class and ``iou`` the
overlap of the anchor's predicted box with the GT box. Each GT keeps its
``topk`` anchors by ``t`` among those whose centre lies inside it; an anchor
chosen by several GTs goes to one of them by IoU.

Two published variants differ in the order of these steps and in the
conflict rule; :func:`task_aligned_assign` implements both exactly:

* ``mode='mmdet'`` (mmdet ``TaskAlignedAssigner``): top-k over *all*
  anchors first, then keep candidates with ``t > 0`` whose prior centre is
  more than ``center_eps`` (0.01) inside the GT; an anchor chosen by several
  GTs goes to the highest IoU among the GTs that chose it (first GT on ties).
  IoU is mmdet's ``bbox_overlaps`` (eps 1e-6).
* ``mode='ultralytics'`` (ultralytics / mmyolo ``TaskAlignedAssigner``):
  centre-inside first (GT sides shorter than ``min_gt_side`` are widened to
  it about the GT centre), ``t`` is zero outside, top-k of that; an anchor
  chosen by several GTs goes to the highest IoU over *all* GTs (first GT on
  ties). IoU is the CIoU of ultralytics' ``bbox_iou`` clamped at 0.

Memory: images are processed in groups and, when one image alone exceeds
``max_chunk_elements`` (anchor, GT) pairs, GTs in chunks, so the largest
temporaries are bounded by the group ('ultralytics' mode adds one
(B, M, A) bool inside mask and the list of inside pairs); a
(B, M, topk, A) tensor is never built.

Speed, exactly. In 'mmdet' mode on the CPU (IoU by :func:`box_iou`,
alpha = 1, a whole image's GTs in one chunk, ``A >= 64 * topk``) all float
work runs on blocks of 16 consecutive anchors whose predicted boxes can
overlap the GT (found through each block's bounding box); everywhere else
IoU and the metric are +0. Two kernel details of mmdet's dense (A, M)
block are reproduced there, each checked once against the dense kernel
(see :mod:`.cpu_kernels`): which elements torch's pow computes with its
scalar rather than its vectorised loop (they differ in the last bit), and
how its partial-sort top-k breaks ties (a row reduced to its first ``k``
anchors plus its overlapping blocks picks the same anchors). Otherwise the
metric is built densely per image block as mmdet does. In 'ultralytics'
mode the float work runs on the inside pairs; only the top-k needs a dense
(B, chunk, A) metric; selections and conflicts are resolved on the top-k
lists and the pairs.

Threads. Small calls on the CPU run on one thread, large ones with the
caller's thread count (:func:`_call_threads` says why and where the line
is); the kernels whose bits depend on the thread count are run with, or
modelled for, the caller's count, so the results are the same either way.
"""
import math
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from . import cpu_kernels

IoUFn = Callable[[Tensor, Tensor], Tensor]

MODES = ('mmdet', 'ultralytics')


class TaskAlignedAssignment(NamedTuple):
    """Per-anchor result of :func:`task_aligned_assign`, all (B, A).

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
            (the soft classification target of TOOD / YOLOv8), 0 for
            background.
    """
    fg_mask: Tensor
    gt_inds: Tensor
    labels: Tensor
    overlaps: Tensor
    metrics: Tensor
    norm_metrics: Tensor


def box_iou(pred: Tensor, gt: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU of broadcast pairs of xyxy boxes, in mmdet's arithmetic.

    Element for element the same floating-point operations as mmdet's
    ``bbox_overlaps(pred, gt)``, so results are bit-identical.

    Args:
        pred (Tensor): (..., 4) predicted boxes.
        gt (Tensor): (..., 4) GT boxes, broadcastable against ``pred``.
        eps (float): lower bound of the union. Defaults to 1e-6.

    Returns:
        Tensor: IoU of shape ``broadcast(pred, gt).shape[:-1]``.
    """
    return _iou_of_sides(pred.unbind(-1), gt.unbind(-1), eps)


def _iou_of_sides(pred: tuple, gt: tuple, eps: float = 1e-6) -> Tensor:
    """:func:`box_iou` of boxes given as their (x1, y1, x2, y2) tensors.

    In-place on its own temporaries: the same operations, fewer fresh
    allocations (page faults dominate these element-wise ops on large
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

    Same operations, in the same order, as ultralytics' ``bbox_iou(gt,
    pred, xywh=False, CIoU=True).clamp(0)``, so results are bit-identical.

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


def _widen_small_gts(gt_bboxes: Tensor, min_side: float) -> Tensor:
    """Widen GT sides shorter than ``min_side`` about the centre.

    Same arithmetic as ultralytics' xyxy -> xywh -> xyxy round trip (which
    also applies to the boxes it leaves the size of).
    """
    ctr = torch.stack([(gt_bboxes[..., 0] + gt_bboxes[..., 2]) / 2,
                       (gt_bboxes[..., 1] + gt_bboxes[..., 3]) / 2], -1)
    wh = torch.stack([gt_bboxes[..., 2] - gt_bboxes[..., 0],
                      gt_bboxes[..., 3] - gt_bboxes[..., 1]], -1)
    wh = torch.where(wh < min_side, torch.full_like(wh, min_side), wh)
    half = wh / 2
    return torch.cat([ctr - half, ctr + half], -1)


def _centers_inside(centers: Tensor, gt_bboxes: Tensor,
                    eps: float) -> Tensor:
    """Whether each centre is more than ``eps`` inside its GT box.

    Args:
        centers (Tensor): (..., 2) points, broadcastable against gt_bboxes.
        gt_bboxes (Tensor): (..., 4) xyxy boxes.
        eps (float): margin; sides are compared with a strict ``>``.

    Returns:
        Tensor: bool of the broadcast shape.
    """
    cx, cy = centers[..., 0], centers[..., 1]
    return (((cx - gt_bboxes[..., 0]) > eps) & ((cy - gt_bboxes[..., 1]) > eps)
            & ((gt_bboxes[..., 2] - cx) > eps)
            & ((gt_bboxes[..., 3] - cy) > eps))


def _inside_mask(centers: Tensor, gt_bboxes: Tensor, valid: Tensor,
                 eps: float) -> Tensor:
    """(B, M, A) bool: centre ``a`` more than ``eps`` inside valid GT
    ``(b, m)``.

    The comparisons of :func:`_centers_inside`, element for element, but
    evaluated once per distinct x (and y) coordinate of shared (A, 2)
    centres (a few hundred on a stride grid) and then spread to the anchors
    by index, instead of four subtractions over (B, M, A).

    Args:
        centers (Tensor): (A, 2) centres shared by the batch, or (B, A, 2).
        gt_bboxes (Tensor): (B, M, 4) xyxy boxes.
        valid (Tensor): (B, M) bool, False for padding rows.
        eps (float): margin; sides are compared with a strict ``>``.
    """
    if centers.dim() == 3:
        return _centers_inside(centers[:, None], gt_bboxes[:, :, None],
                               eps) & valid[:, :, None]
    # built as (A, B*M): spreading whole rows by index is a copy per anchor
    boxes = gt_bboxes.reshape(-1, 4)
    inside = None
    for d in (0, 1):
        coords, inverse = torch.unique(centers[:, d], return_inverse=True)
        coords = coords[:, None]
        ok = (coords - boxes[:, d]) > eps
        ok &= (boxes[:, d + 2] - coords) > eps
        ok = ok.index_select(0, inverse)
        inside = ok if inside is None else inside.logical_and_(ok)
    inside.logical_and_(valid.reshape(-1))
    return inside.t().contiguous().view(*gt_bboxes.shape[:2], -1)


def _all_finite(x: Tensor) -> bool:
    """Whether all of ``x`` is finite; one cheap reduction when it is (NaN
    and inf survive a sum; an overflowing sum falls back to the full
    test)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def check_assign_inputs(pred_scores: Tensor, pred_bboxes: Tensor,
                        prior_centers: Tensor, gt_bboxes: Tensor,
                        gt_labels: Tensor, gt_valid: Tensor) -> None:
    """Raise ``ValueError`` naming the field of any malformed input.

    Shapes must agree; scores and predicted boxes must be finite; valid GTs
    must have finite boxes and labels in ``[0, num_classes)``. Degenerate
    (zero-area or inverted) GT boxes are allowed: see
    :func:`task_aligned_assign` for what they get.
    """
    if pred_scores.dim() != 3:
        raise ValueError('pred_scores must be (B, A, C), got shape '
                         f'{tuple(pred_scores.shape)}')
    bsz, num_anchors, num_classes = pred_scores.shape
    if pred_bboxes.shape != (bsz, num_anchors, 4):
        raise ValueError(f'pred_bboxes must be ({bsz}, {num_anchors}, 4), '
                         f'got {tuple(pred_bboxes.shape)}')
    if prior_centers.shape[-2:] != (num_anchors, 2):
        raise ValueError(f'prior_centers must be ({num_anchors}, 2), got '
                         f'{tuple(prior_centers.shape)}')
    if gt_bboxes.dim() != 3 or gt_bboxes.shape[0] != bsz \
            or gt_bboxes.shape[2] != 4:
        raise ValueError(f'gt_bboxes must be ({bsz}, M, 4), got '
                         f'{tuple(gt_bboxes.shape)}')
    if gt_labels.shape != gt_bboxes.shape[:2]:
        raise ValueError(f'gt_labels must be {tuple(gt_bboxes.shape[:2])}, '
                         f'got {tuple(gt_labels.shape)}')
    if gt_valid.shape != gt_bboxes.shape[:2]:
        raise ValueError(f'gt_valid must be {tuple(gt_bboxes.shape[:2])}, '
                         f'got {tuple(gt_valid.shape)}')
    if not _all_finite(pred_scores):
        raise ValueError('pred_scores contains NaN or inf')
    if not _all_finite(pred_bboxes):
        raise ValueError('pred_bboxes contains NaN or inf')
    valid = gt_valid.bool()
    if not _all_finite(gt_bboxes[valid]):
        raise ValueError('gt_bboxes contains NaN or inf')
    labels = gt_labels[valid]
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'gt_labels must lie in [0, {num_classes}) '
                         f'(num_classes from pred_scores), got values in '
                         f'[{int(labels.min())}, {int(labels.max())}]')


def task_aligned_assign(pred_scores: Tensor,
                        pred_bboxes: Tensor,
                        prior_centers: Tensor,
                        gt_bboxes: Tensor,
                        gt_labels: Tensor,
                        gt_valid: Optional[Tensor] = None,
                        topk: int = 13,
                        alpha: float = 1,
                        beta: float = 6,
                        mode: str = 'mmdet',
                        center_eps: Optional[float] = None,
                        min_gt_side: Optional[float] = None,
                        iou_fn: Optional[IoUFn] = None,
                        norm_eps: float = 1e-9,
                        max_chunk_elements: int = 1 << 23,
                        check_inputs: bool = True) -> TaskAlignedAssignment:
    """Assign GTs to anchors by the task-alignment metric, whole batch.

    Args:
        pred_scores (Tensor): (B, A, C) predicted class scores (sigmoid
            probabilities), detached.
        pred_bboxes (Tensor): (B, A, 4) decoded predicted xyxy boxes.
        prior_centers (Tensor): (A, 2) or (B, A, 2) anchor centres.
        gt_bboxes (Tensor): (B, M, 4) padded xyxy GT boxes.
        gt_labels (Tensor): (B, M) GT classes in [0, C) where valid.
        gt_valid (Tensor, optional): (B, M) bool, False for padding rows.
            Defaults to all valid.
        topk (int): anchors kept per GT (capped at A). Defaults to 13.
        alpha (float): score exponent of the metric. Defaults to 1.
        beta (float): IoU exponent of the metric. Defaults to 6.
        mode (str): 'mmdet' or 'ultralytics', see the module docstring.
            Defaults to 'mmdet'.
        center_eps (float, optional): how far inside a GT a centre must lie.
            Defaults to 0.01 ('mmdet') or 1e-9 ('ultralytics').
        min_gt_side (float, optional): for the inside test only, GT sides
            shorter than this are widened to it ('ultralytics' uses the
            middle stride, 16). Defaults to None: no widening.
        iou_fn (callable, optional): ``iou_fn(pred, gt)`` over broadcast
            (..., 4) boxes. Defaults to :func:`box_iou` ('mmdet') or
            :func:`box_ciou` ('ultralytics').
        norm_eps (float): stabiliser of ``norm_metrics``. Defaults to 1e-9.
        max_chunk_elements (int): bound on B * chunk * A, the size of the
            per-chunk temporaries. Defaults to 2**23.
        check_inputs (bool): validate with :func:`check_assign_inputs`
            (synchronises a GPU). Defaults to True.

    Returns:
        TaskAlignedAssignment: (B, A) tensors; see its docstring.

    Degenerate GTs (zero or negative width or height) get no anchor in
    'mmdet' mode (their IoU is 0, no centre is inside); in 'ultralytics' mode
    with ``min_gt_side`` they are widened for the inside test like any small
    GT. Images whose GTs are all padding get only background.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    if topk < 1:
        raise ValueError(f'topk must be >= 1, got {topk}')
    if gt_valid is None:
        gt_valid = gt_labels.new_ones(gt_labels.shape, dtype=torch.bool)
    if check_inputs:
        check_assign_inputs(pred_scores, pred_bboxes, prior_centers,
                            gt_bboxes, gt_labels, gt_valid)
    gt_valid = gt_valid.bool()
    bsz, num_anchors, _ = pred_scores.shape
    num_gts = gt_bboxes.shape[1] if num_anchors else 0
    if center_eps is None:
        center_eps = 0.01 if mode == 'mmdet' else 1e-9
    if iou_fn is None:
        iou_fn = box_iou if mode == 'mmdet' else box_ciou
    shared_centers = prior_centers
    if prior_centers.dim() == 2:
        prior_centers = prior_centers.expand(bsz, -1, -1)
    # padding rows may carry any label: make them safe to gather with
    labels = torch.where(gt_valid, gt_labels.long(),
                         gt_labels.new_zeros(()).long())
    scores, pred_bboxes = pred_scores.detach(), pred_bboxes.detach()
    threads = torch.get_num_threads()
    with cpu_kernels.num_threads(
            _call_threads(scores.device, bsz * num_gts * num_anchors,
                          threads)):
        pairs = None
        if mode == 'ultralytics' and num_gts:
            pairs = _inside_pair_metrics(scores, pred_bboxes,
                                         shared_centers, gt_bboxes, labels,
                                         gt_valid, alpha, beta, center_eps,
                                         min_gt_side, iou_fn, threads)

        # images in groups, GTs in chunks: B*M*A-sized floats never coexist
        per_image = max(num_anchors, 1) * max(num_gts, 1)
        group = max(1, min(bsz, max_chunk_elements // per_image))
        if mode == 'mmdet':  # larger groups spill temporaries out of cache
            group = max(1, min(group, _MMDET_GROUP_PAIRS // per_image))
        step = max(1, min(num_gts,
                          max_chunk_elements // max(num_anchors, 1)))
        step = max(1, num_gts) if group > 1 else step
        results = []
        for b0 in range(0, bsz, group):
            bs = slice(b0, min(b0 + group, bsz))
            state = _RunningState(bs.stop - bs.start, num_anchors, num_gts,
                                  scores)
            for g0 in range(0, num_gts, step):
                gs = slice(g0, min(g0 + step, num_gts))
                chunk = _Chunk(g0, gt_bboxes[bs, gs], labels[bs, gs],
                               gt_valid[bs, gs])
                if mode == 'mmdet':
                    _mmdet_chunk(state, chunk, scores[bs], pred_bboxes[bs],
                                 prior_centers[bs], topk, alpha, beta,
                                 center_eps, iou_fn, threads)
                else:
                    _ultralytics_chunk(state, chunk, pairs, bs, gs, topk)
            if pairs is not None:
                lo, hi = torch.searchsorted(
                    pairs.key, pairs.key.new_tensor(
                        [bs.start * num_gts, bs.stop * num_gts])).tolist()
                state.offer_pairs(pairs.b[lo:hi] - bs.start,
                                  pairs.a[lo:hi], pairs.g[lo:hi],
                                  pairs.ious[lo:hi], pairs.metrics[lo:hi])
            results.append(
                state.finish(mode, labels[bs], num_gts, norm_eps))
        if len(results) == 1:
            return results[0]
        return TaskAlignedAssignment(*(torch.cat(t) for t in zip(*results)))


def _call_threads(device: torch.device, num_pairs: int,
                  caller_threads: int) -> int:
    """Intra-op threads for one call: the one place this is chosen.

    A call runs a few hundred torch ops; on the CPU each op over more than
    torch's grain size (32768 elements) is an OpenMP parallel region that
    ends when its slowest thread does. Another busy process on the machine
    deschedules one of the threads, and every region then waits for it: a
    time slice per region, far more than the op's work. So calls of fewer
    than ``_SERIAL_PAIRS`` (anchor, GT) pairs run on one thread; larger
    ones keep the caller's count, their regions being long enough to gain
    from it. The kernels whose last bits depend on the thread count run
    with the caller's count (pow and IoU of the dense path and of the
    'ultralytics' pairs) or model it (the sparse pow), so results do not
    depend on this choice.

    Args:
        device (torch.device): where the inputs are; only the CPU is
            capped.
        num_pairs (int): B * M * A of the call.
        caller_threads (int): ``torch.get_num_threads()`` of the caller.

    Returns:
        int: the thread count to run the call with.
    """
    if device.type != 'cpu' or num_pairs >= _SERIAL_PAIRS:
        return caller_threads
    return 1


# (anchor, GT) pairs per call below which the CPU runs one thread (see
# _call_threads): B=16 x 8400 anchors x up to 31 GTs. Measured on the
# 2-core CPU at B=16, A=8400: idle, two threads ran M=10 no faster and
# M=100 / 500 1.6x faster than one
_SERIAL_PAIRS = 1 << 22

# (anchor, GT) pairs per image group in 'mmdet' mode; measured on a 2-core
# EPYC (32 MB L3): 2 images x 100 GTs x 8400 anchors ran 1.6x faster than 9
_MMDET_GROUP_PAIRS = 1 << 21


class _Chunk(NamedTuple):
    start: int  # index of the chunk's first GT
    bboxes: Tensor  # (B, K, 4)
    labels: Tensor  # (B, K)
    valid: Tensor  # (B, K)


class _RunningState:
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

    def finish(self, mode: str, labels: Tensor, num_gts: int,
               norm_eps: float) -> TaskAlignedAssignment:
        """Resolve conflicts, gather labels and normalise the metrics."""
        if num_gts == 0:  # no GT at all: everything is background
            labels = labels.new_zeros(labels.shape[0], 1)
        if mode == 'mmdet':
            fg = self.best_iou > -math.inf
            gt_inds, ious, metrics = (self.best_idx, self.best_iou,
                                      self.best_metric)
        else:
            fg = self.count > 0
            multi = self.count > 1
            gt_inds = torch.where(multi, self.best_idx, self.sel_idx)
            ious = torch.where(multi, self.best_iou, self.sel_iou)
            metrics = torch.where(multi, self.best_metric, self.sel_metric)
        # the rest on the positives only
        (bsz, num_anchors), rows = fg.shape, max(num_gts, 1)
        flat = fg.view(-1).nonzero().squeeze(1)
        g = gt_inds.view(-1)[flat]
        iou, t = ious.view(-1)[flat], metrics.view(-1)[flat]
        key = flat.div(num_anchors, rounding_mode='floor') * rows + g
        # per-GT maxima over its positives, then t * max_iou / max_t
        max_t = t.new_zeros(bsz * rows).scatter_reduce_(0, key, t, 'amax')
        max_iou = iou.new_zeros(bsz * rows).scatter_reduce_(
            0, key, iou, 'amax')
        norm = t * max_iou[key] / (max_t[key] + norm_eps)

        def spread(values: Tensor, background: float) -> Tensor:
            out = values.new_full(fg.shape, background)
            out.view(-1)[flat] = values
            return out

        return TaskAlignedAssignment(fg, spread(g, -1), spread(
            labels.reshape(-1)[key], -1), spread(iou, 0), spread(t, 0),
                                     spread(norm, 0))


def _mmdet_chunk(state: _RunningState, chunk: _Chunk, scores: Tensor,
                 pred_bboxes: Tensor, centers: Tensor, topk: int,
                 alpha: float, beta: float, center_eps: float,
                 iou_fn: IoUFn, threads: int) -> None:
    """mmdet order: top-k of t, then t > 0 and centre inside the GT.

    Sparse (only overlapping pairs) where models of torch's CPU pow and
    topk reproduce mmdet's dense bits at the caller's ``threads``; dense
    otherwise, run with those ``threads`` as mmdet's block would be.
    """
    num_anchors = pred_bboxes.shape[1]
    k = min(topk, num_anchors)
    sparse = (iou_fn is box_iou and alpha == 1
              and pred_bboxes.device.type == 'cpu'
              and chunk.bboxes.shape[1] == state.num_gts
              and k * cpu_kernels.TOPK_PARTIAL_SORT_FACTOR <= num_anchors
              and cpu_kernels.compact_topk_is_exact(k, pred_bboxes.dtype))
    vec_span = cpu_kernels.pow_vector_span(pred_bboxes.dtype, beta,
                                           threads) if sparse else None
    if vec_span is not None:
        cands = _mmdet_sparse_candidates(scores, pred_bboxes, centers, chunk,
                                         k, beta, center_eps, vec_span,
                                         threads)
    else:  # pow (and a custom IoU) round by the thread count: the caller's
        with cpu_kernels.num_threads(threads):
            cands = _mmdet_dense_candidates(scores, pred_bboxes, centers,
                                            chunk, k, alpha, beta,
                                            center_eps, iou_fn)
    state.offer_reduced(chunk.start,
                        *_resolve_conflicts(*cands, pred_bboxes.shape[:2],
                                            chunk.bboxes.shape[1]))


def _mmdet_dense_candidates(scores: Tensor, pred_bboxes: Tensor,
                            centers: Tensor, chunk: _Chunk, k: int,
                            alpha: float, beta: float, center_eps: float,
                            iou_fn: IoUFn) -> tuple:
    """Kept (b, a, g, iou, metric) candidates from the dense (B, A, K)
    metric, laid out so each image's (A, K) block is mmdet's."""
    ious = iou_fn(pred_bboxes[:, :, None], chunk.bboxes[:, None])
    index = chunk.labels[:, None].expand(-1, scores.shape[1], -1)
    pair_scores = scores.gather(2, index)
    metrics = torch.empty_like(ious)
    for i, all_valid in enumerate(chunk.valid.all(1).tolist()):
        _block_metric(pair_scores[i], ious[i], chunk.valid[i], all_valid,
                      alpha, beta, metrics[i])
    top_metric, top_idx = metrics.topk(k, dim=1)  # (B, k, K)
    top_centers = centers.gather(
        1, top_idx.flatten(1)[..., None].expand(-1, -1, 2)).view(
            *top_idx.shape, 2)
    keep = (top_metric > 0) & _centers_inside(
        top_centers, chunk.bboxes[:, None], center_eps)
    keep &= chunk.valid[:, None]
    b, j, g = keep.nonzero(as_tuple=True)
    a = top_idx[b, j, g]
    return b, a, g, ious[b, a, g], top_metric[b, j, g]


def _mmdet_sparse_candidates(scores: Tensor, pred_bboxes: Tensor,
                             centers: Tensor, chunk: _Chunk, k: int,
                             beta: float, center_eps: float,
                             vec_span: int, threads: int) -> tuple:
    """Kept (b, a, g, iou, metric) candidates, alpha = 1, with IoU, pow and
    top-k only on blocks of anchors that overlap the GT.

    Elsewhere IoU and the metric are +0. Each GT row takes part in top-k as
    the concatenation of its listed blocks: its first ``k`` anchors, then a
    subsequence holding all its nonzero metrics in order, which picks what
    the dense top-k picks (see :mod:`.cpu_kernels`). Which pow elements
    take the scalar loop is modelled for mmdet's dense kernel run with
    ``threads`` threads, whatever the current count.
    """
    num_anchors, num_classes = scores.shape[1:]
    num_gts = chunk.bboxes.shape[1]
    size = _OVERLAP_BLOCK
    row, blk, ious = _overlapping_blocks(pred_bboxes, chunk.bboxes,
                                         chunk.valid, k)
    # pow and scores only on lanes with IoU > 0: the metric is +0 elsewhere
    lanes = ious.view(-1).nonzero().squeeze(1)
    if not lanes.numel():  # no overlap at all (or no valid GT)
        empty = row.new_zeros(0)
        return empty, empty, empty, ious.new_zeros(0), ious.new_zeros(0)
    scalar = _mmdet_scalar_pow_index(row, blk, chunk.valid, num_anchors,
                                     vec_span, threads)
    at = torch.searchsorted(lanes, scalar).clamp_(max=lanes.numel() - 1)
    powered = cpu_kernels.pow_vector_except(
        ious.view(-1)[lanes], beta, vec_span, at[lanes[at] == scalar])
    b = row.div(num_gts, rounding_mode='floor')
    block_base = (b * num_anchors + blk * size) * num_classes + \
        chunk.labels.reshape(-1).index_select(0, row)
    score_index = block_base[lanes.div(size, rounding_mode='floor')] + (
        lanes % size) * num_classes
    metrics = torch.zeros_like(ious)
    metrics.view(-1)[lanes] = scores.reshape(-1).take(score_index).mul_(
        powered)
    # top-k per GT row over its listed blocks, zeros padded at the end
    rows_total = chunk.labels.numel()
    counts = torch.bincount(row, minlength=rows_total)
    first = counts.cumsum(0) - counts
    width = max(int(counts.max()),
                -(-k * cpu_kernels.TOPK_PARTIAL_SORT_FACTOR // size))
    rows = metrics.new_zeros(rows_total * width, size)
    slot = torch.arange(row.numel(), device=row.device) - first[row]
    rows.index_copy_(0, row * width + slot, metrics)
    top_metric, top_col = rows.view(rows_total, -1).topk(k, dim=1)
    del rows
    # GT rows without blocks (padding) have only zeros: never kept
    r, i = (top_metric > 0).nonzero(as_tuple=True)
    col = top_col[r, i]
    h = first[r] + col.div(size, rounding_mode='floor')
    j = col % size
    b, g = r.div(num_gts, rounding_mode='floor'), r % num_gts
    a = blk[h] * size + j
    inside = _centers_inside(centers[b, a], chunk.bboxes[b, g], center_eps)
    return (b[inside], a[inside], g[inside], ious[h, j][inside],
            top_metric[r, i][inside])


def _mmdet_scalar_pow_index(row: Tensor, blk: Tensor, valid: Tensor,
                            num_anchors: int, vec_span: int,
                            threads: int) -> Tensor:
    """Flat indices into the (H, block) IoU of :func:`_overlapping_blocks`
    of the elements that mmdet's dense pow over each image's (A, M_valid)
    block, run with ``threads`` threads, computes with the scalar loop (a
    few per image)."""
    size = _OVERLAP_BLOCK
    num_gts = valid.shape[1]
    num_blocks = -(-num_anchors // size)
    num_valid = valid.sum(1)
    pos, img = [], []
    for i, nv in enumerate(num_valid.tolist()):
        if nv:
            tails = cpu_kernels.scalar_positions(nv * num_anchors,
                                                 vec_span, threads)
            pos.append(tails)
            img.append(torch.full_like(tails, i))
    if not pos:
        return row.new_zeros(0)
    pos, img = torch.cat(pos).to(row.device), torch.cat(img).to(row.device)
    nv = num_valid[img]
    a, rank = pos.div(nv, rounding_mode='floor'), pos % nv
    # GT index of the rank-th valid GT: valid rows first, in order
    order = torch.argsort((~valid).to(torch.uint8), dim=1, stable=True)
    g = order[img, rank]
    keys = row * num_blocks + blk  # ascending
    query = (img * num_gts + g) * num_blocks + a.div(
        size, rounding_mode='floor')
    h = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    found = keys[h] == query
    return h[found] * size + (a % size)[found]


_OVERLAP_BLOCK = 16  # anchors per block of the overlap test, a power of 2


def _overlapping_blocks(pred_bboxes: Tensor, gt_bboxes: Tensor,
                        valid: Tensor, first: int) -> tuple:
    """Blocks of consecutive anchors holding every prediction with
    :func:`box_iou` > 0 with a valid GT, and the IoU over those blocks.

    The blocks holding anchors ``a < first`` are listed for every valid GT.
    A block is tested through the bounding box of its predictions
    (neighbouring anchors predict neighbouring boxes): IoU > 0 needs
    ``x1 < X2`` and ``x2 > X1`` (same for y), which the bounding box passes
    whenever one of its boxes does. The result does not depend on how the
    boxes are laid out, only the speed does.

    Returns:
        tuple: ``row`` (b * M + g) and ``blk`` (block index) of each listed
        (GT, block), sorted by (row, blk), and their (H, block size) IoU,
        with anchors past the last one (block padding) at IoU 0.
    """
    bsz, num_anchors = pred_bboxes.shape[:2]
    size = _OVERLAP_BLOCK
    num_blocks = -(-num_anchors // size)
    pad = num_blocks * size - num_anchors
    preds = pred_bboxes
    if pad:  # zero boxes: IoU 0 with anything
        preds = torch.cat([preds, preds.new_zeros(bsz, pad, 4)], 1)
    grouped = preds.reshape(bsz, num_blocks, size, 4)
    lo, hi = _block_reduce(grouped, torch.minimum), _block_reduce(
        grouped, torch.maximum)
    # (B, blocks, side, anchor): each side of a block contiguous
    blocks = grouped.transpose(2, 3).contiguous()
    listed = lo[:, None, :, 0] < gt_bboxes[:, :, None, 2]
    listed &= hi[:, None, :, 2] > gt_bboxes[:, :, None, 0]
    listed &= lo[:, None, :, 1] < gt_bboxes[:, :, None, 3]
    listed &= hi[:, None, :, 3] > gt_bboxes[:, :, None, 1]
    listed[:, :, :-(-first // size)] = True
    listed &= valid[:, :, None]
    b, g, blk = listed.nonzero(as_tuple=True)
    del listed
    row = b * gt_bboxes.shape[1] + g
    pred_sides = blocks.view(-1, 4, size).index_select(
        0, b * num_blocks + blk).unbind(1)
    gt_sides = gt_bboxes.reshape(-1, 4).index_select(0, row)[:, :,
                                                            None].unbind(1)
    return row, blk, _iou_of_sides(pred_sides, gt_sides)


def _block_reduce(grouped: Tensor, op: Callable) -> Tensor:
    """(B, blocks, 4) reduction by ``op`` over the anchors of each block of
    (B, blocks, size, 4), size a power of two, by halving (faster than
    ``amin`` over a short dimension)."""
    while grouped.shape[2] > 1:
        half = grouped.shape[2] // 2
        grouped = op(grouped[:, :, :half], grouped[:, :, half:])
    return grouped[:, :, 0]


def _resolve_conflicts(b: Tensor, a: Tensor, g: Tensor, ious: Tensor,
                       metrics: Tensor, shape: tuple, num_gts: int) -> tuple:
    """Per anchor, the highest IoU among the kept candidates (b, a, g)
    that chose it, lowest GT index on ties (mmdet's ``max(dim=1)``).

    Returns:
        tuple: (B, A) best IoU (-inf where no GT chose the anchor), its GT
        index in the chunk and its metric.
    """
    flat = b * shape[1] + a
    best = ious.new_full((shape[0] * shape[1], ), -math.inf)
    best.scatter_reduce_(0, flat, ious, 'amax')
    hit = ious == best[flat]
    arg = flat.new_zeros(best.shape)
    arg.scatter_reduce_(0, flat[hit], g[hit], 'amin', include_self=False)
    win = hit & (g == arg[flat])
    metric = metrics.new_zeros(best.shape)
    metric[flat[win]] = metrics[win]
    return best.view(shape), arg.view(shape), metric.view(shape)


def _block_metric(scores: Tensor, ious: Tensor, valid: Tensor,
                  all_valid: bool, alpha: float, beta: float,
                  out: Tensor) -> None:
    """(A, K) metric of one image into ``out``, pow over its valid GTs only
    (mmdet's contiguous (A, M) block); zero in padding columns."""
    if all_valid:
        torch.pow(ious, beta, out=out)
        out.mul_(_pow(scores, alpha))
        return
    cols = valid.nonzero().squeeze(1)
    out.zero_()
    out[:, cols] = _pow(scores[:, cols], alpha) * ious[:, cols]**beta


def _pow(x: Tensor, exponent: float) -> Tensor:
    """``x**exponent``; ``x**1`` is a copy in torch, so it is skipped."""
    return x if exponent == 1 else x**exponent


class _Pairs(NamedTuple):
    """(batch, GT, anchor) pairs with the anchor centre inside the GT."""
    b: Tensor
    g: Tensor
    a: Tensor
    ious: Tensor
    metrics: Tensor
    key: Tensor  # b * M + g, non-decreasing
    pair_key: Tensor  # (b * M + g) * A + a, increasing


def _inside_pair_metrics(scores: Tensor, pred_bboxes: Tensor,
                         centers: Tensor, gt_bboxes: Tensor, labels: Tensor,
                         valid: Tensor, alpha: float, beta: float,
                         center_eps: float, min_gt_side: Optional[float],
                         iou_fn: IoUFn, threads: int) -> _Pairs:
    """IoU and metric of the inside pairs, in ultralytics' pair order.

    The (B, M, A) inside mask is bool; the float work is done on the
    compact list of inside pairs, computed in one piece, in ultralytics'
    (batch, GT, anchor) order and with the caller's ``threads`` so that
    vectorised pow/atan round alike.
    """
    boxes = gt_bboxes if min_gt_side is None else torch.where(
        valid[..., None], _widen_small_gts(gt_bboxes, min_gt_side),
        gt_bboxes)
    inside = _inside_mask(centers, boxes, valid, center_eps)
    b, g, a = inside.nonzero(as_tuple=True)
    del inside
    pair_scores = scores[b, a, labels[b, g]]
    pred, gt = pred_bboxes[b, a], gt_bboxes[b, g]
    with cpu_kernels.num_threads(threads):
        ious = iou_fn(pred, gt)
        metrics = pair_scores.pow(alpha) * ious.pow(beta)
    key = b * gt_bboxes.shape[1] + g  # sorted: nonzero is row-major
    return _Pairs(b, g, a, ious, metrics, key,
                  key * centers.shape[-2] + a)


def _ultralytics_chunk(state: _RunningState, chunk: _Chunk, pairs: _Pairs,
                       bs: slice, gs: slice, topk: int) -> None:
    """ultralytics order: centre inside first, t = 0 elsewhere, top-k."""
    # 1. dense (B, K, A) metric of the chunk's inside pairs, zero elsewhere;
    #    a chunk is whole images or a GT slice of one image, so its pairs
    #    are one run of the sorted keys
    num_gts, num_anchors = state.num_gts, state.count.shape[1]
    bounds = pairs.key.new_tensor([bs.start * num_gts + gs.start,
                                   (bs.stop - 1) * num_gts + gs.stop])
    lo, hi = torch.searchsorted(pairs.key, bounds).tolist()
    shape = (bs.stop - bs.start, gs.stop - gs.start, num_anchors)
    metrics = pairs.metrics.new_zeros(shape)
    metrics[pairs.b[lo:hi] - bs.start, pairs.g[lo:hi] - gs.start,
            pairs.a[lo:hi]] = pairs.metrics[lo:hi]
    # 2. top-k per GT over that masked metric (zeros included, as
    #    ultralytics), then keep the candidates that are inside pairs
    top_metric, top_idx = metrics.topk(min(topk, num_anchors), dim=2)
    del metrics
    if not pairs.key.numel():
        return
    rows = torch.arange(bs.start, bs.stop, device=top_idx.device)[:, None]
    cols = torch.arange(gs.start, gs.stop, device=top_idx.device)[None]
    query = ((rows * num_gts + cols)[..., None] * num_anchors + top_idx)
    pos = torch.searchsorted(pairs.pair_key, query.flatten()).clamp_(
        max=pairs.pair_key.numel() - 1)
    found = (pairs.pair_key[pos] == query.flatten()).view(query.shape)
    # 3. count the selections; conflicts go to the IoU-argmax over all GTs
    fb, fg, fk = found.nonzero(as_tuple=True)
    pos = pos.view(query.shape)[fb, fg, fk]
    state.offer_selected(fb, top_idx[fb, fg, fk], fg + gs.start,
                         pairs.ious[pos], top_metric[fb, fg, fk])
