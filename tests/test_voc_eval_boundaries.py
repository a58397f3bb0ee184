"""VOC evaluation at its boundaries, through the public functions: the
``[min**2, max**2)`` scale ranges against mmdet ``eval_map`` on boxes whose
areas sit exactly on the bounds, ``voc_match``'s defaults and its "no GT"
marker (worked by hand), and the scale-range errors word for word."""
import numpy as np
import pytest

from mmext.evaluation.functional import voc_eval, voc_match

# one image, one class; legacy pixels (a box [0, 31] is 32 wide)
GTS = np.array([
    [0, 0, 31, 31],  # A: area 32**2, on the bound between the ranges
    [100, 100, 163, 163],  # B: area 64**2, the upper bound of range 1
    [600, 600, 609, 609],  # E: area 10**2, inside range 0
], float)
DETS = np.array([
    [500, 500, 563, 563],  # D: unmatched, area 64**2
    [300, 300, 331, 331],  # C: unmatched, area 32**2
    [0, 0, 31, 31],  # on A
    [100, 100, 163, 163],  # on B
    [600, 600, 609, 609],  # on E
], float)
SCORES = np.array([.97, .95, .9, .8, .5])
RANGES = ((0, 32), (32, 64))


def test_scale_range_bounds_equal_mmdet_eval_map():
    """Range 0 = areas [0, 1024), range 1 = [1024, 4096).

    Range 0: A and B are outside (ignored), E counts; D and C are outside
    (not false positives); the detections on A and B hit ignored GTs; E's
    is a TP. AP 1.0 with 1 GT.
    Range 1: A counts (area == 32**2 is inside), B (== 64**2) and E are
    outside; D (== 64**2) is not an FP, C (== 32**2) is; then the TP on A:
    precision 1/2 at recall 1, AP 0.5 with 1 GT.
    """
    from mmdet.evaluation.functional import eval_map
    res = voc_eval(DETS, SCORES, [0] * 5, [0] * 5, GTS, [0] * 3, [0] * 3, 1,
                   modes=('area', ), scale_ranges=RANGES)['scales']
    np.testing.assert_array_equal(res['num_gts'], [[1], [1]])
    # counts, like the unrestricted num_gts
    assert res['num_gts'].dtype == np.int64
    assert res['ap']['area'][:, 0, 0].tolist() == [1.0, 0.5]
    dets = [[np.hstack([DETS, SCORES[:, None]]).astype(np.float32)]]
    anns = [dict(bboxes=GTS.astype(np.float32), labels=np.zeros(3, int),
                 bboxes_ignore=np.zeros((0, 4), np.float32),
                 labels_ignore=np.zeros(0, int))]
    mean_ap, per_class = eval_map(dets, anns, scale_ranges=RANGES,
                                  iou_thr=0.5, logger='silent', nproc=1,
                                  use_legacy_coordinate=True)
    np.testing.assert_array_equal(per_class[0]['num_gts'], [1, 1])
    np.testing.assert_allclose(res['mAP']['area'][:, 0], mean_ap, atol=1e-6)


def test_a_single_scale_range_is_accepted():
    res = voc_eval(DETS, SCORES, [0] * 5, [0] * 5, GTS, [0] * 3, [0] * 3, 1,
                   modes=('area', ), scale_ranges=[(32, 64)])['scales']
    assert res['ap']['area'][:, 0, 0].tolist() == [0.5]


@pytest.mark.parametrize('bad, msg', [
    ('abc', "scale_ranges must be (min, max) pairs of box sides, got 'abc'"),
    ([(1, 2, 3)], 'scale_ranges must be a non-empty list of (min, max) '
     'pairs of box sides, got [(1, 2, 3)]'),
    ([], 'scale_ranges must be a non-empty list of (min, max) pairs of box '
     'sides, got []'),
    ([(32, 32)], 'scale range (32.0, 32.0) must satisfy 0 <= min < max'),
    ([(0, 32), (64, 32)],
     'scale range (64.0, 32.0) must satisfy 0 <= min < max'),
])
def test_scale_range_errors_word_for_word(bad, msg):
    with pytest.raises(ValueError) as err:
        voc_eval(DETS, SCORES, [0] * 5, [0] * 5, GTS, [0] * 3, [0] * 3, 1,
                 scale_ranges=bad)
    assert str(err.value) == msg


