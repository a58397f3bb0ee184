"""'mmdet' mode (mmdet ``TaskAlignedAssigner``): top-k of the metric over
all anchors first, then keep candidates with ``t > 0`` whose prior centre
is more than ``center_eps`` (0.01) inside the GT; an anchor chosen by
several GTs goes to the highest IoU among the GTs that chose it (first GT
on ties). IoU is mmdet's ``bbox_overlaps`` (eps 1e-6).
"""
import math
from typing import Optional

from torch import Tensor

from .assignment import Chunk, RunningState, Winners
from .box_overlaps import box_iou
from .dense import dense_candidates
from .sparse_cpu import cpu_kernels, sparse_candidates, sparse_pow_span


class MMDetOrder:
    """The 'mmdet' strategy of :func:`task_aligned_assign`.

    The sparse CPU path where :func:`sparse_pow_span` says it reproduces
    mmdet's bits (decided once per call), the dense path otherwise (run
    with the caller's ``threads``, as mmdet's block would be). The sparse
    path takes whole images whatever their GT count: it never builds an
    (A, M) float block, so only the dense path needs GT chunks.
    """
    #: (anchor, GT) pairs per image group; larger groups spill temporaries
    #: out of cache (the benchmark measures the effect)
    group_pairs: Optional[int] = 1 << 21

    def __init__(self, scores: Tensor, pred_bboxes: Tensor, centers: Tensor,
                 topk: int, alpha: float, beta: float,
                 center_eps: Optional[float], iou_fn, threads: int) -> None:
        self.scores, self.pred_bboxes = scores, pred_bboxes
        self.centers = centers if centers.dim() == 3 else centers.expand(
            scores.shape[0], -1, -1)
        self.k = min(topk, scores.shape[1])
        self.alpha, self.beta = alpha, beta
        self.center_eps = 0.01 if center_eps is None else center_eps
        self.iou_fn = box_iou if iou_fn is None else iou_fn
        self.threads = threads
        self.sparse_span = sparse_pow_span(
            pred_bboxes.device, pred_bboxes.dtype, alpha, beta, self.k,
            pred_bboxes.shape[1], self.iou_fn is box_iou, threads)
        #: whether large images must be split into GT chunks
        self.needs_gt_chunks = self.sparse_span is None

    def assign_chunk(self, state: RunningState, chunk: Chunk, bs: slice,
                     gs: slice) -> None:
        """Fold the chunk's per-anchor winner into ``state``."""
        scores, pred_bboxes = self.scores[bs], self.pred_bboxes[bs]
        centers = self.centers[bs]
        if self.sparse_span is not None:
            cands = sparse_candidates(scores, pred_bboxes, centers, chunk,
                                      self.k, self.beta, self.center_eps,
                                      self.sparse_span, self.threads)
        else:  # pow (and a custom IoU) round by the thread count: caller's
            with cpu_kernels.num_threads(self.threads):
                cands = dense_candidates(scores, pred_bboxes, centers, chunk,
                                         self.k, self.alpha, self.beta,
                                         self.center_eps, self.iou_fn)
        state.offer_reduced(
            chunk.start,
            *_resolve_conflicts(*cands, pred_bboxes.shape[:2],
                                chunk.bboxes.shape[1]))

    def end_group(self, state: RunningState, bs: slice) -> None:
        """Nothing left: chunks fold their winners as they go."""

    @staticmethod
    def winners(state: RunningState) -> Winners:
        """Anchors some GT kept, with the IoU-argmax among those GTs."""
        return Winners(state.best_iou > -math.inf, state.best_idx,
                       state.best_iou, state.best_metric)


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
