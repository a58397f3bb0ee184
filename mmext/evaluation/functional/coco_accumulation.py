"""pycocotools' ``accumulate``: precision, recall and scores at recall
thresholds, from the matches of :func:`~.coco_matching.coco_match`.

Only true positives change recall, and the monotone precision read at a
recall threshold is the best precision at a true positive at or after it.
So everything is computed at the true positives: the false positives
before each one come from prefix counts of the counted detections (within
the max-detections limit, inside the area range, not matched to an ignored
GT). All thresholds of one (area range, max-detections) pair are done in
one pass, keyed by (threshold, class).

Integer counts are exact and the precision is formed as pycocotools forms
it (``tp / (fp + tp + np.spacing(1))``), and maxima are exact, so the
results equal pycocotools' bit for bit.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np


@dataclass
class RankedDetections:
    """The detections kept for evaluation, in rank order (class, then score
    descending).

    Args:
        labels (np.ndarray): ``(N,)`` int64 class, non-decreasing.
        scores (np.ndarray): ``(N,)`` float64.
        rank_in_image (np.ndarray): ``(N,)`` rank within its (image,
            class), for the max-detections limits.
        outside_area (np.ndarray): ``(A, N)`` bool, box area outside area
            range a (an unmatched one is then ignored, not a false positive).
    """
    labels: np.ndarray
    scores: np.ndarray
    rank_in_image: np.ndarray
    outside_area: np.ndarray


def coco_accumulate(matches: List[List[np.ndarray]], dets: RankedDetections,
                    gt_ignored: np.ndarray, gt_never_matched: np.ndarray,
                    num_gts: np.ndarray, rec_thrs: np.ndarray,
                    max_dets: List[int]) -> Tuple[np.ndarray, ...]:
    """``COCOeval.eval``'s ``precision``, ``recall`` and ``scores``.

    Args:
        matches (list): ``matches[t][a]``: ``(2, P)`` (detection, GT) pairs.
        dets (RankedDetections): The ranked detections.
        gt_ignored (np.ndarray): ``(A, G)`` bool, GT ignored in area range.
        gt_never_matched (np.ndarray): ``(G,)`` bool: pycocotools reads a
            match to this GT (annotation id 0) as no match.
        num_gts (np.ndarray): ``(K, A)`` non-ignored GTs per class and area.
        rec_thrs (np.ndarray): ``(R,)`` recall thresholds.
        max_dets (list[int]): ``M`` max-detections limits.

    Returns:
        tuple: ``precision`` ``(T, R, K, A, M)``, ``recall``
        ``(T, K, A, M)``, ``scores`` ``(T, R, K, A, M)``; -1 where a class
        has no non-ignored GT.
    """
    num_classes, num_areas = num_gts.shape
    num_thrs, num_recs = len(matches), len(rec_thrs)
    shape = (num_thrs, num_recs, num_classes, num_areas, len(max_dets))
    precision = np.full(shape, -1.0)
    scores = np.full(shape, -1.0)
    recall = np.full((num_thrs, num_classes, num_areas, len(max_dets)), -1.0)
    class_start = np.searchsorted(dets.labels, np.arange(num_classes))
    num_rows = num_thrs * num_classes
    # per limit: the detections within it (None: all of them)
    within = [None if dets.rank_in_image.max(initial=-1) < limit else
              dets.rank_in_image < limit for limit in max_dets]
    # recall 0 reads the first detection, TP or not: the same in every
    # area range
    score_at_recall_0 = [
        np.tile(first_score(kept, dets, class_start, num_classes),
                num_thrs)[:, None] for kept in within
    ]
    for a in range(num_areas):
        valid = num_gts[:, a] > 0
        # the j-th true positive reaches recall threshold r
        reaching = np.tile(first_tp_reaching(num_gts[:, a], rec_thrs),
                           (num_thrs, 1))
        pairs = matched_pairs([m[a] for m in matches], dets, a,
                              gt_ignored[a], gt_never_matched, num_classes)
        in_area = ~dets.outside_area[a]
        for m, kept in enumerate(within):
            # counted_before[i]: detections before position i that can be
            # TP or FP; per row (threshold, class), those before its class
            counted = in_area if kept is None else kept & in_area
            counted_before = np.zeros(len(counted) + 1, np.int64)
            np.cumsum(counted, out=counted_before[1:])
            curve = true_positive_curve(
                pairs if kept is None else pairs.within(kept),
                counted_before,
                np.tile(counted_before[class_start], num_thrs))
            prec, score = read_at_recall_thresholds(curve, reaching,
                                                    dets.scores)
            score[:, rec_thrs <= 0] = score_at_recall_0[m]
            # rows are (threshold, class): to (T, R, K)
            prec = prec.reshape(num_thrs, num_classes, num_recs)
            score = score.reshape(num_thrs, num_classes, num_recs)
            precision[:, :, valid, a, m] = prec[:, valid].transpose(0, 2, 1)
            scores[:, :, valid, a, m] = score[:, valid].transpose(0, 2, 1)
            n_tp = curve.row_size.reshape(num_thrs, num_classes)
            recall[:, valid, a, m] = n_tp[:, valid] / num_gts[valid, a]
    return precision, recall, scores


def first_tp_reaching(num_gts: np.ndarray,
                      rec_thrs: np.ndarray) -> np.ndarray:
    """Smallest ``j >= 1`` with ``j / num_gts >= r`` in float64, exactly
    as pycocotools' ``searchsorted(tp / npig, r)`` finds it.

    Returns:
        np.ndarray: ``(len(num_gts), len(rec_thrs))`` int64.
    """
    npig = np.maximum(num_gts, 1).astype(np.float64)[:, None]
    # the float division can round either way: try the two neighbours too
    base = np.maximum(np.ceil(rec_thrs[None] * npig) - 1, 1)
    cands = base[..., None] + np.arange(3)
    ok = cands / npig[..., None] >= rec_thrs[None, :, None]
    return cands[np.arange(len(npig))[:, None],
                 np.arange(len(rec_thrs))[None],
                 np.argmax(ok, axis=-1)].astype(np.int64)


@dataclass
class MatchedPairs:
    """The matched detections of one area range, all thresholds, keyed by
    row = (threshold, class), rows ascending, by rank within a row.

    Args:
        det (np.ndarray): ``(P,)`` matched detection.
        row (np.ndarray): ``(P,)`` ``threshold * K + class``.
        is_tp (np.ndarray): ``(P,)`` bool, matched to a regular GT.
        counted (np.ndarray): ``(P,)`` bool, box inside the area range
            (would count as a false positive if it were unmatched).
    """
    det: np.ndarray
    row: np.ndarray
    is_tp: np.ndarray
    counted: np.ndarray

    def within(self, keep: np.ndarray) -> 'MatchedPairs':
        """The pairs whose detection is within a max-detections limit
        (``keep``: per detection)."""
        sub = keep[self.det]
        if sub.all():
            return self
        return MatchedPairs(self.det[sub], self.row[sub], self.is_tp[sub],
                            self.counted[sub])


def matched_pairs(matches: List[np.ndarray], dets: RankedDetections,
                  area: int, gt_ignored: np.ndarray,
                  gt_never_matched: np.ndarray,
                  num_classes: int) -> MatchedPairs:
    """The matches of all thresholds in one area range as rows.

    Args:
        matches (list): Per threshold, ``(2, P)`` (detection, GT) pairs.
        dets (RankedDetections): The ranked detections.
        area (int): Area range index.
        gt_ignored (np.ndarray): ``(G,)`` bool, ignored in this area range.
        gt_never_matched (np.ndarray): ``(G,)`` bool, annotation id 0.
        num_classes (int): K.
    """
    det, gt = np.concatenate(matches, axis=1)
    thr = np.repeat(np.arange(len(matches)), [p.shape[1] for p in matches])
    # pycocotools: a match to a regular GT with id 0 reads as "unmatched"
    # (FP, or ignored outside the area range); the GT stays taken
    if gt_never_matched.any():
        keep = ~(gt_never_matched[gt] & ~gt_ignored[gt])
        det, gt, thr = det[keep], gt[keep], thr[keep]
    return MatchedPairs(det=det,
                        row=thr * num_classes + dets.labels[det],
                        is_tp=~gt_ignored[gt],
                        counted=~dets.outside_area[area, det])


@dataclass
class TruePositiveCurve:
    """Precision after each true positive, rows = (threshold, class).

    Args:
        precision (np.ndarray): ``(P,)`` pycocotools' precision there, by
            row then rank.
        det (np.ndarray): ``(P,)`` the detection.
        row_size (np.ndarray): ``(T * K,)`` true positives per row.
    """
    precision: np.ndarray
    det: np.ndarray
    row_size: np.ndarray


def true_positive_curve(pairs: MatchedPairs, counted_before: np.ndarray,
                        counted_before_row: np.ndarray) -> TruePositiveCurve:
    """Count true and false positives up to each true positive.

    Args:
        pairs (MatchedPairs): Matches within the max-detections limit.
        counted_before (np.ndarray): ``(N + 1,)`` detections before each
            position that count (within the limit, inside the area range).
        counted_before_row (np.ndarray): ``(T * K,)`` the same at the
            first detection of each row's class.
    """
    num_rows = len(counted_before_row)
    tp_at = np.flatnonzero(pairs.is_tp)
    det, row = pairs.det[tp_at], pairs.row[tp_at]
    row_size = np.bincount(row, minlength=num_rows)
    # the true positives are in row order: the k-th of its row is the
    # (global position + 1 - true positives of the rows before) one
    tp = np.arange(1, len(tp_at) + 1) - (np.cumsum(row_size) - row_size)[row]
    # per row, up to each true positive: matched detections inside the area
    # range (not FPs whatever their GT), a running count over all pairs
    # less its value where the row starts
    total = np.zeros(len(pairs.counted) + 1, np.int64)
    np.cumsum(pairs.counted, out=total[1:])
    row_start = np.searchsorted(pairs.row, np.arange(num_rows))
    matched_counted = total[tp_at + 1] - total[row_start][row]
    fp = (counted_before[det + 1] - counted_before_row[row] -
          matched_counted).astype(np.float64)
    tp = tp.astype(np.float64)
    return TruePositiveCurve(precision=tp / (fp + tp + np.spacing(1)),
                             det=det, row_size=row_size)


def read_at_recall_thresholds(curve: TruePositiveCurve, reaching: np.ndarray,
                              det_scores: np.ndarray
                              ) -> Tuple[np.ndarray, np.ndarray]:
    """Monotone precision and score at each recall threshold, per row.

    The monotone precision at the j-th true positive is the maximum over
    the true positives from j on. The reads of a row split its true
    positives into consecutive stretches: the maximum of each stretch
    (``np.maximum.reduceat``), then a running maximum from the right over
    the stretches of a row, gives every read exactly.

    Args:
        curve (TruePositiveCurve): Precision at the true positives.
        reaching (np.ndarray): ``(T * K, R)`` the true positive that
            reaches each recall threshold (1 for the first).
        det_scores (np.ndarray): ``(N,)`` detection scores.

    Returns:
        tuple: ``precision`` and ``scores`` ``(T * K, R)``, 0 where the
        row never reaches the recall.
    """
    n_tp = curve.row_size
    row_end = np.cumsum(n_tp)
    hit = reaching <= n_tp[:, None]
    # position of each read, the row end where not reached; one more column
    # at the row end closes the last stretch
    pos = np.where(hit, (row_end - n_tp)[:, None] + reaching - 1,
                   row_end[:, None])
    pos = np.concatenate([pos, row_end[:, None]], axis=1)
    padded = np.append(curve.precision, 0.0)
    stretch_max = np.maximum.reduceat(padded, pos.reshape(-1)).reshape(
        pos.shape)[:, :-1]
    stretch_max[~hit] = 0.0
    precision = np.maximum.accumulate(stretch_max[:, ::-1], axis=1)[:, ::-1]
    reads = pos[:, :-1]
    scores = np.where(hit, np.append(det_scores[curve.det], 0.0)[reads],
                      0.0)
    return precision, scores


def first_score(within: Optional[np.ndarray], dets: RankedDetections,
                class_start: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K,)`` score of each class's best detection within the limit
    (``within``: per detection, None for all), counted or not
    (pycocotools' score at recall 0); 0 without one."""
    kept = np.arange(len(dets.labels)) if within is None else \
        np.flatnonzero(within)
    if not len(kept):
        return np.zeros(num_classes)
    first = kept[np.minimum(np.searchsorted(kept, class_start),
                            len(kept) - 1)]
    has_det = dets.labels[first] == np.arange(num_classes)
    return np.where(has_det, dets.scores[first], 0.0)
