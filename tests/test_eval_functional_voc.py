"""VOC evaluation: parity with mmdet ``eval_map`` and hand-made cases."""
import numpy as np
import pytest
from mmdet.evaluation.functional import eval_map

from mmext.evaluation.functional import (ap_11point, ap_area, box_iou,
                                         paired_box_iou, voc_eval)
from mmext.evaluation.functional.grouping import same_group_pairs, score_order
from mmext.evaluation.functional.iou import paired_box_iou_at
from tests.helpers.det_scenes import random_scene
from tests.helpers.mmdet_pool import eval_map_in_threads


@pytest.fixture(autouse=True)
def _eval_map_in_threads(monkeypatch):
    eval_map_in_threads(monkeypatch)  # no fork per eval_map call


def _mmdet_inputs(s):
    det_results, annotations = [], []
    for i in range(s['num_images']):
        dm = s['det_imgs'] == i
        det_results.append([
            np.hstack([
                s['det_boxes'][dm & (s['det_labels'] == k)],
                s['det_scores'][dm & (s['det_labels'] == k)][:, None]
            ]).astype(np.float32) for k in range(s['num_classes'])
        ])
        gm = s['gt_imgs'] == i
        reg, ign = gm & ~s['gt_ignore'], gm & s['gt_ignore']
        annotations.append(
            dict(bboxes=s['gt_boxes'][reg].astype(np.float32),
                 labels=s['gt_labels'][reg],
                 bboxes_ignore=s['gt_boxes'][ign].astype(np.float32),
                 labels_ignore=s['gt_labels'][ign]))
    return det_results, annotations


def _ours(s, **kwargs):
    return voc_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                    s['det_imgs'], s['gt_boxes'], s['gt_labels'],
                    s['gt_imgs'], s['num_classes'], gt_ignore=s['gt_ignore'],
                    **kwargs)


@pytest.mark.parametrize('seed', range(20))
def test_parity_with_mmdet_eval_map(seed):
    s = random_scene(seed, num_images=6 + seed % 5, crowd_frac=0.0)
    dets, anns = _mmdet_inputs(s)
    thrs = (0.5, 0.75) if seed % 2 else (0.3, )
    res = _ours(s, iou_thrs=thrs, legacy_coords=True)
    for mode in ('11points', 'area'):
        for t, thr in enumerate(thrs):
            mean_ap, per_class = eval_map(
                dets, anns, iou_thr=thr, logger='silent', nproc=1,
                use_legacy_coordinate=True, eval_mode=mode)
            ref = np.array([c['ap'] for c in per_class], dtype=np.float64)
            has = np.array([c['num_gts'] > 0 for c in per_class])
            np.testing.assert_array_equal(res['num_gts'],
                                          [c['num_gts'] for c in per_class])
            np.testing.assert_allclose(res['ap'][mode][t][has], ref[has],
                                       atol=1e-6, rtol=0)
            assert np.isnan(res['ap'][mode][t][~has]).all()
            assert abs(res['mAP'][mode][t] - mean_ap) < 1e-6


def test_float_boxes_not_legacy():
    for seed in range(10):
        s = random_scene(100 + seed, integer=False, crowd_frac=0.0)
        dets, anns = _mmdet_inputs(s)
        res = _ours(s, legacy_coords=False, modes=('area', ))
        mean_ap, _ = eval_map(dets, anns, iou_thr=0.5, logger='silent',
                              nproc=1, use_legacy_coordinate=False,
                              eval_mode='area')
        assert abs(res['mAP']['area'][0] - mean_ap) < 1e-6


