"""Ranking statistics of multi-label scores: AP, ROC-AUC, best-F1 and
target-precision thresholds, all from one ranking pass per class.

None of them needs a class sorted in full. Each needs, for every positive,
how many negatives score above it (strictly, and with ties): the positives
of a class are sorted (a few percent of the samples), and each negative is
counted into the gap between the positives around it
(:func:`_count_negatives`). That one pass serves all four statistics.

Tie rules (conventions of :mod:`mmext.evaluation.functional.multilabel`):

* AUC counts a positive-negative tie as one half, which is exactly the
  trapezoid over distinct thresholds of sklearn's ``roc_auc_score``;
* best-F1 and target-precision thresholds predict ``score >= thr``, so
  tied scores are cut together;
* AP ranks tied scores by sample index (stable sort). A class where a
  negative ties with a positive is therefore re-ranked by one stable sort.
"""
from typing import Dict, Iterable, Iterator, NamedTuple, Optional

import numpy as np

from .multilabel_inputs import check_multilabel_inputs

__all__ = [
    'multilabel_ranking_stats', 'multilabel_average_precision',
    'multilabel_roc_auc', 'multilabel_micro_roc_auc',
    'multilabel_best_f1_thresholds', 'multilabel_precision_thresholds'
]

# Bound on the elements transposed at once (a block of classes as rows).
_BLOCK_ELEMS = 1 << 23
# Bins per positive in ``_count_negatives``: with 8, about 12 % of the
# negatives share a bin with a positive and 1 % with two or more.
_BINS_PER_POSITIVE = 8


class ClassRanking(NamedTuple):
    """Where one class's negatives fall among its positives.

    Attributes:
        positives (np.ndarray): float64 positive scores, descending, (K,).
        neg_above (np.ndarray): int64 (K,): negatives scoring > each.
        neg_at_or_above (np.ndarray): int64 (K,): negatives scoring >= each.
        num_neg (int): Non-ignored negatives of the class.
    """
    positives: np.ndarray
    neg_above: np.ndarray
    neg_at_or_above: np.ndarray
    num_neg: int

    @property
    def tied(self) -> bool:
        """Whether a negative scores exactly as a positive."""
        return bool(np.any(self.neg_above != self.neg_at_or_above))


