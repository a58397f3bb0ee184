"""tools/analysis/eval_dets.py: both input routes, against references."""
import json
import pickle

import numpy as np
import pytest

from tests._det_eval_data import random_scene
from tests.test_eval_functional_coco import pycocotools_eval
from tools.analysis import eval_dets

COCO_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
             'AR100', 'ARs', 'ARm', 'ARl')


def _write_jsons(s, tmp_path, difficult=None):
    xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]  # noqa: E731
    anns = []
    for j, (b, lab, img, crowd) in enumerate(
            zip(s['gt_boxes'], s['gt_labels'], s['gt_imgs'], s['gt_crowd'])):
        bb = [float(v) for v in xywh(b)]
        ann = dict(id=j + 1, image_id=int(img) + 1, category_id=int(lab) + 1,
                   bbox=bb, area=bb[2] * bb[3], iscrowd=int(crowd))
        if difficult is not None and difficult[j]:
            ann['difficult'] = 1
        anns.append(ann)
    gt = dict(images=[dict(id=i + 1) for i in range(s['num_images'])],
              categories=[dict(id=k + 1, name=f'c{k}')
                          for k in range(s['num_classes'])],
              annotations=anns)
    res = [
        dict(image_id=int(i) + 1, category_id=int(c) + 1,
             bbox=[float(v) for v in xywh(b)], score=float(sc))
        for b, c, i, sc in zip(s['det_boxes'], s['det_labels'],
                               s['det_imgs'], s['det_scores'])
    ]
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    (tmp_path / 'res.json').write_text(json.dumps(res))
    return str(tmp_path / 'gt.json'), str(tmp_path / 'res.json')


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
    assert {'voc07/mAP', 'voc07/AP/c0', 'coco/AP/c2'} <= set(metrics)


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
    the registered metric on the same predictions."""
    from mmext.evaluation.metrics import DetectionAP
    from tests.test_detection_ap_metric import (CFG, _predicted_samples,
                                                _voc_test_dataset)
    dataset = _voc_test_dataset()
    samples = _predicted_samples(dataset, seed=3)
    # mmdet's DumpDetResults keeps predictions only
    dump = [dict(img_id=s['img_id'], pred_instances=s['pred_instances'])
            for s in samples]
    pkl = tmp_path / 'results.pkl'
    pkl.write_bytes(pickle.dumps(dump))
    metrics = eval_dets.main(['--pkl', str(pkl), '--config', CFG,
                              '--metric', 'voc07', 'coco'])
    metric = DetectionAP(metric=('voc07', 'coco'))
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    ref = metric.evaluate(len(samples))
    for k, v in ref.items():
        assert metrics[k] == pytest.approx(v, abs=1e-12)
    dump.append(dict(dump[0]))
    pkl.write_bytes(pickle.dumps(dump))
    with pytest.raises(ValueError, match='two predictions for image'):
        eval_dets.main(['--pkl', str(pkl), '--config', CFG])
