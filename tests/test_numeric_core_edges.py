"""Edges of the numeric core that the parity tests do not reach: exact
error messages, defaults, input dtypes and boundaries. Each test here kills
mutants that survived ``make mutation`` (see tests/MUTATION.md); expected
values are worked by hand."""
import re

import numpy as np
import pytest

from mmext.datasets.functional.repeat_factors import (
    active_slots, check_oversample_thr, compute_repeat_factors,
    expected_repeats, repeat_counts, unique_image_categories)

# repeat factors


@pytest.mark.parametrize('thr', [0, 1.5, True, '0.5'])
def test_oversample_thr_error_names_the_value(thr):
    with pytest.raises(ValueError) as err:
        check_oversample_thr(thr)
    assert str(err.value) == ('oversample_thr must be a number in (0, 1], '
                              f'got {thr!r}')


def test_category_lists_of_floats_become_int64_pairs():
    images, categories = unique_image_categories(
        np.array([1.0, 0.0, 1.0], np.float32), [2.0, 1.0], 2)
    assert images.dtype == categories.dtype == np.int64
    assert images.tolist() == [0, 0, 1] and categories.tolist() == [0, 1, 1]


def test_category_list_errors_name_what_is_wrong():
    with pytest.raises(ValueError) as err:
        unique_image_categories([0, 1, 1], [2], 2)
    assert str(err.value) == '3 labels but lengths sum to 2'
    # the id C itself is outside [0, C)
    with pytest.raises(ValueError) as err:
        unique_image_categories([0, 1, 2], [1, 2], 2)
    assert str(err.value) == ('image 1 has category id 2, outside the 2 '
                              'classes')


def test_no_images_refused_with_a_message():
    with pytest.raises(ValueError) as err:
        compute_repeat_factors(np.zeros(0), np.zeros(0), 3, 0.5)
    assert str(err.value) == 'cannot compute repeat factors of 0 images'


def test_repeat_counts_defaults_and_dtypes():
    r = np.array([1.5, 2.25, 1.0, 3.0])
    ceil = repeat_counts(r)  # rounding='ceil' by default
    assert ceil.dtype == np.int64 and ceil.tolist() == [2, 3, 1, 3]
    # stochastic: seed 0 and epoch 0 by default; 200 coin flips tell them
    # apart from any other seed or epoch
    many = np.full(200, 1.5)
    drawn = repeat_counts(many, 'stochastic')
    assert drawn.dtype == np.int64
    assert np.array_equal(drawn, repeat_counts(many, 'stochastic', 0, 0))
    assert not np.array_equal(drawn, repeat_counts(many, 'stochastic', 1, 0))
    assert not np.array_equal(drawn, repeat_counts(many, 'stochastic', 0, 1))
    assert set(drawn.tolist()) == {1, 2}
    # integer factors are never rounded up
    assert repeat_counts(np.array([1.0, 2.0]), 'stochastic').tolist() == [1, 2]


def test_expected_repeats_by_rounding():
    r = np.array([1, 2, 3])  # integer input
    assert expected_repeats(np.array([1.5, 2.25]), 'ceil').tolist() == [2, 3]
    stochastic = expected_repeats(r, 'stochastic')
    assert stochastic.dtype == np.float64 and stochastic.tolist() == [1, 2, 3]
    for bad in ('Stochastic', 'floor'):
        with pytest.raises(ValueError, match=re.escape(
                f"rounding must be one of ('ceil', 'stochastic'), got "
                f"'{bad}'")):
            expected_repeats(r, bad)


def test_active_slots_refuses_more_than_the_slots():
    with pytest.raises(ValueError) as err:
        active_slots(np.array([2, 1]), np.array([1, 2]))
    assert str(err.value) == 'counts exceed the slots of their images'
    assert active_slots(np.array([2, 3]), np.array([1, 2])).tolist() == [
        0, 2, 3]


# box IoU


def test_box_iou_shapes_defaults_and_dtypes():
    from mmext.evaluation.functional.iou import box_iou, xyxy_to_xywh
    one = box_iou([0, 0, 10, 10], [[0, 0, 5, 10], [5, 0, 15, 10]])
    assert one.shape == (1, 2) and one.dtype == np.float64
    # areas 100, 50 and 100 overlapping 50: no +1 pixel by default
    assert one.tolist() == [[0.5, 50 / 150]]
    many = box_iou(np.array([[0, 0, 10, 10], [0, 0, 5, 10]]),
                   np.array([[0, 0, 10, 10], [0, 0, 5, 10], [20, 20, 30, 30]]))
    assert many.shape == (2, 3)
    assert many.tolist() == [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0]]
    # VOC's legacy pixels: [0, 9] is 10 pixels wide
    legacy = box_iou([[0, 0, 9, 9]], [[0, 0, 4, 9]], legacy_coords=True)
    assert legacy.tolist() == [[0.5]]
    xywh = xyxy_to_xywh(np.array([1, 2, 4, 8]))  # integers in, floats out
    assert xywh.dtype == np.float64 and xywh.tolist() == [[1, 2, 3, 6]]


