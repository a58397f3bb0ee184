"""tools/analysis/eval_dets.py: both input routes, against references."""
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.helpers.coco_json import pycocotools_eval, write_coco_jsons
from tests.helpers.det_scenes import random_scene
from tests.helpers.detection_eval import mmdet_eval_map
from tests.helpers.mmdet_pool import eval_map_in_threads
from tests.helpers.paths import TINY_VOC_DATASET_CONFIG as CFG
from tests.helpers.voc_samples import predicted_samples, voc_test_dataset
from tools.analysis import eval_dets


@pytest.fixture(autouse=True)
def _eval_map_in_threads(monkeypatch):
    eval_map_in_threads(monkeypatch)  # no fork per eval_map call


COCO_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
             'AR100', 'ARs', 'ARm', 'ARl')


def _write_jsons(s, tmp_path, difficult=None):
    return write_coco_jsons(s, tmp_path, difficult=difficult)


def test_json_route_matches_pycocotools(tmp_path):
    s = random_scene(5, num_images=9, num_classes=3, integer=False,
                     crowd_frac=0.2, ignore_frac=0.0)
    gt, res = _write_jsons(s, tmp_path)
    out = tmp_path / 'metrics.json'
    eval_dets.main(['--gt-json', gt, '--res-json', res, '--metric', 'coco',
                    'voc07', '--out', str(out)])
    metrics = json.loads(out.read_text())
    ev = pycocotools_eval(s, 'xyxy')
    for name, ref in zip(COCO_KEYS, ev.stats):
        assert metrics[f'coco/{name}'] == pytest.approx(ref, abs=1e-9)
    assert {'voc07/mAP', 'voc07/AP_c0', 'coco/AP_c2'} <= set(metrics)
    prec = ev.eval['precision'][:, :, :, 0, -1]
    for k in range(s['num_classes']):
        p = prec[:, :, k]
        assert metrics[f'coco/AP_c{k}'] == pytest.approx(
            np.mean(p[p > -1]), abs=1e-12)


def test_json_difficult_is_ignored(tmp_path):
    from mmext.evaluation.functional import voc_eval
    s = random_scene(11, num_images=6, crowd_frac=0.0, ignore_frac=0.0)
    difficult = np.random.default_rng(0).random(len(s['gt_labels'])) < 0.3
    gt, res = _write_jsons(s, tmp_path, difficult)
    metrics = eval_dets.main([
        '--gt-json', gt, '--res-json', res, '--metric', 'voc12',
        '--iou-thrs', '0.5', '0.7', '--no-legacy-coords'
    ])
    ref = voc_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                   s['det_imgs'], s['gt_boxes'], s['gt_labels'],
                   s['gt_imgs'], s['num_classes'], gt_ignore=difficult,
                   iou_thrs=(0.5, 0.7), legacy_coords=False,
                   modes=('area', ))
    assert metrics['voc12/AP50'] == pytest.approx(ref['mAP']['area'][0])
    assert metrics['voc12/AP70'] == pytest.approx(ref['mAP']['area'][1])
    assert metrics['voc12/mAP'] == pytest.approx(ref['mAP']['area'].mean())


def test_json_bad_ids(tmp_path):
    s = random_scene(2, num_images=3)
    gt, res = _write_jsons(s, tmp_path)
    dets = json.loads(open(res).read())
    dets[0]['image_id'] = 999
    (tmp_path / 'res.json').write_text(json.dumps(dets))
    with pytest.raises(ValueError, match='unknown image_id 999'):
        eval_dets.main(['--gt-json', gt, '--res-json', res])


