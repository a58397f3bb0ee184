"""COCO evaluation: parity with pycocotools COCOeval and hand-made cases."""
import os
import warnings

import numpy as np
import pytest

from mmext.evaluation.functional import coco, coco_eval
from mmext.evaluation.functional.grouping import group_rank, stable_argsort
from tests.helpers.coco_json import pycocotools_eval
from tests.helpers.det_scenes import random_scene


def ours(s, box_format='xyxy', **kwargs):
    return coco_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                     s['det_imgs'], s['gt_boxes'], s['gt_labels'],
                     s['gt_imgs'], s['num_classes'], gt_iscrowd=s['gt_crowd'],
                     gt_areas=s.get('gt_areas'), box_format=box_format,
                     num_images=s['num_images'], **kwargs)


def assert_same(res, ev):
    """Bit for bit: the same floating-point operations as pycocotools."""
    np.testing.assert_array_equal(res['stats'], ev.stats)
    np.testing.assert_array_equal(res['precision'], ev.eval['precision'])
    np.testing.assert_array_equal(res['recall'], ev.eval['recall'])
    np.testing.assert_array_equal(res['scores'], ev.eval['scores'])


@pytest.mark.parametrize('seed', range(25))
def test_parity_with_pycocotools(seed):
    s = random_scene(seed, num_images=5 + seed % 6, num_classes=3,
                     max_gts=8, max_dets=40 + 5 * (seed % 4),
                     integer=seed % 2 == 0, crowd_frac=0.2, ignore_frac=0.0,
                     many_dets_image=seed % 3 == 0)
    if seed % 4 == 1:
        # mask-like areas that differ from the box area
        rng = np.random.default_rng(seed)
        wh = s['gt_boxes'][:, 2:] - s['gt_boxes'][:, :2]
        s['gt_areas'] = wh.prod(axis=1) * rng.uniform(0.3, 1.0, len(wh))
    assert_same(ours(s), pycocotools_eval(s))


def test_many_dets_and_tied_scores_across_images():
    # > 100 detections in one image and class, scores tied across images:
    # ties are ordered by image index, then input order, as pycocotools
    s = random_scene(7, num_images=4, num_classes=1, max_gts=10,
                     max_dets=10, crowd_frac=0.0, ignore_frac=0.0,
                     many_dets_image=True)
    s['det_scores'] = np.round(s['det_scores'] * 8) / 8
    assert (s['det_imgs'] == 0).sum() > 100
    assert_same(ours(s), pycocotools_eval(s))


def test_xywh_input():
    s = random_scene(3, integer=False)
    s['gt_boxes'][:, 2:] -= s['gt_boxes'][:, :2]
    s['det_boxes'][:, 2:] -= s['det_boxes'][:, :2]
    assert_same(ours(s, 'xywh'), pycocotools_eval(s, 'xywh'))


def test_crowd_absorbs_and_ignore_regions():
    gt = [[0, 0, 100, 100], [200, 200, 220, 220]]
    dets = [[0, 0, 50, 50], [50, 50, 100, 100], [200, 200, 220, 220],
            [300, 300, 310, 310]]
    # gt0 is a crowd: both boxes inside it are ignored, not FPs
    res = coco_eval(dets, [0.9, 0.8, 0.7, 0.6], [0] * 4, [0] * 4, gt, [0, 0],
                    [0, 0], 1, gt_iscrowd=[1, 0])
    assert res['recall'][0, 0, 0, 2] == 1.0
    # precision: the only counted dets are the TP then one FP
    assert res['precision'][0, 0, 0, 0, 2] == pytest.approx(1.0)