def degenerate_boxes(extra):
    """Boxes of zero width, zero height, a point (zero area), two
    sub-pixel boxes, a plain one and the zero-width one again; with the +1
    pixel convention a zero width is ``x2 = x1 - 1``."""
    z = -extra
    return np.array([[2, 2, 2 + z, 6], [2, 2, 6, 2 + z], [3, 3, 3 + z, 3 + z],
                     [0, 0, 0.5, 0.5], [0.25, 0, 0.75, 0.5], [0, 0, 4, 4],
                     [2, 2, 2 + z, 6]])


@pytest.mark.parametrize('legacy, overlaps', [
    # areas 0.25, 0.25, 16; overlaps 0.25 x 0.5 (union 0.375), 0.25, 0.25
    (False, [[1, 1 / 3, 1 / 64], [1 / 3, 1, 1 / 64], [1 / 64, 1 / 64, 1]]),
    # +1 pixel: areas 2.25, 2.25, 25; overlaps 1.25 x 1.5 (union 2.625),
    # 2.25, 2.25
    (True, [[1, 5 / 7, 0.09], [5 / 7, 1, 0.09], [0.09, 0.09, 1]]),
])
def test_iou_of_degenerate_and_tiny_boxes(legacy, overlaps):
    """Worked by hand: every pair with a zero-area box has IoU 0, quietly
    (no 0 / 0 warning; mmdet's ``bbox_overlaps`` also gives 0, by clamping
    the union to 1e-6), and unions below 1 are divided like any other."""
    import warnings

    from mmext.evaluation.functional.iou import box_iou
    b = degenerate_boxes(1.0 if legacy else 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        got = box_iou(b, b, legacy_coords=legacy)
    want = np.zeros((7, 7))
    want[3:6, 3:6] = overlaps
    np.testing.assert_array_equal(got, want)


def test_paired_box_iou_at_defaults_to_exact_coordinates():
    from mmext.evaluation.functional.iou import paired_box_iou_at
    a = np.array([[0., 0, 10, 10], [0, 0, 5, 10]])
    # areas 100 and 50 overlapping 50: 0.5 (with +1 pixel: 66 / 121)
    assert paired_box_iou_at(a, np.array([0]), a,
                             np.array([1])).tolist() == [0.5]


def test_crowd_iou_of_zero_width_boxes_is_pycocotools():
    """``maskUtils.iou`` skips a pair whose overlap has no width or no
    height (IoU 0), also when both boxes have zero area (no 0 / 0)."""
    from pycocotools import mask as mask_utils

    from mmext.evaluation.functional.iou import paired_crowd_iou_xywh
    dets = np.array([[5., 0, 0, 4], [0, 5, 4, 0], [5, 5, 0, 0],
                     [5, 0, 0, 4], [0, 0, 4, 4], [4, 0, 2, 4]])
    gts = np.array([[5., 1, 0, 4], [1, 5, 4, 0], [5, 5, 0, 0],
                    [5, 0, 0, 4], [4, 0, 2, 4], [0, 0, 4, 4]])
    for crowd in (np.zeros(6, bool), np.ones(6, bool)):
        ref = np.diag(mask_utils.iou(dets.tolist(), gts.tolist(),
                                     crowd.astype(np.uint8).tolist()))
        got = paired_crowd_iou_xywh(dets, gts, crowd)
        assert ref.tolist() == [0.0] * 6  # touching or empty: no overlap
        np.testing.assert_array_equal(got, ref)


# COCO max_dets


def test_coco_max_dets_cut_at_exactly_one_more_detection():
    """An image with max_dets[0] + 1 = 2 detections, each on its own GT:
    AR@1 counts the first only (0.5), AR@10 both (1.0); pycocotools too."""
    from mmext.evaluation.functional import coco_eval
    from tests.helpers.coco_json import pycocotools_eval
    s = dict(gt_boxes=np.array([[0., 0, 10, 10], [20, 20, 30, 30]]),
             gt_labels=np.array([0, 0]), gt_imgs=np.array([0, 0]),
             gt_crowd=np.zeros(2, bool),
             det_boxes=np.array([[0., 0, 10, 10], [20, 20, 30, 30]]),
             det_scores=np.array([0.9, 0.8]), det_labels=np.array([0, 0]),
             det_imgs=np.array([0, 0]), num_images=1, num_classes=1)
    ours = coco_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                     s['det_imgs'], s['gt_boxes'], s['gt_labels'],
                     s['gt_imgs'], 1, gt_iscrowd=s['gt_crowd'], num_images=1)
    stats = np.asarray(ours['stats'])
    assert stats[6] == 0.5 and stats[7] == 1.0 and stats[8] == 1.0
    np.testing.assert_array_equal(stats, pycocotools_eval(s).stats)


