"""DetectionAP with mmdet's CocoMetric / VOCMetric options: the registered
metric against mmdet's metrics (3-decimal values there), pycocotools
(unrounded) and eval_map, on random scenes and the tiny VOC data."""
import json

import numpy as np
import pytest
from mmengine.config import Config

from mmext.evaluation.metrics.detection_ap import DetectionAP
from tests.helpers.det_scenes import random_scene
from tests.helpers.eval_options import (mmdet_eval_recalls,
                                        pycocotools_stats, run_metric,
                                        run_mmdet_metric, scene_samples,
                                        tiny_voc_samples)

CLASSES = ('a', 'b', 'c', 'd')
META = dict(classes=CLASSES)
STATS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')
MMDET_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


@pytest.fixture(scope='module')
def tiny():
    return tiny_voc_samples()


def _coco_parity(meta, samples, thrs, nums):
    """DetectionAP(metric='coco') with CocoMetric's options against
    pycocotools exactly and CocoMetric(metric='bbox') rounded."""
    from mmdet.evaluation import CocoMetric
    ours = run_metric(
        DetectionAP(metric='coco', coco_iou_thrs=thrs, max_dets=nums,
                    ignore_as='crowd'), meta, samples)
    ref = pycocotools_stats(samples, len(meta['classes']), thrs, nums)
    names = STATS + tuple(f'AR{n}' for n in nums) + ('ARs', 'ARm', 'ARl')
    np.testing.assert_array_equal([ours[f'coco/{n}'] for n in names], ref)
    mmdet = run_mmdet_metric(
        CocoMetric(metric='bbox', iou_thrs=np.asarray(thrs),
                   proposal_nums=nums), samples, meta['classes'])
    assert [round(ours[f'coco/{n}'], 3) for n in STATS] == [
        mmdet[f'coco/bbox_{n}'] for n in MMDET_STATS]


@pytest.mark.parametrize('seed', range(4))
def test_coco_iou_thrs_max_dets_parity(seed):
    s = random_scene(700 + seed, num_images=10, max_dets=30,
                     integer=seed % 2 == 0)
    thrs = (np.linspace(.5, .95, 10), np.array([.5, .75]),
            np.array([.3, .5, .75, .9]), np.array([.75]))[seed]
    nums = ((100, 300, 1000), (1, 5, 10), (2, 10, 100), (5, 20, 30))[seed]
    _coco_parity(META, scene_samples(s), thrs, nums)


@pytest.mark.slow
def test_coco_options_parity_tiny(tiny):
    meta, samples = tiny
    _coco_parity(meta, samples, np.array([.5, .6, .75]), (1, 3, 100))


def test_coco_area_ranges_parity():
    s = random_scene(710, num_images=10, max_dets=30)
    samples = scene_samples(s)
    rng = ((0, 1e10), (0, 50**2), (50**2, 150**2), (150**2, 1e10))
    ours = run_metric(
        DetectionAP(metric='coco', area_ranges=rng, ignore_as='crowd'),
        META, samples)
    ref = pycocotools_stats(samples, 4, np.linspace(.5, .95, 10),
                            (1, 10, 100), area_ranges=rng)
    np.testing.assert_array_equal(
        [v for k, v in ours.items() if k.startswith('coco/')], ref)


def test_coco_iou_thrs_list_is_not_minus_one():
    """mmdet quirk not reproduced: CocoMetric(iou_thrs=[...list...])
    reports mAP_50 / mAP_75 as -1; DetectionAP looks them up."""
    from mmdet.evaluation import CocoMetric
    samples = scene_samples(random_scene(720, num_images=8))
    mmdet = run_mmdet_metric(CocoMetric(metric='bbox', iou_thrs=[.5, .75]),
                             samples, CLASSES)
    assert mmdet['coco/bbox_mAP_50'] == -1.0
    ours = run_metric(
        DetectionAP(metric='coco', coco_iou_thrs=[.5, .75],
                    max_dets=(100, 300, 1000), ignore_as='crowd'), META,
        samples)
    ref = pycocotools_stats(samples, 4, [.5, .75], (100, 300, 1000))
    assert ours['coco/AP50'] == ref[1] > 0
    assert round(ours['coco/AP'], 3) == mmdet['coco/bbox_mAP']


@pytest.mark.parametrize('nums', [(100, 300, 1000), (1, 5, 20)])
def test_proposal_parity(nums):
    from mmdet.evaluation import CocoMetric
    s = random_scene(730, num_images=12, max_dets=30)
    samples = scene_samples(s)
    ours = run_metric(
        DetectionAP(metric='proposal', proposal_nums=nums,
                    ignore_as='crowd'), META, samples)
    mmdet = run_mmdet_metric(
        CocoMetric(metric='proposal', proposal_nums=nums), samples, CLASSES)
    # mmdet labels them AR@100, AR@300, AR@1000 whatever proposal_nums is
    assert [round(v, 3) for v in ours.values()] == list(mmdet.values())
    n1, n2, n3 = nums
    assert list(ours) == [
        f'coco/AR@{n1}', f'coco/AR@{n2}', f'coco/AR@{n3}',
        f'coco/AR_s@{n3}', f'coco/AR_m@{n3}', f'coco/AR_l@{n3}'
    ]
    ref = pycocotools_stats(samples, 4, np.linspace(.5, .95, 10), nums,
                            use_cats=False)
    np.testing.assert_array_equal(list(ours.values()), ref[6:])


