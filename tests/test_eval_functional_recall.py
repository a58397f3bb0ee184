"""Proposal recall: parity with mmdet ``eval_recalls`` and hand-made cases."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmext.evaluation.functional.recall import (greedy_iou_matching,
                                                proposal_recall)
from tests.helpers.det_scenes import random_scene
from tests.helpers.eval_options import mmdet_eval_recalls, per_image_proposals


@pytest.mark.parametrize('seed', range(16))
def test_parity_with_mmdet_eval_recalls(seed):
    s = random_scene(300 + seed, num_images=6 + seed % 5, max_dets=60,
                     integer=seed % 2 == 0, crowd_frac=0.0)
    # integer boxes: thresholds exact in float32, as mmdet compares float32
    # IoUs; float boxes: any thresholds
    thrs = ((0.5, 0.625, 0.75, 0.875) if seed % 2 == 0 else np.arange(
        0.5, 0.96, 0.05))
    nums = (1, 5, 20, 50) if seed % 3 else (10, )
    legacy = seed % 4 != 1
    gts, props = per_image_proposals(s)
    ref = mmdet_eval_recalls(gts, props, nums, thrs, legacy)
    reg = ~s['gt_ignore']
    got = proposal_recall(s['det_boxes'], s['det_imgs'], s['gt_boxes'][reg],
                          s['gt_imgs'][reg], nums, thrs,
                          det_scores=s['det_scores'], legacy_coords=legacy,
                          num_images=s['num_images'])
    np.testing.assert_array_equal(got, ref)


def test_input_order_without_scores():
    """No scores (mmdet ``proposal_fast``): the given order ranks."""
    s = random_scene(7, num_images=5, max_dets=40, crowd_frac=0.0)
    gts, props = per_image_proposals(s, with_scores=False)
    ref = mmdet_eval_recalls(gts, props, (3, 10), (0.5, 0.75), False)
    reg = ~s['gt_ignore']
    got = proposal_recall(s['det_boxes'], s['det_imgs'], s['gt_boxes'][reg],
                          s['gt_imgs'][reg], (3, 10), (0.5, 0.75))
    np.testing.assert_array_equal(got, ref)


def test_hand_made_greedy():
    gt = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    # proposal 0 overlaps gt0 with IoU 1 and gt1 with 1/3; proposal 1 is
    # gt1 shifted (IoU 0.6 with gt1, 1/7 with gt0)
    props = np.array([[0, 0, 10, 10], [7.5, 0, 17.5, 10]], float)
    r = proposal_recall(props, [0, 0], gt, [0, 0], (1, 2), (0.5, 0.7),
                        det_scores=[0.9, 0.8])
    np.testing.assert_array_equal(r, [[0.5, 0.5], [1.0, 0.5]])
    # one proposal can recall one GT only
    r = proposal_recall(props[:1], [0], gt, [0, 0], (5, ), (0.3, ))
    np.testing.assert_array_equal(r, [[0.5]])
    # no GT: 0, no proposal: 0
    assert proposal_recall(props, [0, 0], np.zeros((0, 4)), [],
                           (1, ), (0.5, )).tolist() == [[0.0]]
    assert proposal_recall(np.zeros((0, 4)), [], gt, [0, 0], (1, ),
                           (0.5, )).tolist() == [[0.0]]


def _sequential_greedy(groups, gts, props, ious):
    order = np.lexsort((props, gts, -ious, groups))
    used_g, used_p, out = set(), set(), []
    for i in order:
        key_g, key_p = (groups[i], gts[i]), (groups[i], props[i])
        if key_g not in used_g and key_p not in used_p:
            used_g.add(key_g)
            used_p.add(key_p)
            out.append(i)
    return np.sort(np.array(out, dtype=np.int64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4),
                          st.integers(0, 5), st.sampled_from([.5, .6, .8,
                                                              1.0])),
                max_size=40, unique_by=lambda t: t[:3]))
def test_rounds_equal_sequential_greedy(pairs):
    """Ties included: the rounds take exactly the sequential greedy pairs."""
    arr = np.array(pairs, dtype=np.float64).reshape(-1, 4)
    groups, gts, props = (arr[:, i].astype(np.int64) for i in range(3))
    got = greedy_iou_matching(groups, gts, props, arr[:, 3])
    np.testing.assert_array_equal(
        got, _sequential_greedy(groups, gts, props, arr[:, 3]))


@pytest.mark.parametrize('kwargs, msg', [
    (dict(proposal_nums=()), 'proposal_nums'),
    (dict(proposal_nums=(0, 10)), 'proposal_nums'),
    (dict(proposal_nums=(1.5, )), 'proposal_nums'),
    (dict(iou_thrs=(1.5, )), 'outside'),
    (dict(det_scores=[0.1, 0.2]), 'has 2 entries'),
])
def test_bad_parameters(kwargs, msg):
    args = dict(det_boxes=[[0, 0, 4, 4]], det_imgs=[0],
                gt_boxes=[[0, 0, 4, 4]], gt_imgs=[0])
    with pytest.raises(ValueError, match=msg):
        proposal_recall(**args, **kwargs)
