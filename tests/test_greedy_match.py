"""``greedy_match.py`` (the matching of the error analyses) on its own:
against pycocotools (``COCOeval.evaluateImg``'s matches, ``maskUtils.iou``),
against the greedy rule of its docstring written as a plain loop, and on
hand-worked boxes."""
import numpy as np
import pytest

from mmext.evaluation.functional.greedy_match import (boxes_xywh,
                                                      boxes_xyxy,
                                                      greedy_match,
                                                      pair_ious,
                                                      rank_in_image,
                                                      sort_candidates)
from mmext.evaluation.functional.records import DetectionArrays


def sequential_greedy(det_rank, det_idx, gt_idx, iou, iou_thr, num_dets,
                      num_gts):
    """The module docstring's rule, one detection at a time: in rank
    order, take the untaken candidate GT of highest IoU (the lowest GT
    index on ties) if that IoU reaches the threshold."""
    cands = {}
    for d, g, v in zip(det_idx.tolist(), gt_idx.tolist(), iou.tolist()):
        cands.setdefault(d, []).append((g, v))
    match = [-1] * num_dets
    taken = [False] * num_gts
    for d in sorted(range(num_dets), key=lambda i: det_rank[i]):
        best = None
        for g, v in cands.get(d, []):
            if taken[g] or v < iou_thr:
                continue
            if best is None or v > best[1] or (v == best[1] and g < best[0]):
                best = (g, v)
        if best is not None:
            match[d] = best[0]
            taken[best[0]] = True
    return np.array(match)


