"""'mmdet' mode candidates from the anchor blocks that overlap each GT.

Elsewhere IoU and the metric are +0, so the dense top-k never keeps those
anchors (``t > 0`` is required) unless a row has fewer than ``k`` nonzero
metrics, where its first ``k`` anchors fill the heap: those blocks are
listed for every GT.
"""
from typing import Callable

import torch
from torch import Tensor

from ..alignment import alignment_metric
from ..assignment import Chunk
from ..box_overlaps import iou_of_sides
from ..prior_inside import centers_inside
from . import cpu_kernels

BLOCK = 16  # anchors per block of the overlap test, a power of 2


def sparse_candidates(scores: Tensor, pred_bboxes: Tensor, centers: Tensor,
                      chunk: Chunk, k: int, beta: float, center_eps: float,
                      vec_span: int, threads: int) -> tuple:
    """Kept (b, a, g, iou, metric) candidates, alpha = 1, with IoU, pow and
    top-k only on blocks of anchors that overlap the GT.

    Each GT row takes part in top-k as the concatenation of its listed
    blocks: its first ``k`` anchors, then a subsequence holding all its
    nonzero metrics in order, which picks what the dense top-k picks (see
    :mod:`.cpu_kernels`). Which pow elements take the scalar loop is
    modelled for mmdet's dense kernel run with ``threads`` threads,
    whatever the current count.

    Args:
        scores (Tensor): (B, A, C) detached scores.
        pred_bboxes (Tensor): (B, A, 4) detached predicted boxes.
        centers (Tensor): (B, A, 2) prior centres.
        chunk (Chunk): all GTs of the images.
        k (int): anchors kept per GT.
        beta (float): IoU exponent.
        center_eps (float): inside margin.
        vec_span (int): from :func:`~.sparse_pow_span`.
        threads (int): intra-op threads of the dense kernel reproduced.

    Returns:
        tuple: 1-D ``b, a, g``, their IoU and metric.
    """
    num_anchors, num_classes = scores.shape[1:]
    num_gts = chunk.bboxes.shape[1]
    row, blk, ious = _overlapping_blocks(pred_bboxes, chunk.bboxes,
                                         chunk.valid, k)
    # pow and scores only on lanes with IoU > 0: the metric is +0 elsewhere
    lanes = ious.view(-1).nonzero().squeeze(1)
    if not lanes.numel():  # no overlap at all (or no valid GT)
        empty = row.new_zeros(0)
        return empty, empty, empty, ious.new_zeros(0), ious.new_zeros(0)
    scalar = _scalar_pow_index(row, blk, chunk.valid, num_anchors, vec_span,
                               threads)
    at = torch.searchsorted(lanes, scalar).clamp_(max=lanes.numel() - 1)
    scalar_lanes = at[lanes[at] == scalar]
    b = row.div(num_gts, rounding_mode='floor')
    block_base = (b * num_anchors + blk * BLOCK) * num_classes + \
        chunk.labels.reshape(-1).index_select(0, row)
    score_index = block_base[lanes.div(BLOCK, rounding_mode='floor')] + (
        lanes % BLOCK) * num_classes
    metrics = torch.zeros_like(ious)
    metrics.view(-1)[lanes] = alignment_metric(
        scores.reshape(-1).take(score_index), ious.view(-1)[lanes], 1, beta,
        iou_pow=lambda x, e: cpu_kernels.pow_vector_except(
            x, e, vec_span, scalar_lanes))
    # top-k per GT row over its listed blocks, zeros padded at the end
    rows_total = chunk.labels.numel()
    counts = torch.bincount(row, minlength=rows_total)
    first = counts.cumsum(0) - counts
    width = max(int(counts.max()),
                -(-k * cpu_kernels.TOPK_PARTIAL_SORT_FACTOR // BLOCK))
    rows = metrics.new_zeros(rows_total * width, BLOCK)
    slot = torch.arange(row.numel(), device=row.device) - first[row]
    rows.index_copy_(0, row * width + slot, metrics)
    top_metric, top_col = rows.view(rows_total, -1).topk(k, dim=1)
    del rows
    # GT rows without blocks (padding) have only zeros: never kept
    r, i = (top_metric > 0).nonzero(as_tuple=True)
    col = top_col[r, i]
    h = first[r] + col.div(BLOCK, rounding_mode='floor')
    j = col % BLOCK
    b, g = r.div(num_gts, rounding_mode='floor'), r % num_gts
    a = blk[h] * BLOCK + j
    inside = centers_inside(centers[b, a], chunk.bboxes[b, g], center_eps)
    return (b[inside], a[inside], g[inside], ious[h, j][inside],
            top_metric[r, i][inside])


def _scalar_pow_index(row: Tensor, blk: Tensor, valid: Tensor,
                      num_anchors: int, vec_span: int,
                      threads: int) -> Tensor:
    """Flat indices into the (H, block) IoU of :func:`_overlapping_blocks`
    of the elements that mmdet's dense pow over each image's (A, M_valid)
    block, run with ``threads`` threads, computes with the scalar loop (a
    few per image)."""
    num_gts = valid.shape[1]
    num_blocks = -(-num_anchors // BLOCK)
    num_valid = valid.sum(1)
    pos, img = [], []
    for i, nv in enumerate(num_valid.tolist()):
        if nv:
            tails = cpu_kernels.scalar_positions(nv * num_anchors, vec_span,
                                                 threads)
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
        BLOCK, rounding_mode='floor')
    h = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    found = keys[h] == query
    return h[found] * BLOCK + (a % BLOCK)[found]


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
    num_blocks = -(-num_anchors // BLOCK)
    pad = num_blocks * BLOCK - num_anchors
    preds = pred_bboxes
    if pad:  # zero boxes: IoU 0 with anything
        preds = torch.cat([preds, preds.new_zeros(bsz, pad, 4)], 1)
    grouped = preds.reshape(bsz, num_blocks, BLOCK, 4)
    lo, hi = _block_reduce(grouped, torch.minimum), _block_reduce(
        grouped, torch.maximum)
    # (B, blocks, side, anchor): each side of a block contiguous
    blocks = grouped.transpose(2, 3).contiguous()
    listed = lo[:, None, :, 0] < gt_bboxes[:, :, None, 2]
    listed &= hi[:, None, :, 2] > gt_bboxes[:, :, None, 0]
    listed &= lo[:, None, :, 1] < gt_bboxes[:, :, None, 3]
    listed &= hi[:, None, :, 3] > gt_bboxes[:, :, None, 1]
    listed[:, :, :-(-first // BLOCK)] = True
    listed &= valid[:, :, None]
    b, g, blk = listed.nonzero(as_tuple=True)
    del listed
    row = b * gt_bboxes.shape[1] + g
    pred_sides = blocks.view(-1, 4, BLOCK).index_select(
        0, b * num_blocks + blk).unbind(1)
    gt_sides = gt_bboxes.reshape(-1, 4).index_select(0, row)[:, :,
                                                            None].unbind(1)
    return row, blk, iou_of_sides(pred_sides, gt_sides)


def _block_reduce(grouped: Tensor, op: Callable) -> Tensor:
    """(B, blocks, 4) reduction by ``op`` over the anchors of each block of
    (B, blocks, size, 4), size a power of two, by halving (faster than
    ``amin`` over a short dimension)."""
    while grouped.shape[2] > 1:
        half = grouped.shape[2] // 2
        grouped = op(grouped[:, :, :half], grouped[:, :, half:])
    return grouped[:, :, 0]
