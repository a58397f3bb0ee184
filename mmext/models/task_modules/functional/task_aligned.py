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

Memory: GTs are processed in chunks, so the largest float temporaries are a
few (B, chunk, A) tensors plus (B, A) running state ('ultralytics' mode adds
one (B, M, A) bool inside mask and the list of inside pairs); a
(B, M, topk, A) tensor is never built.

Speed, exactly: in 'mmdet' mode the IoU arithmetic and ``iou**beta`` run only
on overlapping (prediction, GT) pairs (both are +0 elsewhere). torch's
vectorised and scalar CPU ``pow`` differ in the last bit and mmdet's (A, M)
block layout decides which one each element gets, so the sparse ``pow``
reproduces that choice per position from a model of the kernel (vector span,
grain size, thread split) that is checked once against the dense kernel; if
no model fits (or off the CPU, alpha != 1, GTs split in chunks), ``pow`` runs
densely per image block as mmdet does. Only top-k needs a dense (B, A,
chunk) metric.
In 'ultralytics' mode the float work runs on the inside pairs;
only the top-k needs a dense (B, chunk, A) metric; selections and conflicts
are resolved on the top-k lists and the pairs.
"""
import math
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

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
    area_pred = (pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1])
    area_gt = (gt[..., 2] - gt[..., 0]) * (gt[..., 3] - gt[..., 1])
    w = (torch.minimum(pred[..., 2], gt[..., 2]) -
         torch.maximum(pred[..., 0], gt[..., 0])).clamp(min=0)
    h = (torch.minimum(pred[..., 3], gt[..., 3]) -
         torch.maximum(pred[..., 1], gt[..., 1])).clamp(min=0)
    overlap = w * h
    union = torch.clamp(area_pred + area_gt - overlap, min=eps)
    return overlap / union


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
    pairs = None
    if mode == 'ultralytics' and num_gts:
        pairs = _inside_pair_metrics(scores, pred_bboxes, shared_centers,
                                     gt_bboxes, labels, gt_valid, alpha,
                                     beta, center_eps, min_gt_side, iou_fn)

    # images in groups, GTs in chunks: B*M*A-sized floats never coexist
    per_image = num_anchors * max(num_gts, 1)
    group = max(1, min(bsz, max_chunk_elements // per_image))
    step = max(1, min(num_gts, max_chunk_elements // num_anchors))
    step = num_gts if group > 1 else step
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
                             center_eps, iou_fn)
            else:
                _ultralytics_chunk(state, chunk, pairs, bs, gs, topk)
        if pairs is not None:
            lo, hi = torch.searchsorted(
                pairs.key, pairs.key.new_tensor(
                    [bs.start * num_gts, bs.stop * num_gts])).tolist()
            state.offer_pairs(pairs.b[lo:hi] - bs.start, pairs.a[lo:hi],
                              pairs.g[lo:hi], pairs.ious[lo:hi],
                              pairs.metrics[lo:hi])
        results.append(state.finish(mode, labels[bs], num_gts, norm_eps))
    return TaskAlignedAssignment(*(torch.cat(t) for t in zip(*results)))


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
        zero = metrics.new_zeros(())
        gt_inds = torch.where(fg, gt_inds, gt_inds.new_full((), -1))
        ious = torch.where(fg, ious, zero)
        metrics = torch.where(fg, metrics, zero)
        safe_inds = gt_inds.clamp(min=0)
        assigned_labels = torch.where(fg, labels.gather(1, safe_inds),
                                      gt_inds.new_full((), -1))
        # per-GT maxima over its positives, then t * max_iou / max_t
        bsz = gt_inds.shape[0]
        max_t = metrics.new_zeros(bsz, max(num_gts, 1))
        max_iou = ious.new_zeros(bsz, max(num_gts, 1))
        max_t.scatter_reduce_(1, safe_inds, metrics, 'amax')
        max_iou.scatter_reduce_(1, safe_inds, ious, 'amax')
        norm = metrics * max_iou.gather(1, safe_inds) / (
            max_t.gather(1, safe_inds) + norm_eps)
        norm = torch.where(fg, norm, zero)
        return TaskAlignedAssignment(fg, gt_inds, assigned_labels, ious,
                                     metrics, norm)


def _mmdet_chunk(state: _RunningState, chunk: _Chunk, scores: Tensor,
                 pred_bboxes: Tensor, centers: Tensor, topk: int,
                 alpha: float, beta: float, center_eps: float,
                 iou_fn: IoUFn) -> None:
    """mmdet order: top-k of t, then t > 0 and centre inside the GT."""
    # 1. dense metric of every (anchor, GT) pair, as (B, A, K) so each
    #    image's (A, K) block has mmdet's memory layout: torch's vectorised
    #    and scalar pow can differ in the last bit, and which one an element
    #    gets depends on its position in the block
    sparse = iou_fn is box_iou
    if sparse:
        ious, pairs = _sparse_box_iou(pred_bboxes, chunk.bboxes)
    else:
        ious = iou_fn(pred_bboxes[:, :, None], chunk.bboxes[:, None])
    # with the whole (A, M) block in the chunk, an exact model of torch's
    # pow kernel and alpha = 1, the metric needs pow only where IoU > 0
    vec_span = _pow_vector_span(ious, beta) if (
        sparse and alpha == 1 and chunk.bboxes.shape[1] == state.num_gts) \
        else None
    if vec_span is not None:
        metrics = _sparse_metric(scores, ious, pairs, chunk, beta, vec_span)
    else:
        index = chunk.labels[:, None].expand(-1, scores.shape[1], -1)
        pair_scores = scores.gather(2, index)
        metrics = torch.empty_like(ious)
        for i, all_valid in enumerate(chunk.valid.all(1).tolist()):
            _block_metric(pair_scores[i], ious[i], chunk.valid[i], all_valid,
                          alpha, beta, metrics[i])
    # 2. top-k anchors per GT over all anchors (mmdet's candidate order)
    k = min(topk, metrics.shape[1])
    top_metric, top_idx = metrics.topk(k, dim=1)  # (B, k, K)
    # 3. keep candidates with t > 0 whose prior centre is inside the GT
    top_centers = centers.gather(
        1, top_idx.flatten(1)[..., None].expand(-1, -1, 2)).view(
            *top_idx.shape, 2)
    keep = (top_metric > 0) & _centers_inside(
        top_centers, chunk.bboxes[:, None], center_eps)
    keep &= chunk.valid[:, None]
    # 4. per anchor, highest IoU among the GTs that kept it (lowest GT
    #    index on ties), reduced over the (B, k, K) candidates only
    num_gts = ious.shape[2]
    cand_iou = torch.where(keep, ious.gather(1, top_idx), -math.inf)
    flat_idx = top_idx.flatten(1)
    best = cand_iou.new_full(ious.shape[:2], -math.inf)
    best.scatter_reduce_(1, flat_idx, cand_iou.flatten(1), 'amax')
    hit = keep & (cand_iou == best.gather(1, flat_idx).view_as(cand_iou))
    gt_ids = torch.arange(num_gts, device=ious.device).expand_as(top_idx)
    arg = torch.full_like(best, num_gts, dtype=torch.long)
    arg.scatter_reduce_(1, flat_idx,
                        torch.where(hit, gt_ids, num_gts).flatten(1), 'amin')
    arg = arg.clamp_(max=num_gts - 1)
    state.offer_reduced(chunk.start, best, arg,
                        metrics.gather(2, arg[..., None]).squeeze(2))


def _sparse_metric(scores: Tensor, ious: Tensor, pairs: tuple, chunk: _Chunk,
                   beta: float, vec_span: int) -> Tensor:
    """(B, A, K) ``scores * ious**beta`` (alpha = 1) bit for bit as mmdet's
    dense (A, M_valid) block per image, with pow only on the overlapping
    ``pairs`` (b, a, g) (IoU, hence the metric, is 0 elsewhere)."""
    b, a, g = pairs
    valid = chunk.valid
    if not bool(valid.all()):
        keep = valid[b, g]
        b, a, g = b[keep], a[keep], g[keep]
    # element (a, m) of image b sits at a * M_valid + rank(m) of its block
    num_valid = valid.sum(1)
    rank = valid.cumsum(1) - 1
    pos = a * num_valid[b] + rank[b, g]
    (num_anchors, num_gts), num_classes = ious.shape[1:], scores.shape[2]
    ba = b * num_anchors + a
    bag = ba * num_gts + g
    values = _pow_like_dense(
        ious.view(-1).index_select(0, bag), pos,
        num_valid[b] * num_anchors, beta, vec_span)
    labels = chunk.labels.reshape(-1).index_select(0, b * num_gts + g)
    values = scores.reshape(-1).index_select(
        0, ba * num_classes + labels) * values
    metrics = torch.zeros_like(ious)
    metrics.view(-1).index_copy_(0, bag, values)
    return metrics


_GRAIN = 32768  # at::internal::GRAIN_SIZE
_POW_SPANS: dict = {}


def _pow_like_dense(x: Tensor, pos: Tensor, numel: Tensor, exponent: float,
                    vec_span: int) -> Tensor:
    """``x**exponent`` as torch's CPU kernel computes element ``pos`` of a
    contiguous tensor of ``numel`` elements: each thread's range runs
    vectorised in steps of ``vec_span`` and its remainder scalar."""
    threads = torch.get_num_threads()
    parts = torch.where(numel < _GRAIN, 1,
                        numel.div(_GRAIN, rounding_mode='floor') +
                        (numel % _GRAIN > 0).long()).clamp(max=threads)
    if threads == 1:
        parts = torch.ones_like(parts)
    chunk = (numel + parts - 1).div(parts, rounding_mode='floor')
    begin = pos.div(chunk, rounding_mode='floor') * chunk
    end = torch.minimum(begin + chunk, numel)
    vec_end = begin + (end - begin).div(
        vec_span, rounding_mode='floor') * vec_span
    out = _vector_pow(x, exponent, vec_span)
    scalar = (pos >= vec_end).nonzero().squeeze(1)  # a few per range
    out[scalar] = _scalar_pow(x[scalar], exponent)
    return out


def _scalar_pow(x: Tensor, exponent: float) -> Tensor:
    """pow through torch's scalar loop (a strided input is not vectorised)."""
    return torch.stack([x, x], 1)[:, 0].pow(exponent)