def test_ignore_region_is_matched_once_not_absorbing():
    """A non-crowd ignore region (VOC difficult, ``ignore_flag``) takes one
    detection like a regular GT: a second detection on it is a false
    positive. A crowd region would absorb it (ignored) instead, so the two
    give different precision. Oracle: pycocotools' own ignored non-crowd
    GTs, those outside the area range, are matched exactly so."""
    gt = [[0, 0, 50, 50], [100, 100, 150, 150]]
    # det0 takes the ignore region (ignored), det1 duplicates it, det2 is a
    # true positive on gt1
    dets = [[0, 0, 50, 50], [0, 0, 50, 50], [100, 100, 150, 150]]
    common = (dets, [0.9, 0.8, 0.7], [0] * 3, [0] * 3, gt, [0, 0], [0, 0],
              1)
    res = coco_eval(*common, gt_ignore=[1, 0])
    # hand-worked: ranked (ignored, FP, TP) -> precision 1 / 2 at recall 1
    np.testing.assert_array_equal(res['precision'][:, :, 0, 0, 2], 0.5)
    np.testing.assert_array_equal(res['recall'][:, 0, 0, 2], 1.0)
    # pycocotools: gt0 ignored by its area (outside the only range)
    s = dict(gt_boxes=np.array(gt, float), gt_labels=np.array([0, 0]),
             gt_imgs=np.array([0, 0]), gt_crowd=np.array([False, False]),
             gt_areas=np.array([2e10, 2500.0]),
             det_boxes=np.array(dets, float), det_labels=np.zeros(3, int),
             det_imgs=np.zeros(3, int), det_scores=np.array([.9, .8, .7]),
             num_images=1, num_classes=1)
    ev = pycocotools_eval(s, params=dict(areaRng=[[0, 1e10]],
                                         areaRngLbl=['all']))
    np.testing.assert_array_equal(res['precision'][..., :1, :],
                                  ev.eval['precision'])
    np.testing.assert_array_equal(res['recall'][..., :1, :],
                                  ev.eval['recall'])
    # the same region as a crowd absorbs the duplicate: precision 1 (as
    # pycocotools forms it, with its np.spacing(1))
    crowd = coco_eval(*common, gt_iscrowd=[1, 0])
    np.testing.assert_array_equal(crowd['precision'][:, :, 0, 0, 2],
                                  1 / (1 + np.spacing(1)))


def test_ignore_flags_parity_with_area_ignored_gts():
    """Random scenes: GTs flagged ignore score as pycocotools scores the
    same GTs pushed outside the area range (ignored, matched once)."""
    for seed in range(6):
        s = random_scene(40 + seed, num_images=8, num_classes=3, max_gts=8,
                         max_dets=40, crowd_frac=0.15, ignore_frac=0.3)
        areas = np.prod(s['gt_boxes'][:, 2:] - s['gt_boxes'][:, :2], axis=1)
        res = coco_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                        s['det_imgs'], s['gt_boxes'], s['gt_labels'],
                        s['gt_imgs'], s['num_classes'],
                        gt_iscrowd=s['gt_crowd'], gt_ignore=s['gt_ignore'],
                        area_ranges=[[0, 1e10]])
        s['gt_areas'] = np.where(s['gt_ignore'], 2e10, areas)
        ev = pycocotools_eval(s, params=dict(areaRng=[[0, 1e10]],
                                             areaRngLbl=['all']))
        np.testing.assert_array_equal(res['precision'], ev.eval['precision'])
        np.testing.assert_array_equal(res['recall'], ev.eval['recall'])
        np.testing.assert_array_equal(res['scores'], ev.eval['scores'])


def test_empty_and_no_gt():
    res = coco_eval(np.zeros((0, 4)), [], [], [], np.zeros((0, 4)), [], [], 2)
    assert (res['stats'] == -1).all()
    res = coco_eval([[0, 0, 5, 5]], [0.5], [0], [0], np.zeros((0, 4)), [], [],
                    2)
    assert (res['stats'] == -1).all()
    res = coco_eval(np.zeros((0, 4)), [], [], [], [[0, 0, 50, 50]], [1], [0],
                    2)
    assert res['stats'][0] == 0.0 and res['stats'][3] == -1


@pytest.mark.parametrize('bad, msg', [
    (dict(det_boxes=[[0, 5, 4, 1]]), 'y2 < y1'),
    (dict(det_scores=[np.inf]), 'non-finite score'),
    (dict(gt_labels=[-1]), 'label -1 outside'),
    (dict(gt_iscrowd=[0, 1]), 'iscrowd has 2 entries'),
])
def test_bad_input_errors(bad, msg):
    kwargs = dict(det_boxes=[[0, 0, 4, 4]], det_scores=[0.5], det_labels=[0],
                  det_imgs=[0], gt_boxes=[[0, 0, 4, 4]], gt_labels=[0],
                  gt_imgs=[0], num_classes=3)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=msg):
        coco_eval(**kwargs)


def perfect_scene(num_images=6, seed=0):
    """Every GT detected exactly once with its own box."""
    s = random_scene(seed, num_images=num_images, num_classes=3, max_gts=6,
                     crowd_frac=0.0, ignore_frac=0.0)
    for k in ('boxes', 'labels', 'imgs'):
        s[f'det_{k}'] = s[f'gt_{k}'].copy()
    s['det_scores'] = np.linspace(0.9, 0.1, len(s['gt_labels']))
    return s


