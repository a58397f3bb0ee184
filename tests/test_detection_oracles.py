"""Oracles for the COCO-style semantics of ``DetectionAP`` that the
README promises, through the public metric only:

- ``ignore_as='crowd'`` on VOC data is mmdet's ``CocoMetric`` (which turns
  ``ignore_flag`` into ``iscrowd``): bit for bit against pycocotools fed the
  json ``CocoMetric`` builds, and equal to ``CocoMetric`` itself at its 3
  decimals, on the tiny VOC data and on random sets;
- on COCO data (a real mmdet ``CocoDataset`` over a json file with crowd
  regions) ``ignore_as='auto'`` is ``CocoMetric`` with that ``ann_file``;
- ``'difficult'`` (what ``'auto'`` picks on VOC data) is pycocotools' own
  path for non-crowd ignored GTs: a GT whose ``area`` lies outside the area
  range is matched once, with the normal IoU, and what it matches is
  ignored. The oracle gives each difficult GT an ``area`` outside every
  range (its box, which the IoU uses, unchanged);
- a hand-worked case where the two give different AP.

eval_dets on a real ``tools/test.py`` dump is in test_tools_e2e.py.
"""
import copy
import json

import numpy as np
import pytest

from mmext.evaluation.metrics import DetectionAP
from tests.helpers.coco_json import coco_dicts, pycocotools_eval
from tests.helpers.det_scenes import random_scene
from tests.helpers.eval_options import (pycocotools_stats, run_metric,
                                        run_mmdet_metric, scene_samples,
                                        tiny_voc_samples)

STATS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100',
         'ARs', 'ARm', 'ARl')
MMDET_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
COCO_THRS = np.linspace(.5, .95, int(np.round((.95 - .5) / .05)) + 1)
# an area no range holds (pycocotools' 'all' ends at 1e5 ** 2)
OUTSIDE_EVERY_RANGE = 1e11


def coco_stats(metrics: dict) -> list:
    return [metrics[f'coco/{name}'] for name in STATS]


def detection_ap(meta, samples, **kwargs) -> dict:
    return run_metric(DetectionAP(metric='coco', **kwargs), meta,
                      copy.deepcopy(samples))


@pytest.fixture(scope='module')
def tiny():
    """The tiny VOC2007 test set (difficult boxes included) with
    predictions for every GT and false positives."""
    return tiny_voc_samples()


# ignore_as='crowd' on VOC-style data: mmdet's CocoMetric


def assert_crowd_is_coco_metric(meta, samples):
    ours = detection_ap(meta, samples, ignore_as='crowd')
    # pycocotools on the json CocoMetric builds: ignore_flag -> iscrowd
    ref = pycocotools_stats(samples, len(meta['classes']), COCO_THRS,
                            (1, 10, 100))
    np.testing.assert_array_equal(coco_stats(ours), ref)
    from mmdet.evaluation import CocoMetric
    mmdet = run_mmdet_metric(CocoMetric(metric='bbox'),
                             copy.deepcopy(samples), meta['classes'])
    assert [round(ours[f'coco/{n}'], 3) for n in STATS[:6]] == [
        mmdet[f'coco/bbox_{n}'] for n in MMDET_STATS
    ]
    return ours


@pytest.mark.slow
def test_crowd_equals_coco_metric_on_tiny_voc(tiny):
    meta, samples = tiny
    assert any(len(s['ignored_instances']['bboxes']) for s in samples)
    assert_crowd_is_coco_metric(meta, samples)


@pytest.mark.parametrize('seed', range(4))
def test_crowd_equals_coco_metric_on_random_sets(seed):
    s = random_scene(900 + seed, num_images=12, num_classes=4, max_dets=40,
                     integer=seed % 2 == 0, crowd_frac=0.1, ignore_frac=0.2)
    assert (s['gt_ignore'] | s['gt_crowd']).any()
    assert_crowd_is_coco_metric(dict(classes=('a', 'b', 'c', 'd')),
                                scene_samples(s))


# 'difficult': pycocotools' non-crowd ignored GTs (area out of range)


