"""Models of torch's CPU ``pow`` and ``topk`` kernels, for exact sparse work.

mmdet's assigner runs ``pow`` and ``topk`` over a dense (anchors, GTs) block
per image. To do the same work on a sparse subset of that block and still
get mmdet's bits, two kernel details must be reproduced:

* ``pow``: the vectorised and the scalar loop can differ in the last bit.
  Which one an element gets depends on its position in the block (each
  thread's range runs in whole vector spans, its remainder runs scalar):
  :func:`scalar_positions` lists the scalar ones, :func:`pow_vector_except`
  computes values with the path of the caller's choosing.
* ``topk`` (largest, ``k * 64 <= n``): ``std::partial_sort``, a heap of the
  first ``k`` elements that a later element enters only when strictly
  greater than the heap's minimum. Metrics are >= 0, so zeros after the
  first ``k`` never enter: ``topk`` over the first ``k`` elements followed by
  the nonzero rest (same order, zeros padded at the end) picks the same
  elements, ties included. :func:`compact_topk_is_exact` checks that model
  once against the dense kernel.

Both models are checked once per (dtype, exponent, threads) or ``k``; where
a check fails the caller must run the dense kernels. The pow model takes the
thread count of the dense kernel it reproduces as an argument, so the sparse
work itself may run with another one (see :func:`num_threads`).
"""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from torch import Tensor

GRAIN = 32768  # at::internal::GRAIN_SIZE
TOPK_PARTIAL_SORT_FACTOR = 64  # topk uses partial_sort when k * 64 <= n
_POW_SPANS: dict = {}
_TOPK_EXACT: dict = {}


@contextmanager
def num_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, then restore
    the previous count (left alone when already equal).

    Args:
        threads (int): intra-op threads inside the block.
    """
    saved = torch.get_num_threads()
    if threads == saved:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def scalar_positions(numel: int,
                     vec_span: int,
                     threads: Optional[int] = None) -> Tensor:
    """Positions of a contiguous tensor of ``numel`` elements that torch's
    CPU pow kernel computes with its scalar loop: the tail of each thread's
    range that does not fill a whole vector span.

    Args:
        numel (int): number of elements of the dense tensor.
        vec_span (int): elements per vectorised step, from
            :func:`pow_vector_span`.
        threads (int, optional): intra-op threads of the kernel run.
            Defaults to the current ``torch.get_num_threads()``.

    Returns:
        Tensor: long positions, ascending (at most ``vec_span - 1`` per
        thread).
    """
    threads = threads or torch.get_num_threads()
    parts = 1 if numel < GRAIN or threads == 1 else min(
        threads, -(-numel // GRAIN))
    chunk = -(-numel // parts) if numel else 0
    tails = []
    for begin in range(0, numel, max(chunk, 1)):
        end = min(begin + chunk, numel)
        tails.extend(range(begin + (end - begin) // vec_span * vec_span, end))
    return torch.tensor(tails, dtype=torch.long)


def pow_vector_except(x: Tensor, exponent: float, vec_span: int,
                      scalar_index: Tensor) -> Tensor:
    """``x**exponent`` by torch's vectorised CPU loop, except for the
    elements ``scalar_index`` (flat indices), which get the scalar loop.

    Args:
        x (Tensor): contiguous values.
        exponent (float): the exponent.
        vec_span (int): from :func:`pow_vector_span`.
        scalar_index (Tensor): long flat indices into ``x``.

    Returns:
        Tensor: the powers, shaped as ``x``.
    """
    out = x.pow(exponent)  # vectorised but for the current threads' tails
    flat, src = out.view(-1), x.reshape(-1)
    own = scalar_positions(src.numel(), vec_span)
    flat[own] = vector_pow(src[own], exponent, vec_span)
    flat[scalar_index] = scalar_pow(src[scalar_index], exponent)
    return out


def scalar_pow(x: Tensor, exponent: float) -> Tensor:
    """pow through torch's scalar loop (a strided input is not vectorised)."""
    return torch.stack([x, x], 1)[:, 0].pow(exponent)