def test_annotation_id_zero_perfect_prediction():
    s = perfect_scene()
    ids = np.arange(len(s['gt_labels']))  # numbered from 0, as converters do
    ev = pycocotools_eval(s, ann_ids=ids)
    assert ev.stats[0] < 1.0  # pycocotools' quirk, reproduced by default
    with pytest.warns(UserWarning, match=r"ground truth #0 \(image 0\) has "
                      'annotation id 0.*match_ann_id_zero=True'):
        res = ours(s, gt_ids=ids)
    assert_same(res, ev)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        res = ours(s, gt_ids=ids, match_ann_id_zero=True)
        assert res['stats'][0] == 1.0
        # ids numbered from 1: pycocotools matches normally, no warning
        assert_same(ours(s, gt_ids=ids + 1), pycocotools_eval(s))


@pytest.mark.parametrize('seed', range(12))
def test_annotation_id_zero_parity(seed):
    s = random_scene(100 + seed, num_images=6, num_classes=3, max_gts=8,
                     max_dets=40, integer=seed % 2 == 0, crowd_frac=0.25,
                     ignore_frac=0.0)
    # distinct ids from 0: id 0 lands on a random GT, a crowd one at times
    ids = np.random.default_rng(seed).permutation(len(s['gt_labels']))
    with pytest.warns(UserWarning, match='annotation id 0'):
        res = ours(s, gt_ids=ids)
    assert_same(res, pycocotools_eval(s, ann_ids=ids))
    # the option: as pycocotools with every id non-zero
    res = ours(s, gt_ids=ids, match_ann_id_zero=True)
    assert_same(res, pycocotools_eval(s))


def test_gt_ids_checked():
    s = perfect_scene()
    with pytest.raises(ValueError, match='ground truth ids has 2 entries'):
        ours(s, gt_ids=[1, 2])
    ids = np.arange(len(s['gt_labels'])) + 1
    ids[3] = ids[1]
    # pycocotools would evaluate one of the two annotations twice
    with pytest.raises(ValueError, match=r'annotation id 2 is used by '
                       r'ground truth #1 \(image .*\) and #3'):
        ours(s, gt_ids=ids, match_ann_id_zero=True)


@pytest.mark.parametrize('params', [
    dict(areaRng=[], areaRngLbl=[]),
    dict(areaRng=[[0, 1e10]], areaRngLbl=['all']),
    dict(areaRng=[[0, 1e10], [0, 50**2]], areaRngLbl=['all', 'small']),
    dict(recThrs=np.array([])),
    dict(recThrs=np.array([0.0, 0.3, 0.9])),
    dict(maxDets=[100, 300, 1000]),
    dict(maxDets=[1, 5, 20]),
    # pycocotools sorts maxDets before evaluating
    dict(maxDets=[3, 10, 30, 2]),
    dict(maxDets=[100, 10, 1]),
    dict(iouThrs=np.array([0.5])),
    dict(iouThrs=np.array([0.3, 0.75, 0.9])),
])
def test_custom_params_as_pycocotools(params):
    s = random_scene(5, num_images=8, num_classes=3, max_gts=8, max_dets=40,
                     crowd_frac=0.2, ignore_frac=0.0)
    names = dict(areaRng='area_ranges', recThrs='rec_thrs',
                 maxDets='max_dets', iouThrs='iou_thrs')
    kwargs = {names[k]: v for k, v in params.items() if k in names}
    res = ours(s, **kwargs)
    ev = pycocotools_eval(s, params=params)
    assert res['precision'].shape == ev.eval['precision'].shape
    assert_same(res, ev)


@pytest.mark.parametrize('params, msg', [
    (dict(iouThrs=np.array([])), 'iou_thrs must hold at least one'),
    (dict(maxDets=[1, 100]), 'max_dets must be at least 3'),
])
def test_params_pycocotools_cannot_summarize(params, msg):
    s = random_scene(6, num_images=4, num_classes=2)
    # pycocotools gets through evaluate/accumulate, then fails in summarize
    with pytest.raises(IndexError):
        pycocotools_eval(s, params=params)
    names = dict(maxDets='max_dets', iouThrs='iou_thrs')
    with pytest.raises(ValueError, match=msg):
        ours(s, **{names[k]: v for k, v in params.items()})


@pytest.mark.parametrize('thrs', [[np.nan], [0.5, -1.0], [1.5]])
def test_iou_thrs_outside_unit_interval(thrs):
    s = random_scene(6, num_images=4, num_classes=2)
    with pytest.raises(ValueError, match='outside'):
        ours(s, iou_thrs=thrs)