@pytest.mark.slow
def test_proposal_and_recall_parity_tiny(tiny):
    from mmdet.evaluation import CocoMetric
    meta, samples = tiny
    nums = (1, 3, 10)
    ours = run_metric(
        DetectionAP(metric=('proposal', 'recall'), proposal_nums=nums,
                    iou_thrs=(0.5, 0.75), ignore_as='crowd'), meta, samples)
    mmdet = run_mmdet_metric(
        CocoMetric(metric='proposal', proposal_nums=nums), samples,
        meta['classes'])
    assert [round(ours[k], 3) for k in ours if k.startswith('coco/')] == \
        list(mmdet.values())
    ref = pycocotools_stats(samples, 20, np.linspace(.5, .95, 10), nums,
                            use_cats=False)
    np.testing.assert_array_equal(
        [ours[k] for k in ours if k.startswith('coco/')], ref[6:])
    # VOCMetric(metric='recall') fails on these ragged images under
    # NumPy >= 1.24: its eval_recalls with the object array instead
    gts = [s['gt_instances']['bboxes'].numpy() for s in samples]
    props = [np.hstack([s['pred_instances']['bboxes'].numpy(),
                        s['pred_instances']['scores'].numpy()[:, None]])
             for s in samples]
    rec = mmdet_eval_recalls(gts, props, nums, [0.5, 0.75], True)
    for i, n in enumerate(nums):
        assert ours[f'pascal_voc/recall@{n}@0.5'] == rec[i, 0]
        assert ours[f'pascal_voc/recall@{n}@0.75'] == rec[i, 1]
        assert ours[f'pascal_voc/AR@{n}'] == rec[i].mean()


@pytest.mark.slow
def test_scale_ranges_tiny(tiny):
    from mmdet.evaluation.functional import eval_map
    meta, samples = tiny
    ranges = [(0, 64), (64, 160), (160, 1e5)]
    ours = run_metric(
        DetectionAP(metric=('voc07', 'voc12'), iou_thrs=(0.5, 0.75),
                    scale_ranges=ranges), meta, samples)
    anns = [dict(bboxes=s['gt_instances']['bboxes'].numpy(),
                 labels=s['gt_instances']['labels'].numpy(),
                 bboxes_ignore=s['ignored_instances']['bboxes'].numpy(),
                 labels_ignore=s['ignored_instances']['labels'].numpy())
            for s in samples]
    dets = []
    for s in samples:
        p = {k: v.numpy() for k, v in s['pred_instances'].items()}
        dets.append([np.hstack([p['bboxes'][p['labels'] == k],
                                p['scores'][p['labels'] == k, None]])
                     for k in range(20)])
    for name, mode in (('voc07', '11points'), ('voc12', 'area')):
        per_thr = [eval_map(dets, anns, scale_ranges=ranges, iou_thr=t,
                            logger='silent', nproc=1, eval_mode=mode,
                            use_legacy_coordinate=True)[0]
                   for t in (0.5, 0.75)]
        for i, tag in enumerate(('0-64', '64-160', '160-100000')):
            assert ours[f'{name}/AP50_scale_{tag}'] == pytest.approx(
                per_thr[0][i], abs=1e-6)
            assert ours[f'{name}/AP75_scale_{tag}'] == pytest.approx(
                per_thr[1][i], abs=1e-6)
            assert ours[f'{name}/mAP_scale_{tag}'] == pytest.approx(
                (per_thr[0][i] + per_thr[1][i]) / 2, abs=1e-6)
        # the unrestricted keys are still there
        assert f'{name}/mAP' in ours


def test_recall_parity_with_voc_metric():
    """mmdet's VOCMetric(metric='recall') where it runs: RPN output (all
    labels 0) and images alike in numbers of GTs and proposals."""
    from mmdet.evaluation import VOCMetric
    rng = np.random.default_rng(5)
    s = random_scene(740, num_images=5)
    base = rng.uniform(0, 300, (10, 2))
    s.update(gt_boxes=np.hstack([base, base + rng.uniform(8, 80, (10, 2))]),
             gt_imgs=np.repeat(np.arange(5), 2),
             gt_labels=rng.integers(0, 4, 10),
             gt_ignore=np.zeros(10, bool), gt_crowd=np.zeros(10, bool))
    src = np.repeat(np.arange(10), 3)
    jit = s['gt_boxes'][src] + rng.normal(0, 5, (30, 4))
    s.update(det_boxes=np.hstack([jit[:, :2],
                                  np.maximum(jit[:, 2:], jit[:, :2] + 1)]),
             det_imgs=np.repeat(np.arange(5), 6),
             det_labels=np.zeros(30, np.int64),
             det_scores=(rng.permutation(30) + 1) / 31)
    samples = scene_samples(s)
    kwargs = dict(iou_thrs=[0.5, 0.7], proposal_nums=(1, 2, 6))
    mmdet = run_mmdet_metric(VOCMetric(metric='recall', **kwargs), samples,
                             CLASSES, 'VOC2007')
    ours = run_metric(DetectionAP(metric='recall', **kwargs), META, samples)
    assert ours == mmdet