def test_pickle_route_matches_metric(tmp_path):
    """test.py's dump of the tiny VOC test set, evaluated offline, equals
    mmdet's eval_map (VOC07, per class too) and the registered metric on the
    same predictions (all keys, the per-class ones included)."""
    from mmext.evaluation.metrics import DetectionAP
    dataset = voc_test_dataset()
    samples = predicted_samples(dataset, seed=3)
    # mmdet's DumpDetResults keeps predictions only
    dump = [dict(img_id=s['img_id'], pred_instances=s['pred_instances'])
            for s in samples]
    pkl = tmp_path / 'results.pkl'
    pkl.write_bytes(pickle.dumps(dump))
    metrics = eval_dets.main(['--pkl', str(pkl), '--config', CFG,
                              '--metric', 'voc07', 'coco'])
    mean_ap, per_class = mmdet_eval_map(dataset.metainfo, samples)
    assert metrics['voc07/mAP'] == pytest.approx(mean_ap, abs=1e-6)
    for name, r in zip(dataset.metainfo['classes'], per_class):
        if r['num_gts']:
            assert metrics[f'voc07/AP_{name}'] == pytest.approx(
                float(r['ap']), abs=1e-6)
        else:
            assert f'voc07/AP_{name}' not in metrics
    metric = DetectionAP(metric=('voc07', 'coco'), classwise=True)
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    ref = metric.evaluate(len(samples))
    assert metrics.keys() == ref.keys()
    for k, v in ref.items():
        assert metrics[k] == v, k
    dump.append(dict(dump[0]))
    pkl.write_bytes(pickle.dumps(dump))
    with pytest.raises(ValueError, match='two predictions for image'):
        eval_dets.main(['--pkl', str(pkl), '--config', CFG])


# ----------------------------------------------------------------------------
# bad input: partial dumps, thresholds, malformed json; the json result format


@pytest.fixture(scope='module')
def voc_dump():
    """The tiny VOC test set and data samples with predictions for it."""
    dataset = voc_test_dataset()
    return dataset, predicted_samples(dataset, seed=5)


def _write_pickle(path, samples):
    # mmdet's DumpDetResults keeps predictions only
    path.write_bytes(pickle.dumps(
        [dict(img_id=s['img_id'], pred_instances=s['pred_instances'])
         for s in samples]))
    return str(path)


def _metric_ref(dataset, samples, **kwargs):
    from mmext.evaluation.metrics import DetectionAP
    metric = DetectionAP(**kwargs)
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_pickle_with_missing_images_is_refused(voc_dump, tmp_path):
    dataset, samples = voc_dump
    half = _write_pickle(tmp_path / 'half.pkl', samples[:30])
    with pytest.raises(ValueError) as err:
        eval_dets.main(['--pkl', half, '--config', CFG])
    assert str(err.value).startswith(
        f'{half} has predictions for 30 of the 60 test images; 30 have none')
    assert '--allow-missing' in str(err.value)
    # allowed: the missing images count as images without detections
    empty = dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                 labels=torch.zeros(0, dtype=torch.long))
    ref = _metric_ref(dataset, samples[:30] + [
        dict(s, pred_instances=empty) for s in samples[30:]
    ], metric='voc07')
    with pytest.warns(UserWarning, match='30 of the 60 test images'):
        metrics = eval_dets.main(
            ['--pkl', half, '--config', CFG, '--allow-missing'])
    assert metrics['voc07/mAP'] == pytest.approx(ref['voc07/mAP'], abs=1e-12)
    full = _metric_ref(dataset, samples, metric='voc07')['voc07/mAP']
    assert metrics['voc07/mAP'] < full


def test_results_json_with_config_equals_pickle(voc_dump, tmp_path):
    """DumpCocoResults (test.py --out x.json) read back with --config gives
    the pickle route's numbers; ids follow mmdet (VOC: img_id, label)."""
    from mmext.evaluation.results_json import DumpCocoResults, category_ids
    dataset, samples = voc_dump
    res = tmp_path / 'results.json'
    dump = DumpCocoResults(str(res), category_ids(dataset))
    dump.process({}, samples)
    assert dump.evaluate(len(samples)) == {}
    entries = json.loads(res.read_text())
    assert len(entries) == sum(len(s['pred_instances']['labels'])
                               for s in samples)
    assert entries[0]['image_id'] == samples[0]['img_id']
    assert {e['category_id'] for e in entries} <= set(range(20))
    pkl = _write_pickle(tmp_path / 'results.pkl', samples)
    args = ['--config', CFG, '--metric', 'voc07', 'voc12', 'coco']
    from_json = eval_dets.main(['--res-json', str(res)] + args)
    from_pkl = eval_dets.main(['--pkl', pkl] + args)
    assert from_json.keys() == from_pkl.keys()
    for k, v in from_pkl.items():
        assert from_json[k] == pytest.approx(v, abs=1e-12), k
    # a json cannot mark an image as seen: missing images only warn
    res.write_text(json.dumps(
        [e for e in entries if e['image_id'] != samples[0]['img_id']]))
    with pytest.warns(UserWarning, match='59 of the 60 test images'):
        eval_dets.main(['--res-json', str(res)] + args)


