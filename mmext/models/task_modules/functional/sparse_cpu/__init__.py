"""Sparse CPU path of 'mmdet' mode, with the kernel models it relies on.

mmdet builds a dense (A, M) metric per image. On the CPU most of it is
+0 (a predicted box overlaps few GTs), so this path does the float work on
blocks of 16 consecutive anchors whose predicted boxes can overlap the GT
(:mod:`.candidates`) and reproduces the two kernel details of the dense
block that decide its bits (:mod:`.cpu_kernels`): which pow elements take
the scalar loop, and how the partial-sort top-k breaks ties.

:func:`sparse_pow_span` is the one switch: it says whether this path
reproduces mmdet here (and with which pow model), or the dense path must
run.
"""
from typing import Optional

import torch

from . import cpu_kernels
from .candidates import sparse_candidates

__all__ = ['cpu_kernels', 'sparse_candidates', 'sparse_pow_span']


def sparse_pow_span(device: torch.device, dtype: torch.dtype, alpha: float,
                    beta: float, k: int, num_anchors: int, default_iou: bool,
                    threads: int) -> Optional[int]:
    """The vector span of the pow model when the sparse path is exact.

    Args:
        device (torch.device): where the inputs are (CPU only).
        dtype (torch.dtype): float dtype of the boxes.
        alpha (float): score exponent (1 only: then the score factor needs
            no pow of its own).
        beta (float): IoU exponent (its pow is modelled).
        k (int): top-k per GT.
        num_anchors (int): A; the partial-sort model needs
            ``k * 64 <= A``.
        default_iou (bool): IoU is :func:`box_iou` (IoU > 0 only where the
            blocks' bounding boxes overlap the GT).
        threads (int): intra-op threads of the dense kernel reproduced.

    Returns:
        int or None: the span for :func:`sparse_candidates`, or None: run
        the dense path.
    """
    if not (default_iou and alpha == 1 and device.type == 'cpu'
            and k * cpu_kernels.TOPK_PARTIAL_SORT_FACTOR <= num_anchors
            and cpu_kernels.compact_topk_is_exact(k, dtype)):
        return None
    return cpu_kernels.pow_vector_span(dtype, beta, threads)
