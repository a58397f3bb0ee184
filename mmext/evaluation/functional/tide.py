"""TIDE error breakdown (Bolya et al., "TIDE: A General Toolbox for
Identifying Object Detection Errors", ECCV 2020); numpy only.

Conventions, those of the reference implementation ``tidecv`` 1.0.1 (each
place where we deliberately differ is marked *differs*):

* Detections are ranked per image by score (ties: input order) and only the
  first ``max_dets`` of an image (all classes together) count.
* Matching at the foreground threshold ``t``: greedy, one-to-one, same class,
  ``IoU >= t`` (:func:`~.greedy_match.greedy_match`). IoU is pycocotools'
  box IoU on ``x, y, w, h`` boxes.
* Ignore regions are GTs flagged ``gt_crowd`` or ``gt_ignore``: an unmatched
  detection whose crowd IoU (intersection over the detection) with a
  same-class region is ``> t`` leaves the AP (it still gets an error type,
  as in tidecv).
* Each unmatched detection gets the first type that applies, in this order:
  background (``bkg``) when its image has no GT; localisation (``loc``) when
  its best same-class IoU is in ``[bg_thr, t]``; classification (``cls``)
  when its best other-class IoU is ``>= t``; duplicate (``dupe``) when a
  matched same-class GT has IoU ``>= t``; background when every IoU is
  ``<= bg_thr``; ``both`` otherwise. A GT that no detection matched and no
  ``cls`` / ``loc`` error points at is missed (``miss``).
* Fixing a type (the dAP of that type) recomputes AP with: ``cls`` / ``loc``:
  for each GT, the highest-scoring error pointing at it (ties: the better
  ranked) becomes a true positive of the GT's class, the others disappear;
  ``dupe`` / ``bkg`` / ``both``: the errors disappear; ``miss``: the missed
  GTs are no longer counted. dAP is the increase over the plain AP, floored
  at 0 (tidecv's choice: a fix can lower the 101-point AP by binning).
  ``false_pos`` (every true positive ranked before every false positive)
  and ``false_neg`` (unmatched GTs not counted) are not floored.
* AP per class is COCO's 101-point interpolation with recall points
  ``i / 100``, in AP points (0-100, as the paper and tidecv).
* *differs*: the mean over classes takes the classes that have at least one
  non-ignored GT (pycocotools' rule). tidecv averages over every class that
  has a GT *or a detection*, so a class detected but absent from the GT adds
  an AP of 0 and lowers its mAP below pycocotools' (tidecv issue #28); and a
  fix that removes the last detection of such a class changes the number of
  classes averaged, which tidecv books as dAP.
* *differs*: detections of equal score keep their (image, rank) order in
  every fixed AP; tidecv re-inserts the fixed errors before the untouched
  true positives, so a fix can reorder ties.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .greedy_match import (PairIoU, greedy_match_sorted, pair_ious,
                           sort_candidates)
from .grouping import stable_argsort, stable_argsort_int
from .records import DetectionArrays

#: the six main error types, in TIDE's order
TIDE_ERROR_TYPES = ('cls', 'loc', 'both', 'dupe', 'bkg', 'miss')
#: their long names (plots, tables)
TIDE_ERROR_NAMES = dict(cls='classification', loc='localisation',
                        both='cls + loc', dupe='duplicate', bkg='background',
                        miss='missed GT')
#: the two special error types: perfect precision, perfect recall
TIDE_SPECIAL_TYPES = ('false_pos', 'false_neg')
#: tidecv's recall points
TIDE_RECALL_THRS = np.arange(101) / 100
#: COCO's IoU thresholds as tidecv writes them
TIDE_COCO_THRS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)

_CODES = {name: i for i, name in enumerate(TIDE_ERROR_TYPES)}


class _Scene:
    """Everything that does not depend on the foreground threshold: kept
    detections, their candidate matches, best IoUs per detection."""

    def __init__(self, arrays: DetectionArrays, bg_thr: float,
                 max_dets: int, min_thr: float, pairs: PairIoU):
        scores = np.asarray(arrays.det_scores, np.float64)
        imgs = np.asarray(arrays.det_imgs, np.int64)
        keep = pairs.img_rank < max_dets
        if not keep.all():
            # the first max_dets of each image: their ranks stay right
            pairs = pairs.select(keep)
            scores, imgs = scores[keep], imgs[keep]
        rank, match_rank = pairs.img_rank, pairs.det_rank
        n = len(scores)
        self.labels = np.asarray(arrays.det_labels, np.int64)[keep]
        self.scores, self.rank, self.match_rank = scores, rank, match_rank
        # AP order of tidecv: score, then image, then rank in the image
        ap_order = stable_argsort_int(imgs)
        ap_order = ap_order[stable_argsort(-scores[ap_order])]
        self.ap_rank = np.empty(n, np.int64)
        self.ap_rank[ap_order] = np.arange(n)
        # detections by (class, AP rank): the AP order of every class
        self.by_class = ap_order[stable_argsort_int(self.labels[ap_order])]
        self.class_key = (self.labels * n + self.ap_rank)[self.by_class]
        self.num_classes = int(arrays.num_classes)
        self.bg_thr = bg_thr

        gt_labels = np.asarray(arrays.gt_labels, np.int64)
        self.gt_labels = gt_labels
        self.regular = ~(np.asarray(arrays.gt_ignore, bool) |
                         np.asarray(arrays.gt_crowd, bool))
        self.num_gts = len(gt_labels)
        self.class_gts = np.bincount(gt_labels[self.regular],
                                     minlength=self.num_classes)

        img_has_gt = np.zeros(max(arrays.num_images, 1), bool)
        img_has_gt[np.asarray(arrays.gt_imgs)[self.regular]] = True
        self.has_gt = img_has_gt[imgs]
        d, g, iou = pairs.det, pairs.gt, pairs.iou
        same = self.labels[d] == gt_labels[g]
        self.best_cls_iou, self.best_cls_gt = _first_max(
            d, g, np.where(same, iou, 0.0), n)
        self.best_other_iou, self.best_other_gt = _first_max(
            d, g, np.where(same, 0.0, iou), n)
        self.best_iou = np.maximum(self.best_cls_iou, self.best_other_iou)
        cand = same & (iou >= min_thr)
        # sorted once for the matching at every foreground threshold
        self.pair_d, self.pair_g, self.pair_rank, self.pair_iou = \
            sort_candidates(match_rank, d[cand], g[cand], iou[cand])
        # the error tests that do not depend on the foreground threshold
        self.no_gt_img = ~self.has_gt
        self.all_below_bg = self.best_iou <= bg_thr
        self.cls_above_bg = self.best_cls_iou >= bg_thr

        rd, rg = pairs.region_det, pairs.region_gt
        rsame = self.labels[rd] == gt_labels[rg]
        self.region_iou = np.zeros(n)
        np.maximum.at(self.region_iou, rd[rsame], pairs.region_iou[rsame])


def _first_max(d: np.ndarray, g: np.ndarray, iou: np.ndarray, n: int):
    """Per detection the highest IoU and its GT (ties: the GT listed first);
    IoU 0 and GT -1 where a detection has no pair or only IoU 0.

    ``d`` must be grouped by detection with GTs ascending in each group.
    """
    best_iou = np.zeros(n)
    best_gt = np.full(n, -1, np.int64)
    if len(d):
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        best_iou[d[starts]] = np.maximum.reduceat(iou, starts)
        pos = np.flatnonzero((iou == best_iou[d]) & (iou > 0))
        first = pos[np.r_[True, d[pos][1:] != d[pos][:-1]]] if len(
            pos) else pos
        best_gt[d[first]] = g[first]
    return best_iou, best_gt


def _class_aps(cls: np.ndarray, active: np.ndarray, tp: np.ndarray,
               num_gts: np.ndarray, num_classes: int) -> np.ndarray:
    """tidecv's 101-point AP (in points) of every class at once.

    Only true positives are visited: recall rises only there and the
    precision envelope peaks there, so the false positives count only
    through the positions of the true positives.

    Args:
        cls (np.ndarray): ``(M,)`` class of each entry, sorted, and within a
            class in rank order.
        active (np.ndarray): ``(M,)`` bool, the entry is in the AP.
        tp (np.ndarray): ``(M,)`` bool, the entry is a true positive.
        num_gts (np.ndarray): ``(C,)`` GT count per class (0: AP 0).
        num_classes (int): ``C``.

    Returns:
        np.ndarray: ``(C,)`` float64.
    """
    at = np.flatnonzero(active & tp)
    if len(at) == 0:
        return np.zeros(num_classes)
    bounds = np.searchsorted(cls, np.arange(num_classes + 1))
    # int32: half the memory traffic of the default int64 on 500k entries
    seen = np.zeros(len(active) + 1, np.int32)
    np.cumsum(active, dtype=np.int32, out=seen[1:])
    c = cls[at]
    # the true positives of a class are consecutive in ``at``
    tps = np.arange(1, len(at) + 1) - np.searchsorted(at, bounds[c])
    precision = tps / (seen[at + 1] - seen[bounds[c]])
    recall = tps / np.maximum(num_gts[c], 1)
    # one sorted key over all classes: class c's recalls lie in [2c, 2c+1]
    keys = 2.0 * c + recall
    queries = (2.0 * np.arange(num_classes)[:, None] +
               TIDE_RECALL_THRS[None, :])
    pos = np.searchsorted(keys, queries.ravel(), side='left')
    end = np.searchsorted(c, np.arange(num_classes), side='right')
    valid = pos.reshape(num_classes, -1) < end[:, None]
    # max precision of each stretch between consecutive query positions,
    # then a running max from the right: the monotone envelope at each point
    seg = np.maximum.reduceat(np.append(precision, 0.0), pos)
    seg = np.where(valid.ravel(), seg, 0.0).reshape(num_classes, -1)
    env = np.maximum.accumulate(seg[:, ::-1], axis=1)[:, ::-1]
    env[~valid] = 0.0
    aps = env.sum(axis=1) / env.shape[1] * 100
    aps[num_gts == 0] = 0.0
    return aps


def _perfect_precision_aps(tps: np.ndarray, num_gts: np.ndarray
                           ) -> np.ndarray:
    """AP when every true positive outranks every false positive: precision
    1 up to the final recall, so AP counts the recall points reached."""
    recall = tps / np.maximum(num_gts, 1)
    reached = (TIDE_RECALL_THRS[None, :] <= recall[:, None]).sum(axis=1)
    return np.where(tps > 0, reached / len(TIDE_RECALL_THRS) * 100, 0.0)


def _run(scene: _Scene, pos_thr: float) -> dict:
    """Matching, error types and the fixed APs at one foreground threshold."""
    s = scene
    n, c = len(s.labels), s.num_classes
    above = s.pair_iou >= pos_thr
    match = greedy_match_sorted(s.pair_d[above], s.pair_g[above],
                                s.pair_rank[above], n, s.num_gts)
    matched = match >= 0
    gt_used = np.zeros(s.num_gts, bool)
    gt_used[match[matched]] = True
    ignored = ~matched & (s.region_iou > pos_thr)

    err = np.select([
        matched,
        s.no_gt_img,
        s.cls_above_bg & (s.best_cls_iou <= pos_thr),
        s.best_other_iou >= pos_thr,
        s.best_cls_iou >= pos_thr,
        s.all_below_bg,
    ], [-1, _CODES['bkg'], _CODES['loc'], _CODES['cls'], _CODES['dupe'],
        _CODES['bkg']], default=_CODES['both'])
    target = np.where(err == _CODES['loc'], s.best_cls_gt,
                      np.where(err == _CODES['cls'], s.best_other_gt, -1))
    fixable = np.flatnonzero(target >= 0)
    fixable = fixable[~gt_used[target[fixable]]]
    # the highest-scoring error per GT (ties: the better ranked) is fixed
    srt = fixable[np.lexsort((s.rank[fixable], -s.scores[fixable],
                              target[fixable]))]
    first = np.ones(len(srt), bool)
    first[1:] = target[srt][1:] != target[srt][:-1]
    best = np.zeros(n, bool)
    best[srt[first]] = True
    usable = np.zeros(s.num_gts, bool)
    usable[target[fixable]] = True
    missed = s.regular & ~gt_used & ~usable

    # all AP entries, sorted once by (class, AP rank): every detection in
    # the AP under its own class, plus a true positive under the GT's class
    # for each fixed classification error and under its own class for each
    # fixed localisation error of an ignored detection (tidecv adds those)
    add_cls = best & (err == _CODES['cls'])
    add_loc = best & (err == _CODES['loc']) & ignored
    base_det = s.by_class[~ignored[s.by_class]]
    base_key = s.class_key[~ignored[s.by_class]]
    extra_det = np.concatenate([np.flatnonzero(add_cls),
                                np.flatnonzero(add_loc)])
    extra_cls = np.concatenate([s.gt_labels[target[add_cls]],
                                s.labels[add_loc]])
    extra_kind = np.repeat([1, 2], [add_cls.sum(), add_loc.sum()])
    srt = np.argsort(extra_cls * n + s.ap_rank[extra_det], kind='stable')
    at = np.searchsorted(base_key, (extra_cls * n + s.ap_rank[extra_det])[srt])
    entry_det = np.insert(base_det, at, extra_det[srt])
    entry_cls = np.insert(s.labels[base_det], at, extra_cls[srt])
    kind = np.insert(np.zeros(len(base_det), np.int64), at, extra_kind[srt])
    entry_err = np.where(kind == 0, err[entry_det], -2)
    entry_tp = (kind > 0) | matched[entry_det]
    is_base = kind == 0

    def aps(active, tp=entry_tp, num_gts=s.class_gts):
        return _class_aps(entry_cls, active, tp, num_gts, c)

    class_aps = {'base': aps(is_base)}
    loc_tp = entry_tp | (is_base & (entry_err == _CODES['loc']) &
                         best[entry_det])
    for name in ('cls', 'loc', 'both', 'dupe', 'bkg'):
        active = is_base & (entry_err != _CODES[name])
        if name == 'cls':
            active |= kind == 1
        elif name == 'loc':
            active |= (kind == 2) | (is_base & (loc_tp != entry_tp))
        class_aps[name] = aps(active, loc_tp if name == 'loc' else entry_tp)
    class_aps['miss'] = aps(
        is_base,
        num_gts=s.class_gts - np.bincount(s.gt_labels[missed], minlength=c))
    matched_per_class = np.bincount(s.labels[matched], minlength=c)
    class_aps['false_neg'] = aps(is_base, num_gts=matched_per_class)
    class_aps['false_pos'] = _perfect_precision_aps(matched_per_class,
                                                    s.class_gts)

    counted = s.class_gts > 0
    mean = {k: float(v[counted].mean()) if counted.any() else 0.0
            for k, v in class_aps.items()}
    counts = np.bincount(err[err >= 0], minlength=len(TIDE_ERROR_TYPES))
    counts[_CODES['miss']] = int(missed.sum())
    return dict(
        ap=mean['base'],
        dap={k: max(mean[k] - mean['base'], 0.0) for k in TIDE_ERROR_TYPES},
        special={k: mean[k] - mean['base'] for k in TIDE_SPECIAL_TYPES},
        counts={k: int(counts[i]) for i, k in enumerate(TIDE_ERROR_TYPES)},
        class_ap=class_aps['base'])


def tide_errors(arrays: DetectionArrays,
                pos_thr: float = 0.5,
                bg_thr: float = 0.1,
                iou_thrs: Sequence[float] = TIDE_COCO_THRS,
                max_dets: int = 100,
                pairs: Optional[PairIoU] = None) -> Dict:
    """TIDE's error breakdown at ``pos_thr`` and averaged over ``iou_thrs``.

    Args:
        arrays (DetectionArrays): Detections and GT.
        pos_thr (float): Foreground IoU threshold. Defaults to 0.5.
        bg_thr (float): Background IoU threshold. Defaults to 0.1.
        iou_thrs (Sequence[float]): Foreground thresholds of the COCO
            variant (each run with ``bg_thr``); empty to skip it.
        max_dets (int): Detections kept per image. Defaults to 100.
        pairs (PairIoU, optional): :func:`~.greedy_match.pair_ious` of
            ``arrays``, when already computed.

    Returns:
        dict: ``ap`` (mAP at ``pos_thr``, points), ``dap`` (type -> dAP of
        fixing it), ``special`` (``false_pos`` / ``false_neg`` -> dAP),
        ``counts`` (type -> number of errors: the five detection types are
        false positives, ``miss`` false negatives), ``class_ap`` (``(C,)``),
        and ``coco``: ``ap`` (mean over ``iou_thrs``), ``dap`` and
        ``special`` averaged over the thresholds, ``per_threshold`` (the
        runs); the errors of every run are typed at its own threshold.
    """
    if not 0 < bg_thr <= pos_thr <= 1:
        raise ValueError(f'need 0 < bg_thr <= pos_thr <= 1, got bg_thr='
                         f'{bg_thr}, pos_thr={pos_thr}')
    min_thr = min([pos_thr, *iou_thrs])
    scene = _Scene(arrays, bg_thr, max_dets, min_thr,
                   pair_ious(arrays) if pairs is None else pairs)
    result = _run(scene, pos_thr)
    result.update(pos_thr=pos_thr, bg_thr=bg_thr, max_dets=max_dets)
    runs = [result if t == pos_thr else _run(scene, t) for t in iou_thrs]
    if runs:
        result['coco'] = dict(
            iou_thrs=list(iou_thrs),
            ap=float(np.mean([r['ap'] for r in runs])),
            dap={k: float(np.mean([r['dap'][k] for r in runs]))
                 for k in TIDE_ERROR_TYPES},
            special={k: float(np.mean([r['special'][k] for r in runs]))
                     for k in TIDE_SPECIAL_TYPES},
            per_threshold=[dict(iou_thr=t, ap=r['ap'], dap=r['dap'],
                                special=r['special'], counts=r['counts'])
                           for t, r in zip(iou_thrs, runs)])
    return result