NEGATIVE = ('box [5.0, 0.0, 1.0, 4.0] (xyxy) has x2 < x1 or y2 < y1 '
            '(negative width or height)')


@pytest.mark.parametrize('bad, msg', [
    (dict(det_boxes=[[0, 0, 4, 4], [5, 0, 1, 4]]),
     f"detection #1 (image 'b.jpg'): {NEGATIVE}"),
    (dict(gt_boxes=[[0, 0, 4, 4], [5, 0, 1, 4]]),
     f"ground truth #1 (image 'b.jpg'): {NEGATIVE}"),
    (dict(gt_imgs=[0, 2]),
     'ground truth #1: image index 2 out of range [0, 2)'),
    (dict(gt_ignore=[True]),
     'ground truth ignore flags has 1 entries but there are 2 boxes'),
])
def test_voc_eval_input_errors_word_for_word(bad, msg):
    """Which side (detection / ground truth), which entry, the image's
    name and the range of image indices, for each input."""
    kwargs = dict(det_boxes=[[0, 0, 4, 4], [1, 0, 5, 4]],
                  det_scores=[0.5, 0.4], det_labels=[0, 0], det_imgs=[0, 1],
                  gt_boxes=[[0, 0, 4, 4], [1, 0, 5, 4]], gt_labels=[0, 0],
                  gt_imgs=[0, 1], num_classes=1, num_images=2,
                  img_names=['a.jpg', 'b.jpg'])
    kwargs.update(bad)
    with pytest.raises(ValueError) as err:
        voc_eval(**kwargs)
    assert str(err.value) == msg


def test_voc_match_defaults_to_legacy_pixels_and_marks_no_gt():
    """det 0 on a GT half its height: with the devkit's +1 pixel the
    boxes are 10x10 and 10x5, IoU 50 / 100 = 0.5 (a hit at 0.5); without,
    9x9 and 9x4, IoU 36 / 81. det 1 is in an image without GT: best GT -1,
    IoU -inf, a false positive."""
    dets = np.array([[0, 0, 9, 9], [0, 0, 9, 9]], float)
    res = voc_match(dets, np.array([.9, .8]), np.array([0, 0]),
                    np.array([0, 1]), np.array([[0, 0, 9, 4]], float),
                    np.array([0]), np.array([0]), np.zeros(1, bool))
    assert res['order'].tolist() == [0, 1]
    assert res['best_gt'].tolist() == [0, -1]
    assert res['best_iou'].tolist() == [0.5, -np.inf]
    assert res['tp'].tolist() == [[True, False]]
    assert res['fp'].tolist() == [[False, True]]
    exact = voc_match(dets, np.array([.9, .8]), np.array([0, 0]),
                      np.array([0, 1]), np.array([[0, 0, 9, 4]], float),
                      np.array([0]), np.array([0]), np.zeros(1, bool),
                      legacy_coords=False)
    assert exact['best_iou'][0] == 36 / 81
    assert exact['tp'].tolist() == [[False, False]]


def test_one_detection_on_one_gt_and_the_curves_gt_counts():
    """A single (detection, GT) pair in the whole set is a TP: AP 1.0.
    The curves carry each class's counted GTs: 2 for class 0 (the
    difficult third GT is not counted), 0 for class 1."""
    one = voc_eval([[0, 0, 9, 9]], [.9], [0], [0], [[0, 0, 9, 9]], [0], [0],
                   1)
    assert one['ap']['area'][0, 0] == 1.0
    assert one['ap']['11points'][0, 0] == 1.0
    res = voc_eval([[0, 0, 9, 9]], [.9], [0], [0],
                   [[0, 0, 9, 9], [20, 20, 29, 29], [40, 40, 49, 49]],
                   [0, 0, 0], [0, 0, 0], 2, gt_ignore=[0, 0, 1])
    assert [c['num_gts'] for c in res['curves'][0]] == [2, 0]
    assert res['ap']['area'][0, 0] == 0.5