def multilabel_ranking_stats(
        scores, targets, target_precision: Optional[float] = None
) -> Dict[str, np.ndarray]:
    """AP, AUC and best-F1 (and thresholds) of every class in one pass.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.
        target_precision (float, optional): Also fit the thresholds that
            reach this precision (see
            :func:`multilabel_precision_thresholds`).

    Returns:
        dict: float64 arrays of shape (C,): ``AP`` (0 without positives),
        ``AUC`` (NaN for a class without positives or without negatives),
        ``best-F1`` and ``best-F1-thr`` (F1 0 and threshold ``inf``
        without positives) and, with ``target_precision``, ``precision-thr``
        and ``precision-recall`` (the recall it keeps).
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    return _ranking_stats(scores, targets, target_precision)


def multilabel_average_precision(scores, targets) -> np.ndarray:
    """Non-interpolated average precision of every class.

    Equals mmpretrain's ``AveragePrecision.calculate(..., average=None)``
    divided by 100 on tie-free scores.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.

    Returns:
        np.ndarray: float64 AP per class, shape (C,); 0 for classes without
        positives (mmpretrain's convention; mAP is its plain mean).
    """
    return multilabel_ranking_stats(scores, targets)['AP']


def multilabel_roc_auc(scores, targets) -> np.ndarray:
    """Area under the ROC curve of every class.

    Equals sklearn's ``roc_auc_score(..., average=None)`` (trapezoid over
    distinct thresholds: a tie between a positive and a negative counts
    one half), each class over its non-ignored labels.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.

    Returns:
        np.ndarray: float64 AUC per class, shape (C,); NaN where the class
        has only positives or only negatives (sklearn raises there). The
        macro AUC is ``np.nanmean`` of it.
    """
    return multilabel_ranking_stats(scores, targets)['AUC']


def multilabel_micro_roc_auc(scores, targets) -> float:
    """AUC of all non-ignored (sample, class) labels pooled as one class.

    Equals sklearn's ``roc_auc_score(..., average='micro')`` on data
    without ignored labels.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.

    Returns:
        float: The pooled AUC; NaN without positives or without negatives.
    """
    scores, targets = check_multilabel_inputs(scores, targets)
    flat_scores, flat_targets = scores.reshape(-1), targets.reshape(-1)
    positives = np.sort(np.compress(flat_targets == 1, flat_scores)).astype(
        np.float64, copy=False)
    num_neg = int(np.count_nonzero(flat_targets == 0))
    if not len(positives) or not num_neg:
        return float('nan')

    def negative_chunks() -> Iterator[np.ndarray]:
        for start in range(0, flat_scores.size, _BLOCK_ELEMS):
            chunk = slice(start, start + _BLOCK_ELEMS)
            row, row_targets = flat_scores[chunk], flat_targets[chunk]
            yield np.compress((row_targets == 0) & (row >= positives[0]),
                              row).astype(np.float64, copy=False)

    counts = _count_negatives(positives, negative_chunks())
    return float(_auc(_class_ranking(positives, counts, num_neg)))


def multilabel_best_f1_thresholds(scores, targets):
    """Per-class threshold that maximises F1 (predict ``score >= thr``).

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.

    Returns:
        tuple[np.ndarray, np.ndarray]: thresholds and the F1 they reach,
        both float64 of shape (C,). The threshold is a positive's score,
        the highest among equal F1s; a class without positives gets ``inf``
        (predict nothing) and F1 0.
    """
    stats = multilabel_ranking_stats(scores, targets)
    return stats['best-F1-thr'], stats['best-F1']


def multilabel_precision_thresholds(scores, targets,
                                    target_precision: float):
    """Per-class lowest threshold whose precision reaches a target.

    Among the thresholds (predict ``score >= thr``) whose precision is at
    least ``target_precision``, the one that keeps the most recall.

    Args:
        scores (array-like): Scores of shape (N, C).
        targets (array-like): Targets of shape (N, C) in {-1, 0, 1}.
        target_precision (float): In (0, 1].

    Returns:
        tuple[np.ndarray, np.ndarray]: thresholds and the recall they keep,
        float64 of shape (C,); ``inf`` and recall 0 where no threshold
        reaches the target (or the class has no positives).
    """
    stats = multilabel_ranking_stats(scores, targets, target_precision)
    return stats['precision-thr'], stats['precision-recall']


def _ranking_stats(scores: np.ndarray, targets: np.ndarray,
                   target_precision: Optional[float] = None
                   ) -> Dict[str, np.ndarray]:
    """:func:`multilabel_ranking_stats` of checked inputs."""
    if target_precision is not None and not 0 < target_precision <= 1:
        raise ValueError(
            f'target precision must be in (0, 1], got {target_precision}')
    num, num_classes = scores.shape
    names = ['AP', 'AUC', 'best-F1', 'best-F1-thr']
    if target_precision is not None:
        names += ['precision-thr', 'precision-recall']
    out = {name: np.zeros(num_classes) for name in names}
    out['AUC'][:] = np.nan
    out['best-F1-thr'][:] = np.inf
    if target_precision is not None:
        out['precision-thr'][:] = np.inf
    step = max(1, _BLOCK_ELEMS // num)
    for start in range(0, num_classes, step):
        # one contiguous row per class: every later pass reads it in cache
        block = np.ascontiguousarray(scores[:, start:start + step].T)
        block_targets = np.ascontiguousarray(targets[:, start:start + step].T)
        for i, (row, row_targets) in enumerate(zip(block, block_targets)):
            cls = start + i
            # np.compress: several times faster than a boolean index here
            positives = np.sort(np.compress(row_targets == 1, row)).astype(
                np.float64, copy=False)
            if not len(positives):
                continue  # AP 0, AUC undefined, never predicted
            is_neg = row_targets == 0
            num_neg = int(np.count_nonzero(is_neg))
            # negatives under the lowest positive are below all of them
            negatives = np.compress(is_neg & (row >= positives[0]), row)
            ranking = _class_ranking(
                positives,
                _count_negatives(
                    positives, [negatives.astype(np.float64, copy=False)]),
                num_neg)
            out['AP'][cls] = (_stable_sort_ap(row, row_targets)
                              if ranking.tied else _ap(ranking))
            if num_neg:
                out['AUC'][cls] = _auc(ranking)
            out['best-F1-thr'][cls], out['best-F1'][cls] = _best_f1(ranking)
            if target_precision is not None:
                out['precision-thr'][cls], out['precision-recall'][cls] = \
                    _precision_threshold(ranking, target_precision)
    return out


def _count_negatives(positives: np.ndarray,
                     chunks: Iterable[np.ndarray]) -> np.ndarray:
    """Histogram of the negatives over the gaps between the positives.

    The range from the lowest to the highest positive is cut into
    ``_BINS_PER_POSITIVE`` bins per positive. A score's bin is a monotone
    function of the score, so a negative in a bin without positives lies
    above the positives of the lower bins and below all the others: one
    histogram over the bins places all of those (about 88 % with 8 bins per
    positive). A negative that shares its bin with one positive is placed
    by one comparison, and the few in bins with several positives by a
    binary search; both settle ties exactly (a negative equal to a
    positive shares its bin). No sort of the negatives: O(N) passes.

    Args:
        positives (np.ndarray): Ascending float64 positive scores, (K,).
        chunks (Iterable[np.ndarray]): float64 negative scores in one or
            more arrays; those below the lowest positive may be left out.

    Returns:
        np.ndarray: int64 (2, K + 1): row 0 counts the negatives by the
        number of positives strictly below them, row 1 by the number of
        positives at or below them (equal rows: no ties).
    """
    k = len(positives)
    num_bins = _BINS_PER_POSITIVE * k
    low, high = positives[0], positives[-1]
    with np.errstate(divide='ignore', over='ignore', invalid='ignore'):
        scale = num_bins / (high - low) if high > low else 0.0

    def to_bin(values):
        if not 0 < scale < np.inf:  # one point or an infinite range
            return np.zeros(len(values), dtype=np.intp)
        with np.errstate(over='ignore', invalid='ignore'):
            t = values - low  # no NaN: low and scale are finite
            t *= scale
        return np.clip(t, 0, num_bins - 1, out=t).astype(np.intp)

    per_bin = np.bincount(to_bin(positives), minlength=num_bins)
    # first[b]: positives in bins < b, i.e. below a negative of bin b
    first = np.zeros(num_bins, dtype=np.intp)
    np.cumsum(per_bin[:-1], out=first[1:])
    # positives in a bin: 0, 1 or more (a byte per negative to look up)
    occupancy = np.minimum(per_bin, 2).astype(np.int8)
    per_neg_bin = np.zeros(num_bins, dtype=np.int64)
    counts = np.zeros((2, k + 1), dtype=np.int64)
    for negatives in chunks:
        bins = to_bin(negatives)
        per_neg_bin += np.bincount(bins, minlength=num_bins)
        kind = occupancy[bins]
        single = kind == 1
        x = np.compress(single, negatives)
        below = first[np.compress(single, bins)]
        nearest = positives[below]  # the bin's one positive
        counts[0] += np.bincount(below + (x > nearest), minlength=k + 1)
        counts[1] += np.bincount(below + (x >= nearest), minlength=k + 1)
        x = np.compress(kind == 2, negatives)
        for row, side in enumerate(('left', 'right') if len(x) else ()):
            counts[row] += np.bincount(np.searchsorted(positives, x, side),
                                       minlength=k + 1)
    # the negatives of the bins without positives, all at once
    counts += np.bincount(first, weights=per_neg_bin * (per_bin == 0),
                          minlength=k + 1).astype(np.int64)
    return counts


def _class_ranking(positives: np.ndarray, counts: np.ndarray,
                   num_neg: int) -> ClassRanking:
    """:class:`ClassRanking` of ascending positives and negative counts."""
    # negatives above the j-th lowest positive: those with more than j
    # positives below them, summed from the top
    above, at_or_above = np.cumsum(counts[:, :0:-1], axis=1)
    return ClassRanking(positives[::-1], above, at_or_above, num_neg)


def _ap(ranking: ClassRanking) -> float:
    """AP of a class without positive-negative ties."""
    # the i-th highest positive has i positives at or above it; ties among
    # positives share ``neg_above`` and leave the sum as it is
    tp = np.arange(1, len(ranking.positives) + 1)
    return float(np.mean(tp / (tp + ranking.neg_above)))


def _stable_sort_ap(row: np.ndarray, row_targets: np.ndarray) -> float:
    """AP by one stable sort: tied scores ranked by sample index."""
    valid = row_targets >= 0
    order = np.argsort(-row[valid], kind='stable')
    ranks = np.flatnonzero(row_targets[valid][order] == 1) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def _auc(ranking: ClassRanking) -> float:
    """Mann-Whitney AUC, a tie counting one half (sklearn's trapezoid)."""
    k, num_neg = len(ranking.positives), ranking.num_neg
    # twice the pairs ranked right, exact in integers
    twice_right = (2 * num_neg * k - int(ranking.neg_above.sum()) -
                   int(ranking.neg_at_or_above.sum()))
    return twice_right / (2 * k * num_neg)


def _cuts(ranking: ClassRanking):
    """True positives and the mask of thresholds at each positive.

    A threshold at a positive's score predicts every score at or above it,
    so among tied positives only the last (lowest rank) is a cut.
    """
    positives = ranking.positives
    cut = np.ones(len(positives), dtype=bool)
    cut[:-1] = positives[:-1] != positives[1:]
    return np.arange(1, len(positives) + 1), cut


def _best_f1(ranking: ClassRanking):
    """Threshold of the highest F1 (the highest among equals), and F1."""
    tp, cut = _cuts(ranking)
    # F1 = 2 TP / (TP + FP + P); thresholds between positives only lose
    f1 = 2 * tp / (tp + ranking.neg_at_or_above + len(tp))
    best = int(np.argmax(np.where(cut, f1, -1.0)))
    return ranking.positives[best], f1[best]


def _precision_threshold(ranking: ClassRanking, target: float):
    """Lowest threshold with precision >= target, and its recall."""
    tp, cut = _cuts(ranking)
    precision = tp / (tp + ranking.neg_at_or_above)
    ok = np.flatnonzero(cut & (precision >= target))
    if not len(ok):
        return np.inf, 0.0
    return ranking.positives[ok[-1]], tp[ok[-1]] / len(tp)