def test_hand_made_rules():
    gt = np.array([[0, 0, 9, 9], [20, 20, 29, 29], [40, 40, 49, 49]], float)
    # gt 2 is difficult
    dets = np.array([
        [0, 0, 9, 9],  # TP on gt0
        [0, 0, 9, 9],  # duplicate -> FP
        [40, 40, 49, 49],  # on difficult -> ignored
        [100, 100, 110, 110],  # background -> FP
        [20, 20, 29, 29],  # TP on gt1
    ], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    res = voc_eval(dets, scores, np.zeros(5, int), np.zeros(5, int), gt,
                   np.zeros(3, int), np.zeros(3, int), 2,
                   gt_ignore=[0, 0, 1])
    c = res['curves'][0][0]
    np.testing.assert_allclose(c['recall'], [.5, .5, .5, 1.])
    np.testing.assert_allclose(c['precision'], [1, .5, 1 / 3, .5])
    assert res['ap']['area'][0, 0] == pytest.approx(0.5 + 0.5 * 0.5)
    # class 1 has no GT: nan and left out of the mean
    assert np.isnan(res['ap']['area'][0, 1])
    assert res['mAP']['area'][0] == res['ap']['area'][0, 0]
    # a detection's candidate is its highest-IoU GT even if already taken
    gt2 = np.array([[0, 0, 9, 9], [0, 0, 9, 13]], float)
    d2 = np.array([[0, 0, 9, 9], [0, 0, 9, 10]], float)
    r2 = voc_eval(d2, [0.9, 0.8], [0, 0], [0, 0], gt2, [0, 0], [0, 0], 1)
    # det 1: IoU 100/110 with gt0 (taken) beats 110/140 with the free gt1,
    # so it is a duplicate (FP), not a TP on gt1
    assert box_iou(d2[1:], gt2).argmax() == 0
    np.testing.assert_allclose(r2['curves'][0][0]['precision'], [1, .5])


def test_empty_inputs_defined():
    res = voc_eval(np.zeros((0, 4)), [], [], [], np.zeros((0, 4)), [], [], 3)
    assert res['mAP']['11points'][0] == 0.0
    assert np.isnan(res['ap']['area']).all()
    # GT but no detections: AP 0
    res = voc_eval(np.zeros((0, 4)), [], [], [], [[0, 0, 5, 5]], [1], [0], 3)
    assert res['ap']['area'][0, 1] == 0.0 and res['mAP']['area'][0] == 0.0


def test_ap_interpolations():
    rec = np.array([0.1, 0.2, 0.4, 0.4, 0.8])
    prec = np.array([1.0, 0.5, 0.6, 0.4, 0.5])
    assert ap_area(rec, prec) == pytest.approx(0.1 * 1 + 0.3 * 0.6 +
                                               0.4 * 0.5)
    assert ap_11point(rec, prec) == pytest.approx(
        (1 + 1 + 0.6 + 0.6 + 0.6 + 0.5 + 0.5 + 0.5 + 0.5) / 11)


@pytest.mark.parametrize('bad, msg', [
    (dict(det_boxes=[[5, 0, 1, 4]]), 'x2 < x1'),
    (dict(det_scores=[np.nan]), 'non-finite score'),
    (dict(det_boxes=[[0, 0, np.inf, 4]]), 'non-finite box'),
    (dict(det_labels=[7]), 'label 7 outside'),
    (dict(det_scores=[0.5, 0.4]), 'has 2 entries'),
    (dict(det_imgs=[9]), 'image index 9 out of range'),
])
@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_bad_input_errors(bad, msg, dtype):
    kwargs = dict(det_boxes=[[0, 0, 4, 4]], det_scores=[0.5], det_labels=[0],
                  det_imgs=[0], gt_boxes=[[0, 0, 4, 4]], gt_labels=[0],
                  gt_imgs=[0], num_classes=3, num_images=2,
                  img_names=['a.jpg', 'b.jpg'])
    kwargs.update(bad)
    # float32 boxes and scores are checked as they are, not converted
    for key in ('det_boxes', 'det_scores', 'gt_boxes'):
        kwargs[key] = np.asarray(kwargs[key], dtype)
    with pytest.raises(ValueError, match=msg):
        voc_eval(**kwargs)


def test_pr_thresholds():
    from mmext.evaluation.functional import (best_f1_threshold,
                                             prf_at_threshold)
    # ranked TP, TP, FP, TP, FP, FP with 4 GTs, worked by hand
    scores = np.array([.9, .8, .7, .7, .4, .3])
    c = dict(precision=np.array([1, 1, 2 / 3, .75, .6, .5]),
             recall=np.array([.25, .5, .5, .75, .75, .75]))
    at = prf_at_threshold(c['precision'], c['recall'], scores, 0.5)
    assert at == pytest.approx(dict(precision=.75, recall=.75, f1=.75))
    assert prf_at_threshold(c['precision'], c['recall'], scores,
                            0.95)['f1'] == 0.0
    # tied scores .7 cannot be split: the cut after both gives F1 .75
    best = best_f1_threshold(c['precision'], c['recall'], scores)
    assert best['score_thr'] == .7 and best['f1'] == pytest.approx(.75)
    assert best_f1_threshold(np.zeros(0), np.zeros(0),
                             np.zeros(0))['score_thr'] == float('inf')


SCALES = ((0, 32), (32, 96), (96, 1e5))


@pytest.mark.parametrize('seed', range(12))
def test_scale_ranges_parity_with_mmdet_eval_map(seed):
    """Per range: outside GTs ignored, unmatched detections outside not FP,
    mAP over the classes with GT in the range (mmdet ``eval_map``)."""
    s = random_scene(200 + seed, num_images=6 + seed % 4, crowd_frac=0.0,
                     integer=seed % 3 != 2, max_dets=40)
    scales = SCALES if seed % 2 else ((0, 48), (20, 200))
    legacy = seed % 4 != 3
    dets, anns = _mmdet_inputs(s)
    thrs = (0.5, 0.7)
    res = _ours(s, iou_thrs=thrs, legacy_coords=legacy,
                scale_ranges=scales)['scales']
    np.testing.assert_array_equal(res['ranges'], scales)
    for mode in ('11points', 'area'):
        for t, thr in enumerate(thrs):
            mean_ap, per_class = eval_map(
                dets, anns, scale_ranges=scales, iou_thr=thr,
                logger='silent', nproc=1, use_legacy_coordinate=legacy,
                eval_mode=mode)
            num_gts = np.stack([c['num_gts'] for c in per_class], 1)
            np.testing.assert_array_equal(res['num_gts'], num_gts)
            ref = np.stack([c['ap'] for c in per_class], 1)  # (S, K)
            has = num_gts > 0
            got = res['ap'][mode][:, t]
            np.testing.assert_allclose(got[has], ref[has], atol=1e-6,
                                       rtol=0)
            assert np.isnan(got[~has]).all()
            np.testing.assert_allclose(res['mAP'][mode][:, t], mean_ap,
                                       atol=1e-6, rtol=0)


def test_scale_ranges_hand_made():
    # one class; GT 0 is small (10x10), GT 1 large (50x50, legacy +1)
    gt = np.array([[0, 0, 9, 9], [100, 100, 149, 149]], float)
    dets = np.array([
        [0, 0, 9, 9],  # TP on the small GT
        [100, 100, 149, 149],  # on the large GT: ignored in 'small'
        [300, 300, 304, 304],  # small unmatched: FP in 'small' only
        [400, 400, 459, 459],  # large unmatched: FP in 'large' only
    ], float)
    res = voc_eval(dets, [.9, .8, .7, .6], [0] * 4, [0] * 4, gt, [0, 0],
                   [0, 0], 1, modes=('area', ),
                   scale_ranges=[(0, 32), (32, 1e5)])['scales']
    np.testing.assert_array_equal(res['num_gts'], [[1], [1]])
    # small: det 0 TP, det 1 on an outside GT (ignored), det 2 FP after
    # the TP, det 3 outside (not FP) -> AP 1.0
    # large: det 0 on an outside GT (ignored), det 1 TP, det 2 outside,
    # det 3 FP after the TP -> AP 1.0
    assert res['ap']['area'][0, 0, 0] == 1.0
    assert res['ap']['area'][1, 0, 0] == 1.0
    # without ranges both GTs count and the two background boxes are FPs
    full = voc_eval(dets, [.9, .8, .7, .6], [0] * 4, [0] * 4, gt, [0, 0],
                    [0, 0], 1, modes=('area', ))
    assert full['ap']['area'][0, 0] == 1.0 and 'scales' not in full
    # a small background box ranked first is an FP in 'small' only
    res = voc_eval(dets, [.5, .4, .9, .3], [0] * 4, [0] * 4, gt, [0, 0],
                   [0, 0], 1, modes=('area', ),
                   scale_ranges=[(0, 32), (32, 1e5)])['scales']
    assert res['ap']['area'][0, 0, 0] == 0.5
    assert res['ap']['area'][1, 0, 0] == 1.0


@pytest.mark.parametrize('bad', [[(32, 0)], [(0, np.nan)], [(-1, 5)], [],
                                 [(1, 2, 3)], 'abc'])
def test_scale_ranges_bad(bad):
    with pytest.raises(ValueError, match='scale'):
        voc_eval([[0, 0, 4, 4]], [.5], [0], [0], [[0, 0, 4, 4]], [0], [0],
                 1, scale_ranges=bad)


@pytest.mark.parametrize('seed', range(6))
def test_parity_with_mmdet_float32_inputs(seed):
    """Float32 boxes and scores (what models output) take the packed-key
    sort and the float32-kept checks; results still equal ``eval_map``'s
    and ours on the same values in float64."""
    s = random_scene(300 + seed, num_images=8, crowd_frac=0.0,
                     integer=seed % 2 == 0)
    s32 = dict(s, det_boxes=s['det_boxes'].astype(np.float32),
               det_scores=s['det_scores'].astype(np.float32),
               gt_boxes=s['gt_boxes'].astype(np.float32))
    dets, anns = _mmdet_inputs(s32)
    res = _ours(s32, legacy_coords=seed % 3 != 0, scale_ranges=SCALES)
    as64 = {k: (v.astype(np.float64) if k in ('det_boxes', 'det_scores',
                                              'gt_boxes') else v)
            for k, v in s32.items()}
    res64 = _ours(as64, legacy_coords=seed % 3 != 0, scale_ranges=SCALES)
    for mode in ('11points', 'area'):
        np.testing.assert_array_equal(res['ap'][mode], res64['ap'][mode])
        np.testing.assert_array_equal(res['scales']['ap'][mode],
                                      res64['scales']['ap'][mode])
        mean_ap, _ = eval_map(dets, anns, iou_thr=0.5, logger='silent',
                              nproc=1, use_legacy_coordinate=seed % 3 != 0,
                              eval_mode=mode)
        assert abs(res['mAP'][mode][0] - mean_ap) < 1e-6
    curve = res['curves'][0][0]
    assert curve['scores'].dtype == np.float64
    assert (np.diff(curve['scores']) <= 0).all()


@pytest.mark.parametrize('seed', range(40))
def test_score_order_is_the_stable_sort(seed):
    """Class, then score descending, ties by image then input position:
    the packed-key path (float32 scores) and the fallback (float64 scores,
    large labels) both equal a lexsort."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 80))
    values = np.array([-1.5, -0.0, 0.0, 0.25, 1e-40, 3.0, -2e-45, np.inf,
                       -np.inf, 0.1])
    scores = rng.choice(values, n)
    if seed % 3 == 0:
        scores = rng.random(n)  # float64 values: the fallback
    scores = scores.astype(np.float32 if seed % 3 == 1 else np.float64)
    labels = rng.integers(0, 4 if seed % 5 else 10**6, n)
    imgs = rng.integers(0, 5, n)
    if seed % 2:
        imgs = np.sort(imgs)
    ref = np.lexsort((np.arange(n), imgs, -scores.astype(np.float64),
                      labels))
    np.testing.assert_array_equal(score_order(scores, labels, imgs), ref)


@pytest.mark.parametrize('seed', range(10))
def test_same_group_pairs_dense_and_sparse(seed):
    rng = np.random.default_rng(seed)
    spread = 10 if seed % 2 else 10**9  # dense table or binary search
    det_keys = rng.integers(0, 6, 50) * spread
    gt_keys = rng.integers(0, 6, 20) * spread
    d, g = same_group_pairs(det_keys, gt_keys)
    ref = [(i, j) for i in range(50) for j in range(20)
           if det_keys[i] == gt_keys[j]]
    assert list(zip(d.tolist(), g.tolist())) == ref


def test_paired_box_iou_at_equals_gathered():
    rng = np.random.default_rng(0)
    a = np.floor(rng.uniform(0, 50, (30, 4)))
    a[:, 2:] = a[:, :2] + np.floor(rng.uniform(0, 20, (30, 2)))
    b = a[rng.permutation(30)[:12]] + rng.integers(-3, 4, (12, 4))
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
    i, j = rng.integers(0, 30, 200), rng.integers(0, 12, 200)
    for legacy in (True, False):
        ref = paired_box_iou(a[i], b[j], legacy)
        np.testing.assert_array_equal(
            paired_box_iou_at(a, i, b, j, legacy), ref)
        np.testing.assert_array_equal(
            paired_box_iou_at(a.astype(np.float32), i, b, j, legacy), ref)
        np.testing.assert_array_equal(box_iou(a, b, legacy)[i, j], ref)