def _vector_pow(x: Tensor, exponent: float, vec_span: int) -> Tensor:
    """pow through torch's vectorised loop: serial pieces (below the grain
    size) padded to whole vector spans."""
    piece = (_GRAIN // vec_span - 1) * vec_span
    n = x.numel()
    padded = x.new_ones(-(-n // vec_span) * vec_span if n else 0)
    padded[:n] = x
    out = torch.empty_like(padded)
    for i in range(0, padded.numel(), piece):
        torch.pow(padded[i:i + piece], exponent, out=out[i:i + piece])
    return out[:n]


def _pow_vector_span(like: Tensor, exponent: float) -> Optional[int]:
    """Elements per vectorised step of torch's CPU pow kernel for this
    dtype, exponent and thread count, checked once against the dense kernel
    on values where its vector and scalar paths differ; None when no model
    reproduces it (or off the CPU): then pow must run densely."""
    if like.device.type != 'cpu':
        return None
    key = (like.dtype, float(exponent), torch.get_num_threads())
    if key not in _POW_SPANS:
        _POW_SPANS[key] = _find_vector_span(like.dtype, exponent)
    return _POW_SPANS[key]


def _find_vector_span(dtype: torch.dtype, exponent: float) -> Optional[int]:
    x = torch.linspace(1e-3, 1 - 1e-3, 1 << 14, dtype=dtype)
    differ = x[_vector_pow(x, exponent, 64) != _scalar_pow(x, exponent)]
    if not differ.numel():
        differ = x  # both paths agree on these: any span is exact
    for span in (16, 32, 8, 64, 4):
        ok = True
        # remainders that tell spans of 4 to 64 apart, one and more threads
        for numel in (1023, 3 * _GRAIN + 61, 5 * _GRAIN + 127):
            probe = differ.repeat(-(-numel // differ.numel()))[:numel]
            pos = torch.arange(numel)
            emulated = _pow_like_dense(probe, pos, torch.full_like(
                pos, numel), exponent, span)
            if not torch.equal(probe.pow(exponent), emulated):
                ok = False
                break
        if ok:
            return span
    return None


def _sparse_box_iou(pred_bboxes: Tensor, gt_bboxes: Tensor) -> tuple:
    """(B, A, K) :func:`box_iou` of every (prediction, GT) pair, bit for bit,
    with the float work done only on pairs whose boxes overlap; also the
    (b, a, g) index lists of those pairs.

    Elsewhere the width or height clamps to 0, so :func:`box_iou` is +0
    there; ``min(x2, X2) - max(x1, X1) > 0`` holds exactly when
    ``x2 > x1, x2 > X1, X2 > x1, X2 > X1`` (finite floats), so a few bool
    comparisons find the pairs that need the arithmetic.
    """
    neg = pred_bboxes.new_full((), -math.inf)
    # a box that is empty along an axis overlaps nothing along it: its far
    # side goes to -inf so that the cross comparisons fail
    p_x2 = torch.where(pred_bboxes[..., 2] > pred_bboxes[..., 0],
                       pred_bboxes[..., 2], neg)[:, :, None]
    p_y2 = torch.where(pred_bboxes[..., 3] > pred_bboxes[..., 1],
                       pred_bboxes[..., 3], neg)[:, :, None]
    g_x2 = torch.where(gt_bboxes[..., 2] > gt_bboxes[..., 0],
                       gt_bboxes[..., 2], neg)[:, None]
    g_y2 = torch.where(gt_bboxes[..., 3] > gt_bboxes[..., 1],
                       gt_bboxes[..., 3], neg)[:, None]
    hit = p_x2 > gt_bboxes[:, None, :, 0]
    hit &= g_x2 > pred_bboxes[:, :, None, 0]
    hit &= p_y2 > gt_bboxes[:, None, :, 1]
    hit &= g_y2 > pred_bboxes[:, :, None, 1]
    b, a, g = hit.nonzero(as_tuple=True)
    del hit
    (bsz, num_anchors), num_gts = pred_bboxes.shape[:2], gt_bboxes.shape[1]
    ba = b * num_anchors + a
    values = box_iou(pred_bboxes.reshape(-1, 4).index_select(0, ba),
                     gt_bboxes.reshape(-1, 4).index_select(0, b * num_gts + g))
    ious = pred_bboxes.new_zeros(bsz, num_anchors, num_gts)
    ious.view(-1).index_copy_(0, ba * num_gts + g, values)
    return ious, (b, a, g)


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
                         iou_fn: IoUFn) -> _Pairs:
    """IoU and metric of the inside pairs, in ultralytics' pair order.

    The (B, M, A) inside mask is bool; the float work is done on the
    compact list of inside pairs, computed in one piece and in ultralytics'
    (batch, GT, anchor) order so that vectorised pow/atan round alike.
    """
    boxes = gt_bboxes if min_gt_side is None else torch.where(
        valid[..., None], _widen_small_gts(gt_bboxes, min_gt_side),
        gt_bboxes)
    inside = _inside_mask(centers, boxes, valid, center_eps)
    b, g, a = inside.nonzero(as_tuple=True)
    del inside
    ious = iou_fn(pred_bboxes[b, a], gt_bboxes[b, g])
    metrics = scores[b, a, labels[b, g]].pow(alpha) * ious.pow(beta)
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
