"""Dense path of 'mmdet' mode: the (B, A, K) metric, laid out as mmdet's.

Used wherever the sparse CPU path does not apply (GPU, alpha != 1, custom
IoU, GT chunks, short anchor lists): each image's (A, K) block is built and
raised to the power exactly as mmdet's ``TaskAlignedAssigner`` does, then
top-k runs over all anchors.
"""
import torch
from torch import Tensor

from .alignment import alignment_metric
from .assignment import Chunk
from .box_overlaps import box_iou
from .prior_inside import centers_inside


def dense_candidates(scores: Tensor, pred_bboxes: Tensor, centers: Tensor,
                     chunk: Chunk, k: int, alpha: float, beta: float,
                     center_eps: float, iou_fn=box_iou) -> tuple:
    """Kept (b, a, g, iou, metric) candidates of mmdet's order: top-k of
    the metric over all anchors, then ``t > 0`` and centre inside.

    Args:
        scores (Tensor): (B, A, C) detached scores.
        pred_bboxes (Tensor): (B, A, 4) detached predicted boxes.
        centers (Tensor): (B, A, 2) prior centres.
        chunk (Chunk): the GTs of this chunk.
        k (int): anchors kept per GT (at most A).
        alpha (float): score exponent.
        beta (float): IoU exponent.
        center_eps (float): inside margin.
        iou_fn (callable): IoU of broadcast boxes.

    Returns:
        tuple: 1-D ``b, a, g`` (g within the chunk), their IoU and metric.
    """
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
    keep = (top_metric > 0) & centers_inside(
        top_centers, chunk.bboxes[:, None], center_eps)
    keep &= chunk.valid[:, None]
    b, j, g = keep.nonzero(as_tuple=True)
    a = top_idx[b, j, g]
    return b, a, g, ious[b, a, g], top_metric[b, j, g]


def _block_metric(scores: Tensor, ious: Tensor, valid: Tensor,
                  all_valid: bool, alpha: float, beta: float,
                  out: Tensor) -> None:
    """(A, K) metric of one image into ``out``, pow over its valid GTs only
    (mmdet's contiguous (A, M) block, whose layout decides which elements
    pow vectorises); zero in padding columns."""
    if all_valid:
        alignment_metric(scores, ious, alpha, beta, out=out)
        return
    cols = valid.nonzero().squeeze(1)
    out.zero_()
    out[:, cols] = alignment_metric(scores[:, cols], ious[:, cols], alpha,
                                    beta)