def vector_pow(x: Tensor, exponent: float, vec_span: int) -> Tensor:
    """pow through torch's vectorised loop: serial pieces (below the grain
    size) padded to whole vector spans."""
    piece = (GRAIN // vec_span - 1) * vec_span
    n = x.numel()
    padded = x.new_ones(-(-n // vec_span) * vec_span if n else 0)
    padded[:n] = x
    out = torch.empty_like(padded)
    for i in range(0, padded.numel(), piece):
        torch.pow(padded[i:i + piece], exponent, out=out[i:i + piece])
    return out[:n]


def pow_vector_span(dtype: torch.dtype,
                    exponent: float,
                    threads: Optional[int] = None) -> Optional[int]:
    """Elements per vectorised step of torch's CPU pow kernel for this
    dtype, exponent and thread count.

    Checked once against the dense kernel run with ``threads`` threads, on
    values where its vector and scalar paths differ.

    Args:
        dtype (torch.dtype): dtype of the powered values.
        exponent (float): the exponent.
        threads (int, optional): intra-op threads of the dense kernel to
            reproduce. Defaults to the current ``torch.get_num_threads()``.

    Returns:
        int or None: the span, or None when no model reproduces the kernel
        (then pow must run densely).
    """
    threads = threads or torch.get_num_threads()
    key = (dtype, float(exponent), threads)
    if key not in _POW_SPANS:
        with num_threads(threads):
            _POW_SPANS[key] = _find_vector_span(dtype, exponent)
    return _POW_SPANS[key]


def _find_vector_span(dtype: torch.dtype, exponent: float) -> Optional[int]:
    x = torch.linspace(1e-3, 1 - 1e-3, 1 << 14, dtype=dtype)
    differ = x[vector_pow(x, exponent, 64) != scalar_pow(x, exponent)]
    if not differ.numel():
        differ = x  # both paths agree on these: any span is exact
    for span in (16, 32, 8, 64, 4):
        ok = True
        # remainders that tell spans of 4 to 64 apart, one and more threads
        for numel in (1023, 3 * GRAIN + 61, 5 * GRAIN + 127):
            probe = differ.repeat(-(-numel // differ.numel()))[:numel]
            emulated = vector_pow(probe, exponent, span)
            tails = scalar_positions(numel, span)
            emulated[tails] = scalar_pow(probe[tails], exponent)
            if not torch.equal(probe.pow(exponent), emulated):
                ok = False
                break
        if ok:
            return span
    return None


def compact_topk_is_exact(k: int, dtype: torch.dtype) -> bool:
    """Whether ``topk(k)`` of a row of non-negative values picks the same
    elements from the row compacted to its first ``k`` elements plus its
    nonzero rest (zero padded to ``64 * k``) as from the whole row.

    Checked once per (k, dtype) on rows full of ties against the dense
    kernel, for rows long enough that torch takes its partial-sort path.
    """
    key = (k, dtype)
    if key not in _TOPK_EXACT:
        g = torch.Generator().manual_seed(k)
        length = TOPK_PARTIAL_SORT_FACTOR * k * 3
        # mostly zeros, ties at the k-th value and a few larger ones later
        # (evictions from the heap): the cases where the heap's start matters
        u = torch.rand(128, length, generator=g, dtype=torch.float64)
        rows = torch.zeros(128, length, dtype=dtype)
        for level, p in ((0.25, 0.03), (0.5, 0.003), (1.0, 0.001)):
            rows[u > 1 - p] = level
        rows[:64, :k] = 0  # heaps that start full of zeros
        _, dense = rows.topk(k, dim=1)
        ok = True
        for row, ref in zip(rows, dense):
            keep = torch.cat([torch.arange(k), k + row[k:].nonzero()[:, 0]])
            compact = row.new_zeros(max(keep.numel(),
                                        TOPK_PARTIAL_SORT_FACTOR * k))
            compact[:keep.numel()] = row[keep]
            _, idx = compact.topk(k)
            ok &= torch.equal(keep[idx].sort()[0], ref.sort()[0])
        _TOPK_EXACT[key] = bool(ok)
    return _TOPK_EXACT[key]
