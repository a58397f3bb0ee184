"""mmdet CocoMetric / VOCMetric options at the function level: parity with
mmdet's metrics (values rounded to 3 decimals there) and with pycocotools
(unrounded), on random scenes."""
import numpy as np
import pytest

from mmext.evaluation.functional import COCO_IOU_THRS
from mmext.evaluation.mmdet_options import (proposal_metrics,
                                            proposal_stat_names,
                                            recall_metrics, reject_unsupported,
                                            scale_range_metrics, select_items)
from tests.helpers.det_scenes import random_scene
from tests.helpers.eval_options import (mmdet_eval_recalls,
                                        per_image_proposals,
                                        pycocotools_stats, run_mmdet_metric,
                                        scene_arrays, scene_samples)

CLASSES = ('a', 'b', 'c', 'd')


@pytest.mark.parametrize('seed', range(8))
def test_proposal_parity(seed):
    """class-agnostic AR: pycocotools useCats=0 exactly, and mmdet's
    CocoMetric(metric='proposal') after its 3-decimal rounding."""
    from mmdet.evaluation import CocoMetric
    s = random_scene(400 + seed, num_images=10, max_dets=30,
                     integer=seed % 2 == 0)
    nums = ((1, 5, 20), (100, 300, 1000), (3, 10, 30, 50))[seed % 3]
    thrs = COCO_IOU_THRS if seed % 4 else np.array([0.5, 0.6, 0.85])
    samples = scene_samples(s)
    got = proposal_metrics(scene_arrays(s), nums, thrs)
    assert list(got) == [f'coco/{n}' for n in proposal_stat_names(nums)]
    ref = pycocotools_stats(samples, 4, thrs, nums, use_cats=False)
    np.testing.assert_array_equal(list(got.values()), ref[6:12])
    mmdet = run_mmdet_metric(
        CocoMetric(metric='proposal', proposal_nums=nums, iou_thrs=thrs),
        samples, CLASSES)
    # mmdet labels them AR@100/300/1000 whatever proposal_nums says
    assert [round(v, 3) for v in got.values()] == list(mmdet.values())


def test_proposal_needs_three_nums():
    s = random_scene(1)
    with pytest.raises(ValueError, match='3 proposal_nums'):
        proposal_metrics(scene_arrays(s), (100, 300))


@pytest.mark.parametrize('seed', range(6))
def test_recall_parity(seed):
    """eval_recalls over all GTs that are neither ignored nor crowd."""
    s = random_scene(500 + seed, num_images=8, max_dets=40,
                     integer=seed % 2 == 0, crowd_frac=0.0)
    thrs = (0.5, 0.625, 0.75) if seed % 2 == 0 else (0.55, 0.7)
    nums = (1, 10, 30)
    legacy = seed % 3 != 0
    got = recall_metrics(scene_arrays(s), nums, thrs, legacy)
    gts, props = per_image_proposals(s)
    ref = mmdet_eval_recalls(gts, props, nums, thrs, legacy)
    expected = {f'pascal_voc/recall@{n}@{t}': ref[i, j]
                for i, n in enumerate(nums) for j, t in enumerate(thrs)}
    expected.update({f'pascal_voc/AR@{n}': ref[i].mean()
                     for i, n in enumerate(nums)})
    assert got == expected