def test_results_json_matches_mmdet_coco_metric(tmp_path):
    """Entries and category ids as mmdet's CocoMetric.results2json writes
    them, on a CocoDataset whose category ids are not 0..K-1."""
    from mmdet.datasets import CocoDataset
    from mmdet.evaluation import CocoMetric
    from mmext.evaluation.results_json import category_ids, to_coco_results
    ann = dict(
        images=[dict(id=4, file_name='a.jpg', width=50, height=40)],
        categories=[dict(id=7, name='b'), dict(id=3, name='a')],
        annotations=[dict(id=1, image_id=4, category_id=3, area=20,
                          bbox=[1, 2, 4, 5], iscrowd=0)])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    dataset = CocoDataset(ann_file=str(tmp_path / 'ann.json'),
                          data_prefix=dict(img=''), pipeline=[],
                          metainfo=dict(classes=('a', 'b')))
    # mmdet's cat_ids keep the file's category order, not the classes'
    assert category_ids(dataset) == dataset.cat_ids == [7, 3]
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 30, (5, 2)).astype(np.float32)
    preds = [dict(img_id=4, bboxes=np.hstack([xy, xy + 9.3]),
                  scores=rng.random(5).astype(np.float32),
                  labels=np.array([0, 1, 1, 0, 1]))]
    metric = CocoMetric(ann_file=str(tmp_path / 'ann.json'))
    metric.cat_ids = category_ids(dataset)
    files = metric.results2json(preds, str(tmp_path / 'mmdet'))
    ref = json.loads(open(files['bbox']).read())
    assert to_coco_results(preds, category_ids(dataset)) == ref


@pytest.mark.parametrize('thrs', [['-1'], ['nan'], ['0.5', '1.5'], ['0']])
def test_iou_thrs_outside_unit_interval_refused(thrs, capsys):
    s = random_scene(2, num_images=3)
    with pytest.raises(SystemExit) as exc:
        eval_dets.main(['--gt-json', 'gt.json', '--res-json', 'r.json',
                        '--iou-thrs', *thrs])
    assert exc.value.code == 2
    bad = next(t for t in thrs if not 0 < float(t) <= 1)
    assert (f'--iou-thrs: IoU threshold {float(bad)!r} is outside (0, 1]'
            in capsys.readouterr().err)
    # the functional core and the registered metric refuse it too
    from mmext.evaluation.functional import voc_eval
    from mmext.evaluation.metrics import DetectionAP
    with pytest.raises(ValueError, match=r'outside \(0, 1\]'):
        voc_eval(s['det_boxes'], s['det_scores'], s['det_labels'],
                 s['det_imgs'], s['gt_boxes'], s['gt_labels'], s['gt_imgs'],
                 s['num_classes'], iou_thrs=[float(t) for t in thrs])
    with pytest.raises(ValueError, match=r'outside \(0, 1\]'):
        DetectionAP(iou_thrs=[float(t) for t in thrs])


def test_json_parse_errors_name_the_file(tmp_path):
    s = random_scene(2, num_images=3)
    gt, res = _write_jsons(s, tmp_path)
    (tmp_path / 'bad.json').write_text('[{"image_id": 1,')
    for args in (['--gt-json', gt, '--res-json', str(tmp_path / 'bad.json')],
                 ['--gt-json', str(tmp_path / 'bad.json'), '--res-json', res]):
        with pytest.raises(ValueError,
                           match=f'^{tmp_path / "bad.json"} is not valid '
                           'JSON: .*line 1'):
            eval_dets.main(args)
    (tmp_path / 'bad.json').write_text('{"image_id": 1}')
    with pytest.raises(ValueError, match='expected a list of results'):
        eval_dets.main(['--gt-json', gt, '--res-json',
                        str(tmp_path / 'bad.json')])


