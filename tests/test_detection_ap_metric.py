"""DetectionAP wiring: real configs, real VOCDataset, mmdet's VOCMetric."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from tests.dist_utils import run_distributed

CFG = 'configs/_base_/datasets/tiny_voc0712.py'


def _voc_test_dataset():
    """The demo's VOC2007 test set (60 images) with its GT pipeline only."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(CFG)
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    # no image decoding: only annotations are needed to evaluate
    ds_cfg.pipeline = [
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=('img_id', ))
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(ds_cfg)


def _predicted_samples(dataset, seed=0):
    """Data samples as the runner gives them to metrics (``to_dict()``):
    jittered GT plus false positives, distinct scores."""
    from mmengine.structures import InstanceData
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(len(dataset)):
        ds = dataset[i]['data_samples']
        gt = torch.cat([
            ds.gt_instances.bboxes.tensor, ds.ignored_instances.bboxes.tensor
        ])
        lab = torch.cat([ds.gt_instances.labels, ds.ignored_instances.labels])
        n = len(gt)
        boxes = gt.numpy().astype(np.float64) + rng.normal(0, 3, (n, 4))
        fp = rng.uniform(0, 150, (3, 2))
        boxes = np.concatenate([boxes, np.hstack([fp, fp + 30])])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.concatenate([lab.numpy(), rng.integers(0, 20, 3)])
        pred = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            scores=torch.tensor(rng.random(len(boxes)), dtype=torch.float32),
            labels=torch.tensor(labels))
        ds.pred_instances = pred
        samples.append(ds.to_dict())
    return samples


@pytest.fixture(scope='module')
def voc_samples():
    dataset = _voc_test_dataset()
    return dataset.metainfo, _predicted_samples(dataset)


def _evaluate(metric, meta, samples, batch=4):
    metric.dataset_meta = meta
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))


def test_built_from_config_via_mmdet_registry(voc_samples, tmp_path):
    from mmdet.evaluation import VOCMetric
    from mmdet.registry import METRICS as MMDET_METRICS
    meta, samples = voc_samples
    cfg = Config(
        dict(
            val_evaluator=dict(
                type='mmext.DetectionAP',
                metric=('voc07', 'voc12', 'coco'),
                classwise=True,
                pr_curve_dir=str(tmp_path / 'pr'))))
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = MMDET_METRICS.build(cfg.val_evaluator)
    res = _evaluate(metric, meta, samples)
    keys = {'voc07/mAP', 'voc12/mAP'} | {
        f'coco/{k}'
        for k in ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
                  'AR100', 'ARs', 'ARm', 'ARl')
    }
    assert set(res) == keys
    assert all(-1 <= v <= 1 for v in res.values())
    for mode, key in (('11points', 'voc07/mAP'), ('area', 'voc12/mAP')):
        ref = VOCMetric(iou_thrs=[0.5], eval_mode=mode)
        ref.dataset_meta = meta
        ref.process({}, copy.deepcopy(samples))
        ref_res = ref.compute_metrics(ref.results)
        assert res[key] == pytest.approx(ref_res['mAP'], abs=1e-6)
    assert (tmp_path / 'pr' / 'pr_curves_iou50.json').is_file()
    assert (tmp_path / 'pr' / 'pr_curves_iou50.png').stat().st_size > 0


def test_short_name_in_mmext_scope_and_several_thrs(voc_samples):
    from mmengine.registry import METRICS
    meta, samples = voc_samples
    with DefaultScope.overwrite_default_scope('mmext'):
        metric = METRICS.build(
            dict(type='DetectionAP', metric='voc07', iou_thrs=(0.5, 0.75)))
    res = _evaluate(metric, meta, samples)
    assert set(res) == {'voc07/AP50', 'voc07/AP75', 'voc07/mAP'}
    assert res['voc07/mAP'] == pytest.approx(
        (res['voc07/AP50'] + res['voc07/AP75']) / 2)


def test_gt_as_predictions_is_perfect(voc_samples):
    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    perfect = []
    for s in samples:
        s = dict(s)
        gt = s['gt_instances']
        s['pred_instances'] = dict(
            bboxes=gt['bboxes'], labels=gt['labels'],
            scores=torch.linspace(1, 0.5, len(gt['labels'])))
        perfect.append(s)
    res = _evaluate(DetectionAP(metric=('voc12', 'coco')), meta, perfect)
    assert res['voc12/mAP'] == pytest.approx(1.0)
    assert res['coco/AP'] == pytest.approx(1.0)


def test_bad_samples_name_the_image(voc_samples):
    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    bad = [dict(s) for s in samples[:3]]
    p = dict(bad[1]['pred_instances'])
    p['scores'] = p['scores'].clone()
    p['scores'][0] = float('nan')
    bad[1]['pred_instances'] = p
    with pytest.raises(ValueError, match=repr(bad[1]['img_id'])):
        _evaluate(DetectionAP(metric='voc07'), meta, bad)
    with pytest.raises(ValueError, match='duplicate image id'):
        _evaluate(DetectionAP(metric='voc07'), meta,
                  [samples[0], samples[1], samples[0]])
    with pytest.raises(KeyError, match='metric must be among'):
        DetectionAP(metric='voc2007')


def _dist_eval(rank, world_size, meta, samples):
    from mmext.evaluation.metrics import DetectionAP
    metric = DetectionAP(metric=('voc07', 'voc12', 'coco'))
    metric.dataset_meta = meta
    # DefaultSampler's split: every world_size-th sample
    for s in samples[rank::world_size]:
        metric.process({}, [s])
    return metric.evaluate(len(samples))


def test_two_process_evaluation_equals_one(voc_samples):
    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    single = _evaluate(DetectionAP(metric=('voc07', 'voc12', 'coco')), meta,
                       samples)
    results = run_distributed(_dist_eval, 2, meta, samples)
    assert results[0] == single and results[1] == single


def test_relative_pr_curve_dir_goes_to_work_dir(voc_samples, tmp_path):
    from mmengine.logging import MMLogger

    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    # what the Runner sets up: work_dir/<timestamp>/<timestamp>.log
    (tmp_path / '20260101').mkdir()
    MMLogger.get_instance(
        'pr_dir_test', log_file=str(tmp_path / '20260101' / '20260101.log'))
    res = _evaluate(DetectionAP(metric='voc12', pr_curve_dir='pr'), meta,
                    samples)
    assert 'voc12/mAP' in res
    data = (tmp_path / 'pr' / 'pr_curves_iou50.json').read_text()
    assert '"best_f1"' in data