def test_metric_items():
    samples = scene_samples(random_scene(750))
    full = run_metric(DetectionAP(metric=('coco', 'proposal')), META,
                      samples)
    some = run_metric(
        DetectionAP(metric=('coco', 'proposal'),
                    metric_items=['AP50', 'AR100', 'AR@300']), META, samples)
    assert some == {k: full[k] for k in ('coco/AP50', 'coco/AR100',
                                         'coco/AR@300')}
    with pytest.raises(KeyError, match="'mAP_50'.*'AP50' here"):
        DetectionAP(metric='coco', metric_items=['mAP_50'])


def test_format_only_writes_mmdet_file_without_gt(tmp_path):
    """Byte for byte CocoMetric(format_only=True)'s file; no GT needed."""
    from mmdet.evaluation import CocoMetric
    samples = scene_samples(random_scene(760, num_images=6))
    run_mmdet_metric(
        CocoMetric(format_only=True, outfile_prefix=str(tmp_path / 'mmdet')),
        samples, CLASSES)
    no_gt = [{k: v for k, v in s.items()
              if k in ('img_id', 'pred_instances')} for s in samples]
    metric = DetectionAP(format_only=True,
                         outfile_prefix=str(tmp_path / 'ours'))
    assert run_metric(metric, META, no_gt) == {}
    assert (tmp_path / 'ours.bbox.json').read_bytes() == (
        tmp_path / 'mmdet.bbox.json').read_bytes()
    # category ids from an annotation file's categories, by name
    ann = tmp_path / 'test-dev.json'
    ann.write_text(json.dumps(dict(categories=[
        dict(id=i * 10 + 1, name=n) for i, n in enumerate(CLASSES)])))
    run_metric(
        DetectionAP(format_only=True, outfile_prefix=str(tmp_path / 'td'),
                    ann_file=str(ann)), META, no_gt)
    entries = json.loads((tmp_path / 'td.bbox.json').read_text())
    labels = np.concatenate(
        [s['pred_instances']['labels'].numpy() for s in samples])
    assert [e['category_id'] for e in entries] == (labels * 10 + 1).tolist()
    assert not list(tmp_path.glob('*.part'))


def test_outfile_prefix_also_when_evaluating(tmp_path):
    samples = scene_samples(random_scene(761, num_images=4))
    out = run_metric(
        DetectionAP(metric='coco', outfile_prefix=str(tmp_path / 'r')),
        META, samples)
    assert 'coco/AP' in out and (tmp_path / 'r.bbox.json').exists()


@pytest.mark.parametrize('kwargs, err, msg', [
    (dict(use_mp_eval=True), TypeError, "'use_mp_eval'.*vectorized"),
    (dict(eval_mode='area'), TypeError, "'eval_mode'.*metric='voc12'"),
    (dict(ann_file='x.json'), TypeError, "'ann_file'.*eval_dets.py"),
    (dict(nonsense=1), TypeError, "'nonsense'.*not a DetectionAP option"),
    (dict(metric='bbox'), KeyError, "'bbox'.*metric='coco'.*max_dets"),
    (dict(metric='segm'), KeyError, "'segm'.*CocoMetric"),
    (dict(metric='mAP'), KeyError, "'mAP'.*'voc07'"),
    (dict(metric='coco', iou_thrs=[.5, .75]), ValueError, 'coco_iou_thrs'),
    (dict(metric='coco', scale_ranges=[(0, 32)]), ValueError,
     'scale_ranges is used by metric'),
    (dict(metric='voc07', proposal_nums=(1, 2, 3)), ValueError,
     'proposal_nums is used by metric'),
    (dict(metric='voc07', max_dets=(1, 2, 3)), ValueError, 'max_dets'),
    (dict(metric='proposal', proposal_nums=(1, 2)), ValueError,
     'proposal_nums'),
    (dict(format_only=True), ValueError, 'set outfile_prefix'),
    (dict(metric='voc07', scale_ranges=[(32, 0)]), ValueError, 'min < max'),
])
def test_refused_with_the_way(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        DetectionAP(**kwargs)


def test_refused_when_built_from_a_config():
    from mmdet.registry import METRICS
    cfg = Config(dict(evaluator=dict(type='mmext.DetectionAP',
                                     metric='coco', sort_categories=True)))
    with pytest.raises(TypeError, match="'sort_categories'"):
        METRICS.build(cfg.evaluator)
