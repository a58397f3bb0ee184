"""Multi-label classification statistics: CP/CR/CF1, OP/OR/OF1, AP and mAP.

All functions take ``scores`` of shape (N, C) and ``targets`` of shape (N, C)
with values in {-1, 0, 1}; ``-1`` means "ignore this label of this sample"
(VOC *difficult*). Ignored entries count neither as positives nor as
negatives anywhere, exactly as in mmpretrain's ``MultiLabelMetric`` and
``AveragePrecision``. Results are fractions in [0, 1] (not percent).

Conventions (those of mmpretrain, and of sklearn with ``zero_division=0``):

* a class with no predicted positives has precision 0, a class with no
  positive targets has recall 0 and AP 0, and F1 is 0 when P + R = 0;
* CP, CR, macro-F1 and mAP average over **all** C classes, including
  classes without positives;
* AP is non-interpolated: the mean over positives of the precision at
  their rank. Scores are sorted descending with a stable sort, so tied
  scores are ranked by sample index. (mmpretrain's unstable
  ``torch.argsort`` orders ties arbitrarily and sklearn groups ties into
  one threshold; all three agree on tie-free scores.)
"""
from typing import Dict, Iterator, Optional, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

__all__ = [
    'check_multilabel_inputs', 'multilabel_confusion',
    'multilabel_precision_recall_f1', 'multilabel_average_precision',
    'multilabel_best_f1_thresholds', 'multilabel_metrics'
]

# Bound on the elements transposed or sorted at once: argsort indices are
# int64, so a 100k x 1000 problem sorted in one go would need ~1.6 GB extra.
_BLOCK_ELEMS = 1 << 23
# Bins per positive in ``_negatives_above``: with 8, about 1 % of the
# negatives share a bin with two or more positives and need a search.
_BINS_PER_POSITIVE = 8


def check_multilabel_inputs(scores: ArrayLike,
                            targets: ArrayLike) -> Tuple[np.ndarray,
                                                         np.ndarray]:
    """Validate and convert scores and targets to numpy.

    Args:
        scores (np.ndarray | torch.Tensor): Scores of shape (N, C).
        targets (np.ndarray | torch.Tensor): Targets of shape (N, C) with
            values in {-1, 0, 1}.

    Returns:
        tuple[np.ndarray, np.ndarray]: Floating scores (float32 stays
        float32, other types become float64) and int8 targets.

    Raises:
        ValueError: On empty input, wrong ndim, shape mismatch, NaN scores
            or targets outside {-1, 0, 1}.
    """
    scores = _to_numpy(scores)
    targets = _to_numpy(targets)
    if scores.ndim != 2 or targets.ndim != 2:
        raise ValueError('scores and targets must have shape (N, C), got '
                         f'{scores.shape} and {targets.shape}')
    if scores.shape != targets.shape:
        raise ValueError(f'shape mismatch: scores {scores.shape} vs '
                         f'targets {targets.shape}')
    if scores.size == 0:
        raise ValueError(f'empty input: scores of shape {scores.shape}')
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ValueError('scores contain NaN')
    valid = (targets == -1) | (targets == 0) | (targets == 1)
    if not valid.all():
        bad = np.unique(targets[~valid])[:5]
        raise ValueError(
            f'targets must be in {{-1, 0, 1}} (-1 = ignore), got {bad}')
    return scores, targets.astype(np.int8)