@pytest.mark.parametrize('seed', range(4))
def test_ranking_helpers_against_numpy_and_a_loop(seed):
    rng = np.random.default_rng(seed)
    n = [0, 1, 1000, 20000][seed]
    for values in (rng.random(n), np.round(rng.random(n) * 10) / 10,
                   np.zeros(n), np.where(rng.random(n) < .5, 0.0, -0.0)):
        np.testing.assert_array_equal(stable_argsort(values),
                                      np.argsort(values, kind='stable'))
    keys, order = rng.integers(0, 50, n), rng.permutation(n)
    expected, seen = np.empty(n, np.int64), {}
    for i in order:  # rank within the key's group, in ``order``
        expected[i] = seen.get(keys[i], 0)
        seen[keys[i]] = expected[i] + 1
    np.testing.assert_array_equal(group_rank(keys, order), expected)


@pytest.fixture
def forced_fork(monkeypatch):
    """Class ranges evaluated in forked children at any size and load."""
    monkeypatch.setattr(coco, 'FORK_MIN_DETECTIONS', 0)
    monkeypatch.setattr(coco, 'spare_cpus', lambda: 3)


@pytest.mark.parametrize('seed', range(6))
def test_processes_give_the_numbers_of_one(seed, forced_fork):
    s = random_scene(seed, num_images=6, num_classes=5, max_gts=8,
                     max_dets=60, crowd_frac=0.2, ignore_frac=0.1,
                     many_dets_image=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(len(s['gt_labels'])) + (seed % 2 == 0)
    kwargs = dict(gt_ignore=s['gt_ignore'], gt_ids=ids,
                  max_dets=(1, 5, 50), area_ranges=[[0, 1e10], [0, 900],
                                                    [900, 1e10]])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # annotation id 0
        one = ours(s, **kwargs)
        for processes in (2, 4):
            parts = coco._class_parts(s['det_labels'], 5, processes)
            assert len(parts) == processes
            many = ours(s, processes=processes, **kwargs)
            for key in ('precision', 'recall', 'scores', 'stats',
                        'num_gts'):
                np.testing.assert_array_equal(many[key], one[key])


def test_class_parts_balance_detections_and_fall_back(monkeypatch):
    labels = np.repeat([0, 1, 2, 3], [700, 100, 100, 100])
    monkeypatch.setattr(coco, 'spare_cpus', lambda: 1)
    assert coco._class_parts(labels, 4, 1) == [(0, 4)]
    assert coco._class_parts(labels, 4, 2) == [(0, 4)]  # small input
    monkeypatch.setattr(coco, 'FORK_MIN_DETECTIONS', 0)
    assert coco._class_parts(labels, 4, 2) == [(0, 1), (1, 4)]
    assert coco._class_parts(labels, 4, 3) == [(0, 1), (1, 4)]  # 1 idle
    monkeypatch.setattr(coco, 'spare_cpus', lambda: 0)  # busy machine
    assert coco._class_parts(labels, 4, 2) == [(0, 4)]
    monkeypatch.setattr(coco, 'spare_cpus', lambda: 5)
    assert coco._class_parts(labels[:0], 4, 3) == [(0, 1), (1, 2), (2, 4)]
    labels = np.repeat(np.arange(10), 100)
    assert coco._class_parts(labels, 10, 2) == [(0, 5), (5, 10)]
    labels = np.repeat(np.arange(100), 10)
    assert coco._class_parts(labels, 100, 2) == [(0, 50), (50, 100)]
    assert coco._class_parts(labels, 2, 6) == [(0, 1), (1, 2)]


@pytest.mark.parametrize('processes', [0, 2.5, True, '2'])
def test_processes_must_be_a_positive_integer(processes):
    s = random_scene(1, num_images=2)
    with pytest.raises(ValueError, match='processes must be an integer >= 1'):
        ours(s, processes=processes)


def test_failed_child_is_redone_here_with_a_warning(forced_fork,
                                                    monkeypatch):
    s = random_scene(3, num_images=5, num_classes=4, max_dets=40)
    one = ours(s)
    parent = os.getpid()
    evaluate = coco._evaluate_classes

    def crash_in_child(*args):
        if os.getpid() != parent:
            os._exit(3)
        return evaluate(*args)

    monkeypatch.setattr(coco, '_evaluate_classes', crash_in_child)
    children = child_pids()  # e.g. a test helper's forkserver
    with pytest.warns(UserWarning,
                      match=r'evaluating classes \d to 3 failed'):
        many = ours(s, processes=2)
    np.testing.assert_array_equal(many['precision'], one['precision'])
    np.testing.assert_array_equal(many['stats'], one['stats'])
    assert child_pids() <= children  # every child reaped: no zombie left


def child_pids() -> set:
    """This process's children, zombies included (Linux)."""
    pids = set()
    for task in os.listdir('/proc/self/task'):
        with open(f'/proc/self/task/{task}/children') as f:
            pids.update(int(pid) for pid in f.read().split())
    return pids