def test_recall_equals_mmdet_voc_metric_on_rpn_output():
    """mmdet's VOCMetric(metric='recall') itself, where it runs: labels all
    0 (RPN output; it reads only label 0) and, NumPy >= 1.24, images alike
    in numbers of GTs and proposals."""
    from mmdet.evaluation import VOCMetric
    rng = np.random.default_rng(3)
    s = random_scene(9, num_images=6)
    # every image: 2 GTs and 5 proposals (jittered GTs and their copies)
    base = rng.uniform(0, 300, (12, 2))
    s['gt_boxes'] = np.concatenate([base, base + rng.uniform(8, 80, (12, 2))],
                                   1)
    s['gt_imgs'] = np.repeat(np.arange(6), 2)
    s['gt_labels'] = rng.integers(0, 4, 12)
    s['gt_ignore'] = s['gt_crowd'] = np.zeros(12, bool)
    src = np.concatenate([np.repeat(np.arange(0, 12, 2), 3),
                          np.repeat(np.arange(1, 12, 2), 2)])
    src = np.sort(src)
    jit = s['gt_boxes'][src] + rng.normal(0, 5, (30, 4))
    s['det_boxes'] = np.concatenate(
        [jit[:, :2], np.maximum(jit[:, 2:], jit[:, :2] + 1)], 1)
    s['det_imgs'] = np.repeat(np.arange(6), 5)
    s['det_scores'] = (rng.permutation(30) + 1) / 31
    s['det_labels'] = np.zeros(len(s['det_imgs']), np.int64)
    thrs = [0.5, 0.75]
    mmdet = run_mmdet_metric(
        VOCMetric(metric='recall', iou_thrs=thrs, proposal_nums=(1, 3, 5)),
        scene_samples(s), CLASSES, 'VOC2007')
    got = recall_metrics(scene_arrays(s), (1, 3, 5), thrs, True)
    assert got == mmdet


@pytest.mark.parametrize('seed', range(4))
def test_scale_range_keys_equal_eval_map(seed):
    from mmdet.evaluation.functional import eval_map
    s = random_scene(600 + seed, num_images=8, crowd_frac=0.0)
    ranges = ((0, 32), (32, 96), (96, 1e5))
    thrs = (0.5, 0.75) if seed % 2 else (0.5, )
    got = scale_range_metrics(scene_arrays(s), {'voc07': '11points',
                                                'voc12': 'area'}, ranges,
                              thrs)
    samples = scene_samples(s)
    dets = [[np.hstack([smp['pred_instances']['bboxes'].numpy()[m],
                        smp['pred_instances']['scores'].numpy()[m, None]])
             for m in (smp['pred_instances']['labels'].numpy()[:, None] ==
                       np.arange(4)).T] for smp in samples]
    anns = [dict(bboxes=smp['gt_instances']['bboxes'].numpy(),
                 labels=smp['gt_instances']['labels'].numpy(),
                 bboxes_ignore=smp['ignored_instances']['bboxes'].numpy(),
                 labels_ignore=smp['ignored_instances']['labels'].numpy())
            for smp in samples]
    for name, mode in (('voc07', '11points'), ('voc12', 'area')):
        per_thr = np.array([
            eval_map(dets, anns, scale_ranges=ranges, iou_thr=t,
                     logger='silent', nproc=1, use_legacy_coordinate=True,
                     eval_mode=mode)[0] for t in thrs
        ])  # (T, S)
        for s_i, tag in enumerate(('0-32', '32-96', '96-100000')):
            assert got[f'{name}/mAP_scale_{tag}'] == pytest.approx(
                per_thr[:, s_i].mean(), abs=1e-6)
            if len(thrs) > 1:
                assert got[f'{name}/AP75_scale_{tag}'] == pytest.approx(
                    per_thr[1, s_i], abs=1e-6)


def test_select_items():
    metrics = {'coco/AP': .5, 'coco/AP50': .7, 'coco/AP_a': .1, 'x': 1}
    assert select_items(metrics, ['AP50'], ['AP', 'AP50']) == {
        'coco/AP50': .7, 'coco/AP_a': .1, 'x': 1}
    assert select_items(metrics, None, ['AP', 'AP50']) == metrics
    with pytest.raises(KeyError, match="'mAP_50'.*'AP50' here"):
        select_items(metrics, ['mAP_50'], ['AP', 'AP50'])


@pytest.mark.parametrize('name, hint', [
    ('use_mp_eval', 'vectorized'), ('eval_mode', "metric='voc07'"),
    ('ann_file', 'eval_dets.py --gt-json'), ('backend_args', 'local path'),
    ('sort_categories', 'classes'), ('foo', 'not a DetectionAP option')])
def test_unsupported_options_named_with_the_way(name, hint):
    with pytest.raises(TypeError, match=f"'{name}'.*{hint}"):
        reject_unsupported({name: 1})
