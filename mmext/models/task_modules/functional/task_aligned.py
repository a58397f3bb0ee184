"""Batched task-aligned label assignment (TOOD / YOLOv8), pure torch.

The alignment metric of a (GT, anchor) pair is ``t = s**alpha * iou**beta``
(:func:`~.alignment.alignment_metric`) where ``s`` is the anchor's predicted
score of the GT class and ``iou`` the overlap of the anchor's predicted box
with the GT box. Each GT keeps its ``topk`` anchors by ``t`` among those
whose centre lies inside it; an anchor chosen by several GTs goes to one of
them by IoU. Two published variants differ in the order of these steps and
in the conflict rule; :func:`task_aligned_assign` reproduces both exactly,
choosing the variant once, as a strategy object:

* ``mode='mmdet'``: :class:`~.mmdet_order.MMDetOrder`;
* ``mode='ultralytics'``: :class:`~.ultralytics_order.UltralyticsOrder`.

The driver below is the same for both: images in groups, GTs in chunks,
each chunk's winners folded into a (B, A) :class:`~.assignment.RunningState`,
then labels and normalised metrics of the positives.

How a call is run, in one place:

* Memory. Images are processed in groups and, when one image alone exceeds
  ``max_chunk_elements`` (anchor, GT) pairs, GTs in chunks (dense paths
  only: the sparse one never builds an (A, M) float block), so the largest
  float temporaries are bounded by the group ('ultralytics' mode adds one
  (B, M, A) bool inside mask and the list of inside pairs); a
  (B, M, topk, A) tensor is never built. 1000 GTs x 8400 anchors x 16
  images stay far below 2 GB (``bench_assigner.py --crowded`` prints the
  peak).
* Path ('mmdet' mode, per chunk). The sparse CPU path (float work only on
  anchor blocks that overlap the GT) wherever it reproduces mmdet's bits:
  CPU, default IoU, alpha = 1, a chunk holding whole images and
  ``topk * 64 <= A`` (:func:`~.sparse_cpu.sparse_pow_span` decides). Else
  the dense path, mmdet's own (A, M) block per image. No size threshold:
  the sparse path does less work at any size where it is exact.
* Threads. :func:`_call_threads`: calls under ``_SERIAL_PAIRS`` (anchor,
  GT) pairs, or made while the CPUs are oversubscribed (another busy
  process), run on one thread; others with the caller's count. The
  kernels whose last bits depend on the thread count are run with, or
  modelled for, the caller's count, so results are the same either way.

Measured speed is printed by ``benchmarks/bench_assigner.py``, not kept
here.
"""
import os
from typing import Callable, Optional

import torch
from torch import Tensor

from .assignment import Chunk, RunningState, TaskAlignedAssignment, finish
from .mmdet_order import MMDetOrder
from .sparse_cpu.cpu_kernels import num_threads
from .ultralytics_order import UltralyticsOrder

IoUFn = Callable[[Tensor, Tensor], Tensor]

MODES = ('mmdet', 'ultralytics')

# (anchor, GT) pairs per call below which the CPU runs one thread (see
# _call_threads): B=16 x 8400 anchors x up to 31 GTs
_SERIAL_PAIRS = 1 << 22


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
        min_gt_side (float, optional): 'ultralytics' only: for the inside
            test, GT sides shorter than this are widened to it (ultralytics
            uses the middle stride, 16). Defaults to None: no widening.
        iou_fn (callable, optional): ``iou_fn(pred, gt)`` over broadcast
            (..., 4) boxes. Defaults to :func:`~.box_overlaps.box_iou`
            ('mmdet') or :func:`~.box_overlaps.box_ciou` ('ultralytics').
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
    # padding rows may carry any label: make them safe to gather with
    labels = torch.where(gt_valid, gt_labels.long(),
                         gt_labels.new_zeros(()).long())
    scores, pred_bboxes = pred_scores.detach(), pred_bboxes.detach()
    threads = torch.get_num_threads()
    with num_threads(
            _call_threads(scores.device, bsz * num_gts * num_anchors,
                          threads)):
        if mode == 'mmdet':
            order = MMDetOrder(scores, pred_bboxes, prior_centers, topk,
                               alpha, beta, center_eps, iou_fn, threads)
        else:
            order = UltralyticsOrder(scores, pred_bboxes, prior_centers,
                                     gt_bboxes, labels, gt_valid, topk,
                                     alpha, beta, center_eps, min_gt_side,
                                     iou_fn, threads)
        # images in groups, GTs in chunks: B*M*A-sized floats never coexist
        per_image = max(num_anchors, 1) * max(num_gts, 1)
        group = max(1, min(bsz, max_chunk_elements // per_image))
        if order.group_pairs:
            group = max(1, min(group, order.group_pairs // per_image))
        step = max(1, min(num_gts,
                          max_chunk_elements // max(num_anchors, 1)))
        if group > 1 or not order.needs_gt_chunks:
            step = max(1, num_gts)
        results = []
        for b0 in range(0, bsz, group):
            bs = slice(b0, min(b0 + group, bsz))
            state = RunningState(bs.stop - bs.start, num_anchors, num_gts,
                                 scores)
            for g0 in range(0, num_gts, step):
                gs = slice(g0, min(g0 + step, num_gts))
                order.assign_chunk(
                    state,
                    Chunk(g0, gt_bboxes[bs, gs], labels[bs, gs],
                          gt_valid[bs, gs]), bs, gs)
            order.end_group(state, bs)
            results.append(
                finish(order.winners(state), labels[bs], num_gts, norm_eps))
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
    time slice per region, far more than the op's work. So a call runs on
    one thread when it is small (fewer than ``_SERIAL_PAIRS`` (anchor, GT)
    pairs: its regions are too short to gain from more) or when the
    machine is oversubscribed right now (:func:`_cpus_oversubscribed`);
    otherwise it keeps the caller's count. The kernels whose last bits
    depend on the thread count run with the caller's count (pow and IoU of
    the dense path and of the 'ultralytics' pairs) or model it (the sparse
    pow), so results do not depend on this choice.

    Args:
        device (torch.device): where the inputs are; only the CPU is
            capped.
        num_pairs (int): B * M * A of the call.
        caller_threads (int): ``torch.get_num_threads()`` of the caller.

    Returns:
        int: the thread count to run the call with.
    """
    if device.type != 'cpu' or caller_threads == 1:
        return caller_threads
    if num_pairs < _SERIAL_PAIRS or _cpus_oversubscribed():
        return 1
    return caller_threads


def _cpus_oversubscribed(loadavg: str = '/proc/loadavg') -> bool:
    """Whether more threads are runnable on the machine than it has CPUs,
    now (Linux's instantaneous count in ``/proc/loadavg``, which includes
    the caller and its spinning OpenMP workers). False where unknown."""
    try:
        with open(loadavg) as f:
            runnable = int(f.read().split()[3].split('/')[0])
    except (OSError, ValueError, IndexError):
        return False
    return runnable > (os.cpu_count() or 1)