def random_candidates(seed, num_dets=60, num_gts=25, num_pairs=400,
                      levels=8):
    """Random candidate pairs, each (detection, GT) at most once, with IoUs
    on a coarse grid (many ties) and a random unique detection rank."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(num_dets * num_gts, num_pairs, replace=False)
    rng.shuffle(flat)
    det_idx, gt_idx = np.divmod(flat, num_gts)
    iou = rng.integers(1, levels + 1, num_pairs) / levels
    det_rank = rng.permutation(num_dets)
    return det_rank, det_idx, gt_idx, iou


@pytest.mark.parametrize('seed', range(8))
@pytest.mark.parametrize('thr', [0.25, 0.5, 0.75])
def test_greedy_match_is_the_sequential_greedy_rule(seed, thr):
    det_rank, det_idx, gt_idx, iou = random_candidates(seed)
    got = greedy_match(det_rank, det_idx, gt_idx, iou, thr, 60, 25)
    want = sequential_greedy(det_rank, det_idx, gt_idx, iou, thr, 60, 25)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64
    # the rule is one-to-one and at the threshold
    taken = got[got >= 0]
    assert len(np.unique(taken)) == len(taken)


def test_greedy_match_hand_worked():
    """Three detections (rank 0, 1, 2 = detections 2, 0, 1), two GTs.

    Detection 2 prefers GT 1 (0.9); detection 0 has GT 0 and GT 1 tied at
    0.6 but GT 1 is gone, so GT 0; detection 1 only had GT 0 (0.8), taken.
    A threshold of exactly 0.6 still matches (``>=``)."""
    det_rank = np.array([1, 2, 0])
    det_idx = np.array([0, 0, 1, 2, 2])
    gt_idx = np.array([1, 0, 0, 1, 0])
    iou = np.array([0.6, 0.6, 0.8, 0.9, 0.5])
    np.testing.assert_array_equal(
        greedy_match(det_rank, det_idx, gt_idx, iou, 0.6, 3, 2),
        [0, -1, 1])
    # above 0.6 detection 0 has no candidate, detection 1 takes GT 0
    np.testing.assert_array_equal(
        greedy_match(det_rank, det_idx, gt_idx, iou, 0.61, 3, 2),
        [-1, 0, 1])
    # equal IoUs: the GT listed first (GT 0 before GT 1) when both free
    np.testing.assert_array_equal(
        greedy_match(np.array([0]), np.array([0, 0]), np.array([1, 0]),
                     np.array([0.7, 0.7]), 0.5, 1, 2), [0])
    # a detection without candidates, and GTs nobody reaches
    np.testing.assert_array_equal(
        greedy_match(np.arange(2), np.array([1]), np.array([3]),
                     np.array([0.4]), 0.5, 2, 4), [-1, -1])


def test_greedy_match_chain_of_preferences():
    """Detection i has GT i (0.9) and GT i + 1 (0.8): in rank order each
    takes its preferred GT; one whose preferred GT a better one took
    falls back to its other GT, which may displace the next one."""
    n = 4
    det_idx = np.repeat(np.arange(n), 2)
    gt_idx = np.stack([np.arange(n), np.arange(n) + 1], 1).ravel()
    iou = np.tile([0.9, 0.8], n)
    np.testing.assert_array_equal(
        greedy_match(np.arange(n), det_idx, gt_idx, iou, 0.5, n, n + 1),
        np.arange(n))
    # a cascade: detection i prefers GT i - 1 (0.9), else GT i (0.8); by
    # hand, detection 0 takes GT 0, so 1 falls back to GT 1, so 2 to GT 2...
    det_idx = np.concatenate([[0], np.repeat(np.arange(1, n), 2)])
    gt_idx = np.concatenate([[0], np.stack([np.arange(n - 1),
                                            np.arange(1, n)], 1).ravel()])
    iou = np.concatenate([[0.9], np.tile([0.9, 0.8], n - 1)])
    np.testing.assert_array_equal(
        greedy_match(np.arange(n), det_idx, gt_idx, iou, 0.5, n, n),
        np.arange(n))
    # ranks reversed: detection 3 takes GT 2, 2 takes GT 1, 1 GT 0, 0 none
    np.testing.assert_array_equal(
        greedy_match(np.arange(n)[::-1].copy(), det_idx, gt_idx, iou, 0.5, n,
                     n), [-1, 0, 1, 2])


def test_sort_candidates_order():
    """Grouped by detection rank; within a detection, ascending IoU and,
    on equal IoU, the higher GT index first (the preferred pair last)."""
    det_rank = np.array([1, 0])
    det_idx = np.array([0, 1, 0, 0, 1])
    gt_idx = np.array([2, 0, 1, 3, 4])
    iou = np.array([0.5, 0.7, 0.9, 0.5, 0.7])
    d, g, dkey, v = sort_candidates(det_rank, det_idx, gt_idx, iou)
    np.testing.assert_array_equal(d, [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(g, [4, 0, 3, 2, 1])
    np.testing.assert_array_equal(dkey, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(v, [0.7, 0.7, 0.5, 0.5, 0.9])


def test_rank_in_image_orders_by_image_score_input():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, 50) / 4  # many ties
    imgs = rng.integers(0, 5, 50)
    global_rank, rank = rank_in_image(scores, imgs)
    want = sorted(range(50), key=lambda i: (imgs[i], -scores[i], i))
    np.testing.assert_array_equal(np.argsort(global_rank), want)
    assert global_rank.dtype == np.int64
    for i in range(50):
        before = [j for j in want[:want.index(i)] if imgs[j] == imgs[i]]
        assert rank[i] == len(before)
    # integer scores; unsigned ones are negated in float64, not modulo
    # 256 (where -0 would rank score 0 first)
    for scores in (np.array([1, 3, 2]), np.array([0, 3, 2], np.uint8)):
        g, r = rank_in_image(scores, np.zeros(3, np.int64))
        np.testing.assert_array_equal(g, [2, 0, 1])
        np.testing.assert_array_equal(r, [2, 0, 1])
    # image indices as a plain list, as the scores may be
    g, r = rank_in_image([1., 3., 2.], [1, 0, 1])
    np.testing.assert_array_equal(g, [2, 0, 1])
    np.testing.assert_array_equal(r, [1, 0, 0])


def test_box_formats():
    xyxy = [[1.0, 2.0, 4.0, 8.0]]
    xywh = [[1.0, 2.0, 3.0, 6.0]]
    np.testing.assert_array_equal(boxes_xyxy(xyxy, 'xyxy'), xyxy)
    np.testing.assert_array_equal(boxes_xyxy(xywh, 'xywh'), xyxy)
    np.testing.assert_array_equal(boxes_xywh(xyxy, 'xyxy'), xywh)
    np.testing.assert_array_equal(boxes_xywh(xywh, 'xywh'), xywh)
    # flat integer input: (N, 4) float64
    for fn in (boxes_xyxy, boxes_xywh):
        for fmt in ('xyxy', 'xywh'):
            out = fn(np.arange(8), fmt)
            assert out.shape == (2, 4) and out.dtype == np.float64
    assert boxes_xywh(np.zeros((0, 4), np.int64), 'xywh').shape == (0, 4)
    # x, y, w, h come back as given: no round trip through x2 = x + w
    # (0.1 + 0.2 - 0.1 is not 0.2 in floating point)
    odd = [[0.1, 0.1, 0.2, 0.2]]
    np.testing.assert_array_equal(boxes_xywh(odd, 'xywh'), odd)
    for fn in (boxes_xyxy, boxes_xywh):
        with pytest.raises(ValueError) as err:
            fn(xyxy, 'cxcywh')
        assert str(err.value) == ("box_format must be 'xyxy' or 'xywh', "
                                  "got 'cxcywh'")


def arrays_from(det_boxes, det_imgs, det_scores, gt_boxes, gt_imgs,
                gt_crowd, gt_ignore=None, box_format='xywh'):
    n, g = len(det_boxes), len(gt_boxes)
    return DetectionArrays(
        det_boxes=np.asarray(det_boxes, np.float64).reshape(-1, 4),
        det_scores=np.asarray(det_scores, np.float64),
        det_labels=np.zeros(n, np.int64),
        det_imgs=np.asarray(det_imgs, np.int64),
        gt_boxes=np.asarray(gt_boxes, np.float64).reshape(-1, 4),
        gt_labels=np.zeros(g, np.int64),
        gt_imgs=np.asarray(gt_imgs, np.int64),
        gt_ignore=(np.zeros(g, bool) if gt_ignore is None else
                   np.asarray(gt_ignore, bool)),
        gt_crowd=np.asarray(gt_crowd, bool), num_classes=1,
        img_ids=list(range(int(max(max(det_imgs, default=0),
                                   max(gt_imgs, default=0))) + 1)),
        box_format=box_format)


def grid_boxes(rng, n):
    """Integer ``x, y, w, h`` boxes on a small grid: many touching edges
    (IoU exactly 0) and overlaps of a single axis."""
    xy = rng.integers(0, 12, (n, 2))
    wh = rng.integers(1, 6, (n, 2))
    return np.concatenate([xy, wh], axis=1).astype(np.float64)


@pytest.mark.parametrize('seed', range(4))
def test_pair_ious_equal_pycocotools_iou(seed):
    """Every same-image pair with ``maskUtils.iou > 0`` and no other, each
    with pycocotools' IoU bit for bit (crowd and ignored GTs as crowd
    regions), in the documented order."""
    from pycocotools import mask as mask_utils
    rng = np.random.default_rng(seed)
    nd, ng, ni = 40, 30, 3
    det, gt = grid_boxes(rng, nd), grid_boxes(rng, ng)
    det_imgs, gt_imgs = rng.integers(0, ni, nd), rng.integers(0, ni, ng)
    crowd, ignore = rng.random(ng) < 0.2, rng.random(ng) < 0.2
    fmt = ('xywh', 'xyxy')[seed % 2]
    det_in, gt_in = det.copy(), gt.copy()
    if fmt == 'xyxy':
        det_in[:, 2:] += det_in[:, :2]
        gt_in[:, 2:] += gt_in[:, :2]
    p = pair_ious(arrays_from(det_in, det_imgs, rng.random(nd), gt_in,
                              gt_imgs, crowd, ignore, fmt))
    region = crowd | ignore
    ref = np.asarray(mask_utils.iou(det.tolist(), gt.tolist(),
                                    region.astype(np.uint8).tolist()))
    same = det_imgs[:, None] == gt_imgs[None]
    for is_region, (d, g, v) in (
            (False, (p.det, p.gt, p.iou)),
            (True, (p.region_det, p.region_gt, p.region_iou))):
        want_d, want_g = np.nonzero(same & (ref > 0) &
                                    (region[None] == is_region))
        np.testing.assert_array_equal(d, want_d)  # row-major: the order
        np.testing.assert_array_equal(g, want_g)
        np.testing.assert_array_equal(v, ref[want_d, want_g])
        assert len(d) > 0 and d.dtype == g.dtype == np.int64
    assert p.num_dets == nd


def test_pair_ious_takes_integer_flags():
    """0/1 integer ignore / crowd flags (COCO's ``iscrowd``) select the
    same pairs as booleans."""
    rng = np.random.default_rng(7)
    det, gt = grid_boxes(rng, 30), grid_boxes(rng, 20)
    crowd, ignore = rng.random(20) < 0.3, rng.random(20) < 0.3
    args = (det, np.zeros(30, np.int64), rng.random(30), gt,
            np.zeros(20, np.int64))
    want = pair_ious(arrays_from(*args, crowd, ignore))
    arrays = arrays_from(*args, crowd, ignore)
    arrays.gt_crowd = crowd.astype(np.int64)
    arrays.gt_ignore = ignore.astype(np.int64)
    got = pair_ious(arrays)
    assert len(want.region_det) > 0 and len(want.det) > 0
    for field in ('det', 'gt', 'iou', 'region_det', 'region_gt',
                  'region_iou'):
        np.testing.assert_array_equal(getattr(got, field),
                                      getattr(want, field))


def test_pair_ious_ranks_and_select():
    """Ranks from image, then score; ``select`` renumbers the kept
    detections and keeps their pairs and ranks."""
    det = [[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 5, 5], [0, 0, 4, 4]]
    gt = [[0, 0, 10, 10], [20, 20, 5, 5], [1, 1, 2, 2]]
    arrays = arrays_from(det, [1, 1, 1, 0], [0.2, 0.9, 0.5, 0.1], gt,
                         [1, 1, 0], [False, False, True])
    p = pair_ious(arrays)
    np.testing.assert_array_equal(p.det_rank, [3, 1, 2, 0])
    np.testing.assert_array_equal(p.img_rank, [2, 0, 1, 0])
    np.testing.assert_array_equal(p.det, [0, 1, 2])
    np.testing.assert_array_equal(p.gt, [0, 0, 1])
    # by hand: 100/100, 50/100, 25/25
    np.testing.assert_array_equal(p.iou, [1.0, 0.5, 1.0])
    # the crowd GT (2x2 inside detection 3's 4x4): 4 / 16
    np.testing.assert_array_equal(p.region_det, [3])
    np.testing.assert_array_equal(p.region_gt, [2])
    np.testing.assert_array_equal(p.region_iou, [0.25])
    s = p.select(np.array([False, True, True, True]))
    np.testing.assert_array_equal(s.det, [0, 1])
    np.testing.assert_array_equal(s.gt, [0, 1])
    np.testing.assert_array_equal(s.iou, [0.5, 1.0])
    np.testing.assert_array_equal(s.region_det, [2])
    np.testing.assert_array_equal(s.region_gt, [2])
    np.testing.assert_array_equal(s.region_iou, [0.25])
    assert s.num_dets == 3 and type(s.num_dets) is int
    np.testing.assert_array_equal(s.det_rank, [1, 2, 0])
    np.testing.assert_array_equal(s.img_rank, [0, 1, 0])
    s = p.select(np.array([True, False, False, False]))
    np.testing.assert_array_equal(s.det, [0])
    assert len(s.region_det) == 0 and s.num_dets == 1


def coco_matches(arrays, iou_thr):
    """pycocotools' matched GT (index into ``arrays``' GT, -1 if none) of
    each detection: one category, every image, no area or count limit."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO()
    gt.dataset = dict(
        images=[dict(id=i + 1) for i in range(len(arrays.img_ids))],
        categories=[dict(id=1)],
        annotations=[
            dict(id=j + 1, image_id=int(arrays.gt_imgs[j]) + 1,
                 category_id=1, iscrowd=0, area=float(b[2] * b[3]),
                 bbox=b.tolist()) for j, b in enumerate(arrays.gt_boxes)])
    gt.createIndex()
    dt = gt.loadRes([
        dict(image_id=int(i) + 1, category_id=1, bbox=b.tolist(),
             score=float(s))
        for b, i, s in zip(arrays.det_boxes, arrays.det_imgs,
                           arrays.det_scores)])
    ev = COCOeval(gt, dt, 'bbox')
    ev.params.iouThrs = np.array([iou_thr])
    ev.params.maxDets = [10**6]
    ev.params.areaRng = [[0, 1e10]]
    ev.params.areaRngLbl = ['all']
    ev.evaluate()
    match = np.full(len(arrays.det_boxes), -1)
    for e in ev.evalImgs:
        if e is None:
            continue
        for dt_id, gt_id in zip(e['dtIds'], e['dtMatches'][0]):
            match[dt_id - 1] = int(gt_id) - 1  # ids are 1 + index
    return match


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('thr', [0.3, 0.5])
def test_greedy_match_of_pair_ious_equals_pycocotools(seed, thr):
    """Random real-valued boxes (no equal IoUs, where pycocotools keeps the
    GT listed last), distinct scores over several images."""
    rng = np.random.default_rng(seed)
    nd, ng, ni = 80, 30, 4
    gt = np.concatenate([rng.uniform(0, 40, (ng, 2)),
                         rng.uniform(5, 25, (ng, 2))], axis=1)
    src = rng.integers(0, ng, nd)
    det = gt[src] + rng.normal(0, 3, (nd, 4))
    det[:, 2:] = np.maximum(det[:, 2:], 1)
    gt_imgs = rng.integers(0, ni, ng)
    arrays = arrays_from(det, gt_imgs[src], rng.permutation(nd), gt, gt_imgs,
                         np.zeros(ng, bool))
    p = pair_ious(arrays)
    got = greedy_match(p.det_rank, p.det, p.gt, p.iou, thr, nd, ng)
    want = coco_matches(arrays, thr)
    assert (want >= 0).sum() > 10  # enough matches to tell orders apart
    np.testing.assert_array_equal(got, want)
