"""DetectionAP wiring: real configs, the real tiny VOCDataset, mmdet's
VOCMetric / eval_map and pycocotools as oracles; a real tiny training run
for the per-class scalars and the PR curves under the work dir."""
import json
import logging

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from tests.helpers.coco_json import pycocotools_eval
from tests.helpers.detection_eval import mmdet_eval_map
from tests.helpers.distributed import run_distributed
from tests.helpers.logs import json_lines
from tests.helpers.mmdet_pool import eval_map_in_threads
from tests.helpers.voc_samples import predicted_samples, voc_test_dataset


@pytest.fixture(autouse=True)
def _eval_map_in_threads(monkeypatch):
    eval_map_in_threads(monkeypatch)  # no fork per eval_map call


COCO_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
             'AR100', 'ARs', 'ARm', 'ARl')


@pytest.fixture(scope='module')
def voc_samples():
    dataset = voc_test_dataset()
    return dataset.metainfo, predicted_samples(dataset)


def _evaluate(metric, meta, samples, batch=4):
    metric.dataset_meta = meta
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))


def test_built_from_config_via_mmdet_registry(voc_samples, tmp_path):
    from mmdet.registry import METRICS as MMDET_METRICS
    meta, samples = voc_samples
    cfg = Config(
        dict(
            val_evaluator=dict(
                type='mmext.DetectionAP',
                metric=('voc07', 'voc12', 'coco'),
                classwise=True,
                curve_dir=str(tmp_path / 'pr'))))
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = MMDET_METRICS.build(cfg.val_evaluator)
    res = _evaluate(metric, meta, samples)
    summary = {'voc07/mAP', 'voc12/mAP'} | {f'coco/{k}' for k in COCO_KEYS}
    assert summary <= set(res)
    for mode, family in (('11points', 'voc07'), ('area', 'voc12')):
        mean_ap, per_class = mmdet_eval_map(meta, samples, mode)
        assert res[f'{family}/mAP'] == pytest.approx(mean_ap, abs=1e-6)
        for name, r in zip(meta['classes'], per_class):
            key = f'{family}/AP_{name}'
            if r['num_gts'] == 0:  # mmdet says 0; undefined: no key
                assert key not in res
            else:
                assert res[key] == pytest.approx(float(r['ap']), abs=1e-6)
    with_gt = [r['num_gts'] > 0 for r in per_class]
    assert 0 < sum(with_gt) < len(with_gt)  # both kinds of class occur
    assert len(res) == len(summary) + sum(with_gt) * 5  # voc07, voc12, coco x3
    png = tmp_path / 'pr' / 'pr_curves_iou50.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    curves = json.loads((tmp_path / 'pr' / 'pr_curves_iou50.json').read_text())
    assert set(curves) == set(meta['classes'])
    assert curves['person']['ap']['voc07'] == res['voc07/AP_person']


def _crowd_scene(samples):
    """The samples as a flat scene for pycocotools, ignored GTs as crowd."""
    from mmext.evaluation.samples import concat_samples, sample_to_arrays
    a = concat_samples([sample_to_arrays(s) for s in samples], 20)
    return dict(
        gt_boxes=a.gt_boxes, gt_labels=a.gt_labels, gt_imgs=a.gt_imgs,
        gt_crowd=a.gt_ignore, det_boxes=a.det_boxes, det_scores=a.det_scores,
        det_labels=a.det_labels, det_imgs=a.det_imgs,
        num_images=a.num_images, num_classes=20)


def test_coco_per_class_keys_match_pycocotools(voc_samples):
    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    res = _evaluate(DetectionAP(metric='coco', classwise=True,
                                ignore_as='crowd'), meta, samples)
    ev = pycocotools_eval(_crowd_scene(samples))
    for name, ref in zip(COCO_KEYS, ev.stats):
        assert res[f'coco/{name}'] == pytest.approx(ref, abs=1e-12)
    prec = ev.eval['precision'][:, :, :, 0, -1]
    iou_thrs = list(ev.params.iouThrs)
    for k, name in enumerate(meta['classes']):
        for stat, t in (('AP', slice(None)), ('AP50', iou_thrs.index(0.5)),
                        ('AP75', iou_thrs.index(0.75))):
            p = prec[t, :, k]
            if (p > -1).any():
                assert res[f'coco/{stat}_{name}'] == pytest.approx(
                    np.mean(p[p > -1]), abs=1e-12)
            else:
                assert f'coco/{stat}_{name}' not in res


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


def test_bad_samples_and_options_are_refused(voc_samples):
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
    with pytest.raises(ValueError, match='at least one metric'):
        DetectionAP(metric=())
    with pytest.raises(ValueError, match="ignore_as must be 'auto'"):
        DetectionAP(ignore_as='difficul')
    with pytest.raises(ValueError, match="add 'voc07' or 'voc12'"):
        DetectionAP(metric='coco', curve_dir='pr')
    with pytest.raises(ValueError, match='not both'):
        DetectionAP(curve_dir='a', pr_curve_dir='b')