def multilabel_confusion(
        scores: ArrayLike,
        targets: ArrayLike,
        thr: Optional[float] = 0.5,
        topk: Optional[int] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count true positives, false positives and false negatives per class.

    A label is predicted positive if its score is ``>= thr``, or, when
    ``thr`` is None, if it is among the ``topk`` highest scores of its
    sample (ties resolved by ``torch.topk``, as in mmpretrain). Ignored
    labels (target -1) are dropped after the prediction is made.

    Args:
        scores (np.ndarray | torch.Tensor): Scores of shape (N, C).
        targets (np.ndarray | torch.Tensor): Targets of shape (N, C) in
            {-1, 0, 1}.
        thr (float, optional): Score threshold. Defaults to 0.5.
        topk (int, optional): Used only when ``thr`` is None.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``tp``, ``fp``, ``fn``,
        each int64 of shape (C,).
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    return _confusion(scores, targets, thr, topk)


def _confusion(scores: np.ndarray, targets: np.ndarray, thr: Optional[float],
               topk: Optional[int]) -> Tuple[np.ndarray, np.ndarray,
                                             np.ndarray]:
    """:func:`multilabel_confusion` of checked inputs."""
    if thr is not None:
        pred = scores >= thr
    else:
        if topk is None or not 1 <= topk <= scores.shape[1]:
            raise ValueError(f'topk must be in [1, {scores.shape[1]}] when '
                             f'thr is None, got {topk}')
        index = torch.from_numpy(scores).topk(topk, dim=1).indices.numpy()
        pred = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(pred, index, True, axis=1)
    pos = targets == 1
    neg = targets == 0
    tp = np.count_nonzero(pred & pos, axis=0)
    fp = np.count_nonzero(pred & neg, axis=0)
    fn = np.count_nonzero(pos, axis=0) - tp
    return tp.astype(np.int64), fp.astype(np.int64), fn.astype(np.int64)


def multilabel_precision_recall_f1(
        tp: np.ndarray, fp: np.ndarray,
        fn: np.ndarray) -> Dict[str, Union[float, np.ndarray]]:
    """Per-class and summary precision / recall / F1 from counts.

    Args:
        tp (np.ndarray): True positives per class, shape (C,).
        fp (np.ndarray): False positives per class, shape (C,).
        fn (np.ndarray): False negatives per class, shape (C,).

    Returns:
        dict: ``precision``, ``recall``, ``f1`` (arrays of shape (C,)) and
        the floats ``CP``, ``CR`` (means over classes), ``CF1`` (=
        2*CP*CR/(CP+CR)), ``macro-F1`` (mean of per-class F1, what
        mmpretrain and sklearn call macro F1), ``OP``, ``OR``, ``OF1``
        (from the counts summed over classes, i.e. micro averages).
    """
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _harmonic(precision, recall)
    cp, cr = float(precision.mean()), float(recall.mean())
    op = float(_safe_div(tp.sum(), tp.sum() + fp.sum()))
    o_r = float(_safe_div(tp.sum(), tp.sum() + fn.sum()))
    return {
        'precision': precision,
        'recall': recall,
        'f1': f1,
        'CP': cp,
        'CR': cr,
        'CF1': float(_harmonic(cp, cr)),
        'macro-F1': float(f1.mean()),
        'OP': op,
        'OR': o_r,
        'OF1': float(_harmonic(op, o_r)),
    }


def multilabel_average_precision(scores: ArrayLike,
                                 targets: ArrayLike) -> np.ndarray:
    """Non-interpolated average precision of every class.

    Equals mmpretrain's ``AveragePrecision.calculate(..., average=None)``
    divided by 100 on tie-free scores. No class is sorted in full: AP needs
    only the rank of each positive, i.e. how many positives and how many
    negatives score above it. Positives are sorted per class; each negative
    is counted into the gap between the positives around it (see
    :func:`_negatives_above`). A class where a negative ties with a
    positive falls back to one stable sort, so ties keep the documented
    sample-index order.

    Args:
        scores (np.ndarray | torch.Tensor): Scores of shape (N, C).
        targets (np.ndarray | torch.Tensor): Targets of shape (N, C) in
            {-1, 0, 1}.

    Returns:
        np.ndarray: float64 AP per class, shape (C,); 0 for classes without
        positives (mmpretrain's convention; mAP is its plain mean).
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    return _average_precision(scores, targets)


def multilabel_best_f1_thresholds(
        scores: ArrayLike,
        targets: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Per-class threshold that maximises F1 (predict ``score >= thr``).

    Args:
        scores (np.ndarray | torch.Tensor): Scores of shape (N, C).
        targets (np.ndarray | torch.Tensor): Targets of shape (N, C) in
            {-1, 0, 1}.

    Returns:
        tuple[np.ndarray, np.ndarray]: thresholds and the F1 they reach,
        both float64 of shape (C,). A class without positives gets
        threshold ``inf`` (predict nothing) and F1 0.
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    num_classes = scores.shape[1]
    thrs = np.full(num_classes, np.inf)
    best = np.zeros(num_classes)
    for cls, sorted_scores, _, rank, tp in _iter_ranked_blocks(
            scores, targets):
        num_pos = tp[:, -1:]
        f1 = 2 * tp / np.maximum(rank + num_pos, 1)
        # A threshold can only cut after the last of a run of tied scores;
        # argmax then keeps the highest threshold among equal F1s.
        cut = np.ones(sorted_scores.shape, dtype=bool)
        cut[:, :-1] = sorted_scores[:, :-1] != sorted_scores[:, 1:]
        f1 = np.where(cut, f1, -1.0)
        arg = f1.argmax(axis=1)
        rows = np.arange(sorted_scores.shape[0])
        has_pos = num_pos[:, 0] > 0
        best[cls] = np.where(has_pos, f1[rows, arg], 0.0)
        thrs[cls] = np.where(has_pos, sorted_scores[rows, arg], np.inf)
    return thrs, best


def multilabel_metrics(scores: ArrayLike,
                       targets: ArrayLike,
                       thr: Optional[float] = 0.5,
                       topk: Optional[int] = None,
                       with_ap: bool = True) -> Dict[str, Union[float,
                                                                np.ndarray]]:
    """All multi-label statistics in one call.

    Args:
        scores (np.ndarray | torch.Tensor): Scores of shape (N, C).
        targets (np.ndarray | torch.Tensor): Targets of shape (N, C) in
            {-1, 0, 1}.
        thr (float, optional): Score threshold. Defaults to 0.5.
        topk (int, optional): Per-sample top-k, used when ``thr`` is None.
        with_ap (bool): Also compute ``AP`` (per class) and ``mAP``.

    Returns:
        dict: The keys of :func:`multilabel_precision_recall_f1` plus
        ``support`` (positives per class) and, with ``with_ap``, ``AP`` and ``mAP``.
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    # inputs checked once: the checks read every element
    tp, fp, fn = _confusion(scores, targets, thr, topk)
    results = multilabel_precision_recall_f1(tp, fp, fn)
    results['support'] = tp + fn
    if with_ap:
        ap = _average_precision(scores, targets)
        results['AP'] = ap
        results['mAP'] = float(ap.mean())
    return results


def _average_precision(scores: np.ndarray,
                       targets: np.ndarray) -> np.ndarray:
    """AP per class of checked inputs (see
    :func:`multilabel_average_precision`)."""
    num, num_classes = scores.shape
    ap = np.zeros(num_classes, dtype=np.float64)
    tied = []
    step = max(1, _BLOCK_ELEMS // num)
    for start in range(0, num_classes, step):
        # one contiguous row per class: every later pass reads it in cache
        block = np.ascontiguousarray(scores[:, start:start + step].T)
        block_targets = np.ascontiguousarray(targets[:, start:start + step].T)
        for i, (row, row_targets) in enumerate(zip(block, block_targets)):
            # np.compress: several times faster than a boolean index here
            positives = np.sort(np.compress(row_targets == 1, row))
            if not len(positives):
                continue  # AP 0, mmpretrain's convention
            positives = positives.astype(np.float64, copy=False)
            # negatives under the lowest positive rank below all of them
            negatives = np.compress(
                (row_targets == 0) & (row >= positives[0]), row)
            above = _negatives_above(positives,
                                     negatives.astype(np.float64, copy=False))
            if above is None:
                tied.append(start + i)
                continue
            # the j-th highest positive has j positives at or above it;
            # ties among positives share ``above`` and leave the sum as is
            tp = np.arange(1, len(positives) + 1)
            ap[start + i] = np.sum(tp / (tp + above)) / len(positives)
    if tied:
        # a negative equals a positive: one stable sort ranks by index
        idx = np.array(tied)
        for sub, _, pos, rank, tp in _iter_ranked_blocks(
                scores[:, idx], targets[:, idx]):
            row, col = np.nonzero(pos)
            ap[idx[sub]] = np.bincount(
                row, weights=tp[row, col] / rank[row, col],
                minlength=len(pos)) / np.maximum(tp[:, -1], 1)
    return ap


def _negatives_above(positives: np.ndarray,
                     negatives: np.ndarray) -> Optional[np.ndarray]:
    """For each positive, the number of negatives scoring above it.

    The range from the lowest to the highest positive is cut into
    ``_BINS_PER_POSITIVE`` bins per positive. A score's bin is a monotone
    function of the score, so a negative is surely above every positive of
    a lower bin and below every positive of a higher bin; with at most one
    positive in its bin one comparison settles it, and only the few
    negatives that share a bin with several positives need a binary search.
    No full sort: O(N) passes plus a sort of the positives.

    Args:
        positives (np.ndarray): Ascending float64 positive scores, (K,).
        negatives (np.ndarray): float64 negative scores, (M,); those
            below the lowest positive may be left out.

    Returns:
        np.ndarray | None: int64 counts aligned with ``positives`` in
        descending order (the highest positive first), or None when a
        negative equals a positive (the caller ranks ties by index).
    """
    k = len(positives)
    num_bins = _BINS_PER_POSITIVE * k
    low, high = positives[0], positives[-1]
    with np.errstate(divide='ignore', over='ignore'):
        scale = num_bins / (high - low) if high > low else 0.0

    def to_bin(values):
        if not 0 < scale < np.inf:  # one point or an infinite range
            return np.zeros(len(values), dtype=np.intp)
        with np.errstate(over='ignore'):
            t = (values - low) * scale  # no NaN: low and scale are finite
        return np.clip(t, 0, num_bins - 1, out=t).astype(np.intp)

    # first[b]: positives in bins < b; a sentinel ends the positives
    per_bin = np.bincount(to_bin(positives), minlength=num_bins)
    first = np.zeros(num_bins + 1, dtype=np.intp)
    np.cumsum(per_bin, out=first[1:])
    padded = np.empty(k + 1)
    padded[:k], padded[k] = positives, np.inf
    bins = to_bin(negatives)
    below = first[bins]
    nearest = padded[below]  # the bin's first positive, or a later one
    if np.any(negatives == nearest):  # (a +inf negative lands here too)
        return None
    below += negatives > nearest
    crowded = np.flatnonzero(per_bin[bins] > 1)
    if len(crowded):
        x = negatives[crowded]
        below[crowded] = np.searchsorted(positives, x)
        if np.any(padded[below[crowded]] == x):
            return None
    # negatives above the j-th lowest positive: those with below > j
    gaps = np.bincount(below, minlength=k + 1)
    return np.cumsum(gaps[:0:-1])


def _iter_ranked_blocks(
    scores: np.ndarray, targets: np.ndarray
) -> Iterator[Tuple[slice, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Sort blocks of classes by descending score and accumulate counts.

    Yields, per block of classes (rows = classes, columns = rank order):
    the class slice, sorted scores, positive mask, rank among non-ignored
    entries (1-based) and cumulative true positives.
    """
    num, num_classes = scores.shape
    step = max(1, _BLOCK_ELEMS // num)
    for start in range(0, num_classes, step):
        cls = slice(start, min(start + step, num_classes))
        block = torch.from_numpy(np.ascontiguousarray(scores[:, cls].T))
        # torch's sort is about 2x numpy's here (rows run in parallel);
        # stable, so tied scores keep sample order.
        sorted_scores, order = torch.sort(
            block, dim=1, descending=True, stable=True)
        block_targets = torch.from_numpy(
            np.ascontiguousarray(targets[:, cls].T))
        sorted_targets = torch.gather(block_targets, 1, order).numpy()
        sorted_scores = sorted_scores.numpy()
        pos = sorted_targets == 1
        rank = np.cumsum(sorted_targets >= 0, axis=1, dtype=np.int64)
        tp = np.cumsum(pos, axis=1, dtype=np.int64)
        yield cls, sorted_scores, pos, rank, tp


def _to_numpy(value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _safe_div(num, den):
    """``num / den`` with 0 where ``den == 0``."""
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


def _harmonic(p, r):
    """F1 of precision and recall, 0 where both are 0."""
    return _safe_div(2 * p * r, p + r)
