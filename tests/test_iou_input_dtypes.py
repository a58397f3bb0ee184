"""Box IoU on float32 (and integer) input equals the references computed in
double: the VOC devkit's formula for ``box_iou`` / ``paired_box_iou`` and
pycocotools' ``maskUtils.iou`` for ``paired_crowd_iou_xywh``, bit for bit
(the docstrings promise float64 work whatever the input dtype)."""
import numpy as np
from pycocotools import mask as mask_utils

from mmext.evaluation.functional import (box_iou, paired_box_iou,
                                         paired_crowd_iou_xywh)


def devkit_iou(bb, gts, extra):
    """``voc_eval.py``'s overlap of one box with many (``+ 1.`` there),
    in float64."""
    ixmin = np.maximum(gts[:, 0], bb[0])
    iymin = np.maximum(gts[:, 1], bb[1])
    ixmax = np.minimum(gts[:, 2], bb[2])
    iymax = np.minimum(gts[:, 3], bb[3])
    iw = np.maximum(ixmax - ixmin + extra, 0.)
    ih = np.maximum(iymax - iymin + extra, 0.)
    inters = iw * ih
    uni = ((bb[2] - bb[0] + extra) * (bb[3] - bb[1] + extra) +
           (gts[:, 2] - gts[:, 0] + extra) *
           (gts[:, 3] - gts[:, 1] + extra) - inters)
    return inters / uni


def float32_boxes(rng, n):
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(0.3, 40, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def test_box_iou_of_float32_boxes_is_the_devkit_in_double():
    rng = np.random.default_rng(0)
    a, b = float32_boxes(rng, 30), float32_boxes(rng, 40)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for legacy, extra in ((False, 0.), (True, 1.)):
        ref = np.stack([devkit_iou(box, b64, extra) for box in a64])
        # float32 on either side, or both
        for x, y in ((a, b), (a, b64), (a64, b)):
            got = box_iou(x, y, legacy_coords=legacy)
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, ref)
        paired = paired_box_iou(a[:, None], b[None], legacy)
        np.testing.assert_array_equal(paired, ref)
        np.testing.assert_array_equal(
            paired_box_iou(a64[:, None], b[None], legacy), ref)


def test_paired_box_iou_defaults_to_exact_coordinates():
    # areas 100 and 50 overlapping 50: IoU 0.5 (with +1 pixel: 66/121)
    assert paired_box_iou([0, 0, 10, 10], [0, 0, 5, 10]) == 0.5
    assert paired_box_iou([0, 0, 10, 10], [0, 0, 5, 10],
                          True) == 66 / (121 + 66 - 66)


def test_crowd_iou_of_float32_boxes_is_pycocotools():
    rng = np.random.default_rng(1)
    d, g = float32_boxes(rng, 60), float32_boxes(rng, 60)
    d[:, 2:] -= d[:, :2]  # x, y, w, h
    g[:, 2:] -= g[:, :2]
    crowd = rng.random(60) < 0.5
    ref = np.diag(mask_utils.iou(d.astype(np.float64).tolist(),
                                 g.astype(np.float64).tolist(),
                                 crowd.astype(np.uint8).tolist()))
    assert (ref > 0).sum() > 5  # overlapping pairs are tested
    for x, y in ((d, g), (d, g.astype(np.float64)),
                 (d.astype(np.float64), g)):
        got = paired_crowd_iou_xywh(x, y, crowd)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, ref)