class _Lines(logging.Handler):
    """Collects the messages a logger emits."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_classwise_tables_drop_empty_classes(voc_samples):
    """Rows only for classes with GT or detections, '-' where undefined,
    one line naming the classes without GT."""
    from mmengine.logging import MMLogger

    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    # only person and car predicted: other classes without GT or dets
    kept = []
    for s in samples:
        s = dict(s)
        p = s['pred_instances']
        keep = torch.isin(p['labels'], torch.tensor([6, 14]))
        s['pred_instances'] = {k: v[keep] for k, v in p.items()}
        kept.append(s)
    logger = MMLogger.get_instance('classwise_tables_test')
    lines = _Lines()
    logger.addHandler(lines)
    _evaluate(DetectionAP(metric='voc07', classwise=True), meta, kept)
    text = '\n'.join(lines.messages)
    assert 'nan' not in text and 'inf' not in text
    with_gt = {
        c for c, r in zip(meta['classes'],
                          mmdet_eval_map(meta, kept, '11points')[1])
        if r['num_gts'] > 0
    }
    shown = with_gt | {'car', 'person'}
    for c in meta['classes']:
        assert (f'| {c} ' in text) == (c in shown), c
    assert (f'{20 - len(shown)} of 20 classes with neither GT nor '
            'detections not shown') in text
    assert f'{20 - len(with_gt)} classes without GT' in text


def _dist_eval(rank, world_size, meta, samples):
    from mmext.evaluation.metrics import DetectionAP
    metric = DetectionAP(metric=('voc07', 'voc12', 'coco'), classwise=True)
    metric.dataset_meta = meta
    # DefaultSampler's split: every world_size-th sample
    for s in samples[rank::world_size]:
        metric.process({}, [s])
    return metric.evaluate(len(samples))


@pytest.mark.slow
def test_two_process_evaluation_equals_one(voc_samples):
    from mmext.evaluation.metrics import DetectionAP
    meta, samples = voc_samples
    single = _evaluate(
        DetectionAP(metric=('voc07', 'voc12', 'coco'), classwise=True), meta,
        samples)
    results = run_distributed(_dist_eval, 2, meta, samples)
    assert results[0] == single and results[1] == single


@pytest.mark.slow  # the session's training
def test_tiny_training_logs_per_class_scalars(tiny_detector):
    """tools/train.py on the demo config (the session's run, validating
    after iterations 2 and 4): the per-class keys reach
    vis_data/scalars.json; the config's MetricWorkDirHook puts the relative
    curve_dir under the work dir."""
    work_dir = tiny_detector.work_dir
    scalars = [rec for path in work_dir.glob('*/vis_data/scalars.json')
               for rec in json_lines(str(path)) if 'voc07/mAP' in rec]
    assert len(scalars) == 2
    for rec in scalars:  # one key per class and IoU threshold (0.1, 0.5)
        per_class = {k for k in rec if k.startswith('voc07/AP50_')}
        assert per_class, sorted(rec)
        classes = {k[len('voc07/AP50_'):] for k in per_class}
        assert {f'voc07/AP10_{c}' for c in classes} <= set(rec)
        assert {f'coco/AP_{c}' for c in classes} <= set(rec)
        # the 8 validation images have GT of a few classes only
        assert len(classes) < 20
    assert (work_dir / 'pr_curves' / 'pr_curves_iou50.png').is_file()
    log = next(work_dir.glob('*/*.log')).read_text()
    assert f'{20 - len(classes)} classes without GT' in log


def test_coco_per_class_ap_looks_thresholds_up():
    """AP50 / AP75 per class come from the thresholds given, by value;
    a threshold that is not there gives no key, -1 cells are skipped."""
    from mmext.evaluation.detection import coco_per_class_ap
    # (T=2, R=2, K=2, A=1, M=1): class 1 has no valid precision
    prec = np.array([[[0.2, -1], [0.4, -1]], [[0.6, -1], [-1, -1]]],
                    dtype=np.float64)[..., None, None]
    out = coco_per_class_ap(prec, [0.75, 0.9], ['a', 'b'])
    assert set(out) == {'coco/AP', 'coco/AP75'}
    assert out['coco/AP']['a'] == pytest.approx((0.2 + 0.4 + 0.6) / 3)
    assert out['coco/AP75']['a'] == pytest.approx(0.3)
    assert np.isnan(out['coco/AP']['b'])
    assert set(coco_per_class_ap(prec, [0.5, 0.75], ['a', 'b'])) == {
        'coco/AP', 'coco/AP50', 'coco/AP75'}


def test_evaluation_entry_imports_numpy_only():
    """The one evaluation entry and the sample conversion import neither
    the frameworks nor the writers (probed in a fresh interpreter)."""
    from tests.helpers.process import run
    probe = ('import sys, mmext.evaluation.detection, '
             'mmext.evaluation.samples; print(sorted({m.split(".")[0] for m '
             'in sys.modules}))')
    loaded = run(['python', '-c', probe]).stdout
    for heavy in ('torch', 'mmengine', 'mmdet', 'terminaltables',
                  'matplotlib'):
        assert f"'{heavy}'" not in loaded, heavy
    assert "'numpy'" in loaded  # the probe sees what it imports