@pytest.mark.parametrize('kind, bbox, expected', [
    ('result', [3.5, 4.0, 10.0], 'must be 4 finite numbers'),
    ('result', [3.5, 4.0, -2.5, 6.0], 'has a negative width or height'),
    ('result', [3.5, 4.0, 2.0, None], 'must be 4 finite numbers'),
    ('annotation', [1.0, 2.0, 3.0], 'must be 4 finite numbers'),
    ('annotation', [1.0, 2.0, 3.0, -0.5], 'has a negative width or height'),
    ('annotation', [1.0, 2.0, '3.0', 4.0], 'holds a string'),
])
def test_bad_bbox_names_its_entry_as_given(tmp_path, kind, bbox, expected):
    s = random_scene(3, num_images=4)
    gt, res = _write_jsons(s, tmp_path)
    path = res if kind == 'result' else gt
    data = json.loads(open(path).read())
    entries = data if kind == 'result' else data['annotations']
    entries[2]['bbox'] = bbox
    open(path, 'w').write(json.dumps(data))
    img = entries[2]['image_id']
    where = (f'result #2 (image_id {img})' if kind == 'result' else
             f"annotation #2 (id {entries[2]['id']}, image_id {img})")
    # voc07 converts boxes to x1y1x2y2: errors still quote the file's xywh
    with pytest.raises(ValueError) as err:
        eval_dets.main(['--gt-json', gt, '--res-json', res, '--metric',
                        'voc07', 'coco'])
    assert str(err.value) == (
        f'{path}: {where}: bbox {bbox!r} ' + (
            'must be 4 finite numbers [x, y, width, height]'
            if 'finite' in expected else
            'holds a string where a number belongs' if 'string' in expected
            else '[x, y, width, height] has a negative width or height'))


@pytest.mark.parametrize('field, value', [('score', '0.5'),
                                          ('bbox', [1, 2, '3', 4])])
def test_results_json_of_config_route_refuses_numeric_strings(field, value):
    from mmext.evaluation.results_json import index_coco_entries
    entries = [dict(image_id=7, category_id=1, bbox=[1, 2, 3, 4], score=0.5)
               for _ in range(3)]
    entries[1][field] = value
    with pytest.raises(ValueError, match=(
            rf'^result #1 \(image_id 7\): {field} .* holds a string where a '
            'number belongs')):
        index_coco_entries('result', entries, [7], [1], True)


def test_pickle_errors_and_help(tmp_path, capsys):
    bad = tmp_path / 'results.pkl'
    bad.write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match=f'^{bad} is not a readable pickle'):
        eval_dets.main(['--pkl', str(bad), '--config', CFG])
    bad.write_bytes(pickle.dumps([dict(img_id='000001')]))
    with pytest.raises(ValueError, match="entry #0 has no 'pred_instances'"):
        eval_dets.main(['--pkl', str(bad), '--config', CFG])
    with pytest.raises(SystemExit):
        eval_dets.main(['--help'])
    assert 'runs any code' in ' '.join(capsys.readouterr().out.split())


@pytest.mark.slow
def test_cli_prints_bad_input_without_traceback(voc_dump, tmp_path):
    from tests.helpers.paths import REPO_ROOT
    from tests.helpers.process import python_env
    half = _write_pickle(tmp_path / 'half.pkl', voc_dump[1][:59])
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/eval_dets.py', '--pkl', half,
         '--config', CFG], cwd=REPO_ROOT, env=python_env(),
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.strip().endswith(
        'pass --allow-missing to score them so')
    assert f'error: {half} has predictions for 59 of the 60' in proc.stderr


def _imported_modules(stderr: str) -> set:
    """Top-level packages in a ``python -X importtime`` report."""
    return {
        line.split('|')[-1].strip().split('.')[0]
        for line in stderr.splitlines() if line.startswith('import time:')
    }


def test_json_route_imports_neither_torch_nor_mmengine(tmp_path):
    """--help and the whole --gt-json route start without the heavy stack
    (the CLI's start-up stays well under a second)."""
    from tests.helpers.process import run
    s = random_scene(4, num_images=5)
    gt, res = _write_jsons(s, tmp_path)
    for args in (['--help'], ['--gt-json', gt, '--res-json', res, '--metric',
                              'voc07', 'coco', '--out',
                              str(tmp_path / 'm.json')]):
        proc = run(['python', '-X', 'importtime',
                    'tools/analysis/eval_dets.py'] + args)
        heavy = _imported_modules(proc.stderr) & {
            'torch', 'mmengine', 'mmcv', 'mmdet', 'matplotlib'}
        assert not heavy, args
    assert 'coco/AP' in json.loads((tmp_path / 'm.json').read_text())