def difficult_oracle(meta, samples) -> np.ndarray:
    """pycocotools' 12 stats on ``samples`` with each ignored GT a
    non-crowd GT of an area outside every range."""
    boxes, labels, imgs, ignored = [], [], [], []
    for i, sample in enumerate(samples):
        for part, flag in (('gt_instances', False),
                           ('ignored_instances', True)):
            b = sample[part]['bboxes']
            b = getattr(b, 'tensor', b)  # mmdet's HorizontalBoxes
            boxes.append(np.asarray(b, np.float64).reshape(-1, 4))
            labels.append(np.asarray(sample[part]['labels']))
            imgs.append(np.full(len(b), i))
            ignored.append(np.full(len(b), flag))
    s = dict(gt_boxes=np.concatenate(boxes), gt_labels=np.concatenate(labels),
             gt_imgs=np.concatenate(imgs), num_images=len(samples),
             num_classes=len(meta['classes']))
    ignored = np.concatenate(ignored)
    wh = s['gt_boxes'][:, 2:] - s['gt_boxes'][:, :2]
    s['gt_areas'] = np.where(ignored, OUTSIDE_EVERY_RANGE, wh[:, 0] * wh[:, 1])
    s['gt_crowd'] = np.zeros(len(ignored), bool)
    preds = [sample['pred_instances'] for sample in samples]
    s['det_boxes'] = np.concatenate(
        [np.asarray(p['bboxes'], np.float64).reshape(-1, 4) for p in preds])
    s['det_scores'] = np.concatenate(
        [np.asarray(p['scores'], np.float64) for p in preds])
    s['det_labels'] = np.concatenate([np.asarray(p['labels']) for p in preds])
    s['det_imgs'] = np.concatenate(
        [np.full(len(p['scores']), i) for i, p in enumerate(preds)])
    return pycocotools_eval(s).stats


@pytest.mark.parametrize('seed', range(4))
def test_difficult_equals_pycocotools_area_ignored_gts(seed):
    s = random_scene(950 + seed, num_images=12, num_classes=3, max_dets=40,
                     integer=seed % 2 == 0, crowd_frac=0.0, ignore_frac=0.3)
    assert s['gt_ignore'].sum() >= 3
    meta, samples = dict(classes=('a', 'b', 'c')), scene_samples(s)
    ours = detection_ap(meta, samples, ignore_as='difficult')
    np.testing.assert_array_equal(coco_stats(ours),
                                  difficult_oracle(meta, samples))


@pytest.mark.slow
def test_auto_on_voc_data_is_difficult(tiny):
    """The tiny VOC data: 'auto' picks 'difficult' (VOC dataset_type), and
    that is pycocotools' matched-once path, not CocoMetric's crowd one."""
    meta, samples = tiny
    assert meta['dataset_type'].startswith('VOC')
    auto = detection_ap(meta, samples)
    np.testing.assert_array_equal(coco_stats(auto),
                                  difficult_oracle(meta, samples))
    crowd = detection_ap(meta, samples, ignore_as='crowd')
    assert auto['coco/AP'] != crowd['coco/AP']  # the data tells them apart


# a hand-worked case


def one_image(ignored_box, dets, scores):
    """One image, one class: a GT [0, 0, 10, 10] and an ignored GT."""
    import torch
    f32 = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    return [dict(
        img_id=0, ori_shape=(100, 100),
        instances=[dict(bbox=[0, 0, 10, 10], bbox_label=0, ignore_flag=0),
                   dict(bbox=ignored_box, bbox_label=0, ignore_flag=1)],
        gt_instances=dict(bboxes=f32([[0, 0, 10, 10]]),
                          labels=torch.tensor([0])),
        ignored_instances=dict(bboxes=f32([ignored_box]),
                               labels=torch.tensor([0])),
        pred_instances=dict(bboxes=f32(dets), scores=f32(scores),
                            labels=torch.zeros(len(dets), dtype=torch.long)))]