# multi-label counts and statistics


def test_multilabel_confusion_defaults_and_dtypes():
    from mmext.evaluation.functional.multilabel import multilabel_confusion
    scores = np.array([[0.5, 0.4], [0.7, 0.6]])
    targets = np.array([[1, 1], [0, -1]])
    tp, fp, fn = multilabel_confusion(scores, targets)  # thr 0.5, >=
    assert (tp.tolist(), fp.tolist(), fn.tolist()) == ([1, 0], [1, 0],
                                                      [0, 1])
    assert tp.dtype == fp.dtype == fn.dtype == np.int64
    # topk may be the number of classes: every label predicted
    tp, fp, fn = multilabel_confusion(scores, targets, thr=None, topk=2)
    assert (tp.tolist(), fp.tolist(), fn.tolist()) == ([1, 1], [1, 0],
                                                      [0, 0])


def test_multilabel_topk_ties_take_the_lower_class_index():
    """All 40 scores equal: top-3 is classes 0, 1, 2 (stable order)."""
    from mmext.evaluation.functional.multilabel import multilabel_confusion
    scores = np.zeros((2, 40))
    targets = np.zeros((2, 40), int)
    targets[:, 39] = 1
    tp, fp, fn = multilabel_confusion(scores, targets, thr=None, topk=3)
    assert np.flatnonzero(fp).tolist() == [0, 1, 2]
    assert fp[:3].tolist() == [2, 2, 2] and tp.sum() == 0
    assert np.flatnonzero(fn).tolist() == [39]


def test_multilabel_metrics_keys_support_and_undefined_auc():
    from mmext.evaluation.functional.multilabel import multilabel_metrics
    scores = np.array([[0.9, 0.2], [0.8, 0.1], [0.3, 0.1]])
    targets = np.array([[1, 0], [1, 0], [1, 0]])  # class 0 all positive
    res = multilabel_metrics(scores, targets)
    assert 'micro-AUC' not in res  # only when asked for
    assert res['support'].tolist() == [3, 0]  # 2 found, 1 missed
    # no class has both positives and negatives: no AUC anywhere
    assert np.isnan(res['macro-AUC']) and res['AUC-undefined'] == 2
    assert res['mean-best-F1'] == float(np.mean(res['best-F1']))
    assert 'micro-AUC' in multilabel_metrics(scores, targets,
                                             with_micro_auc=True)


def _coco_eval_scene(s, gt_ignore=None):
    from mmext.evaluation.functional import coco_eval
    return coco_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                     s['det_imgs'], s['gt_boxes'], s['gt_labels'],
                     s['gt_imgs'], s['num_classes'],
                     gt_iscrowd=s['gt_crowd'], gt_ignore=gt_ignore,
                     gt_areas=s.get('gt_areas'), num_images=s['num_images'])


def test_coco_prefers_a_regular_gt_to_a_better_ignored_one():
    """A detection on a regular GT A (IoU 0.82) and exactly on an ignored
    GT B: below IoU 0.82 it matches A (a TP, as pycocotools, which tries
    the ignored GTs only when no regular one matches), above it B (ignored):
    AP 1 at the 7 thresholds 0.5..0.8, 0 at 0.85..0.95, mean 0.7."""
    from tests.helpers.coco_json import pycocotools_eval
    s = dict(gt_boxes=np.array([[0., 0, 10, 10], [1, 0, 11, 10]]),
             gt_labels=np.array([0, 0]), gt_imgs=np.array([0, 0]),
             gt_crowd=np.zeros(2, bool),
             det_boxes=np.array([[1., 0, 11, 10]]), det_scores=np.array([.9]),
             det_labels=np.array([0]), det_imgs=np.array([0]), num_images=1,
             num_classes=1)
    ours = np.asarray(_coco_eval_scene(s, np.array([False, True]))['stats'])
    assert ours[0] == pytest.approx(0.7, abs=1e-12)
    # pycocotools' own non-crowd ignore: an area outside every range
    oracle = pycocotools_eval(dict(s, gt_areas=np.array([100., 1e11])))
    np.testing.assert_array_equal(ours, oracle.stats)


def test_coco_matching_of_many_groups_equals_pycocotools():
    """200 images x 5 classes: more (image, class, threshold, area) slots
    than candidate pairs, the sparse GT-slot table of the matcher."""
    from tests.helpers.coco_json import pycocotools_eval
    from tests.helpers.det_scenes import random_scene
    s = random_scene(4242, num_images=200, num_classes=5, max_gts=6,
                     max_dets=12, integer=False, crowd_frac=0.15,
                     ignore_frac=0.0)
    ours = _coco_eval_scene(s)
    ev = pycocotools_eval(s)
    np.testing.assert_array_equal(np.asarray(ours['stats']), ev.stats)
    np.testing.assert_allclose(ours['precision'], ev.eval['precision'],
                               rtol=0, atol=1e-12)