def test_crowd_and_matched_once_differ_by_hand():
    """Two detections on the ignored box [20, 20, 60, 60] outrank the one on
    the GT. A crowd region absorbs both: precision 1 at recall 1, AP 1.
    Matched once, the second is a false positive: precision 1/2 where the
    GT is found, so every one of the 101 interpolated precisions is 1/2 at
    every IoU threshold: AP 0.5. Recall is 1 either way."""
    ignored = [20, 20, 60, 60]
    samples = one_image(ignored, [ignored, [21, 21, 60, 60], [0, 0, 10, 10]],
                        [0.9, 0.8, 0.7])
    meta = dict(classes=('a', ), dataset_type='VOC2007')
    crowd = detection_ap(meta, samples, ignore_as='crowd')
    difficult = detection_ap(meta, samples, ignore_as='difficult')
    auto = detection_ap(meta, samples)
    exactly = dict(abs=1e-12)  # sums of 101 floats
    for key in ('coco/AP', 'coco/AP50', 'coco/AP75'):
        assert crowd[key] == pytest.approx(1.0, **exactly)
        assert difficult[key] == pytest.approx(0.5, **exactly)
    assert auto == difficult  # VOC data
    assert crowd['coco/AR100'] == difficult['coco/AR100'] == 1.0
    # and pycocotools agrees with each reading
    np.testing.assert_array_equal(
        coco_stats(crowd),
        pycocotools_stats(samples, 1, COCO_THRS, (1, 10, 100)))
    np.testing.assert_array_equal(coco_stats(difficult),
                                  difficult_oracle(meta, samples))
    # VOC's own rule: a detection whose best GT is difficult is ignored
    # (matched or not), so VOC finds no false positive here
    voc = run_metric(DetectionAP(metric='voc07'), meta,
                     copy.deepcopy(samples))
    assert voc['voc07/mAP'] == pytest.approx(1.0)


# COCO data: a real CocoDataset with crowd regions


def coco_dataset_samples(s, folder):
    """The scene as a COCO json, loaded by mmdet's ``CocoDataset`` (GT
    pipeline only), with the scene's detections as predictions."""
    import torch
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    gt, _ = coco_dicts(s)
    for image in gt['images']:
        image.update(file_name=f'{image["id"]}.jpg', width=1000,
                     height=1000)
    ann_file = folder / 'instances.json'
    ann_file.write_text(json.dumps(gt))
    register_all_modules(init_default_scope=False)
    classes = tuple(c['name'] for c in gt['categories'])
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dict(
            type='CocoDataset', data_root=str(folder),
            ann_file='instances.json', data_prefix=dict(img=''),
            metainfo=dict(classes=classes), test_mode=True,
            pipeline=[dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='PackDetInputs', meta_keys=('img_id', ))]))
    assert len(dataset) == s['num_images']
    samples = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        img = sample.img_id - 1  # image ids are 1..N
        keep = s['det_imgs'] == img
        sample.set_metainfo(dict(ori_shape=(1000, 1000)))
        sample.pred_instances = type(sample.gt_instances)(
            bboxes=torch.tensor(s['det_boxes'][keep], dtype=torch.float32),
            scores=torch.tensor(s['det_scores'][keep], dtype=torch.float32),
            labels=torch.tensor(s['det_labels'][keep]))
        samples.append(sample.to_dict())
    return dataset.metainfo, samples, str(ann_file)


@pytest.mark.parametrize('seed', range(2))
def test_coco_data_equals_coco_metric_with_its_ann_file(seed, tmp_path):
    from mmdet.evaluation import CocoMetric
    s = random_scene(970 + seed, num_images=10, num_classes=3, max_dets=40,
                     integer=True, crowd_frac=0.25, ignore_frac=0.0)
    assert s['gt_crowd'].sum() >= 2
    meta, samples, ann_file = coco_dataset_samples(s, tmp_path)
    assert sum(len(x['ignored_instances']['bboxes']) for x in samples) == \
        s['gt_crowd'].sum()  # mmdet's CocoDataset: iscrowd -> ignored
    ours = detection_ap(meta, samples)  # 'auto': crowd on COCO data
    # the scores as the metric sees them (float32)
    s32 = dict(s, det_scores=s['det_scores'].astype(np.float32))
    np.testing.assert_array_equal(coco_stats(ours),
                                  pycocotools_eval(s32).stats)
    mmdet = run_mmdet_metric(CocoMetric(metric='bbox', ann_file=ann_file),
                             copy.deepcopy(samples), meta['classes'])
    assert [round(ours[f'coco/{n}'], 3) for n in STATS[:6]] == [
        mmdet[f'coco/bbox_{n}'] for n in MMDET_STATS
    ]
