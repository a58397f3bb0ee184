"""COCO annotation id 0 through the tools and metrics, against mmdet's
CocoMetric (with and without ``ann_file``) and pycocotools."""
import json

import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset
from mmdet.evaluation import CocoMetric

from mmext.evaluation.metrics.detection_ap import DetectionAP
from mmext.evaluation.results_json import category_ids, to_coco_results
from tools.analysis import eval_dets


@pytest.fixture
def coco_from_zero(tmp_path):
    """A COCO json whose annotation ids start at 0 (as converted data sets
    often do), its mmdet data set, and perfect predictions."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(1, 6):
        images.append(dict(id=i, file_name=f'{i}.jpg', width=200,
                           height=150))
        for _ in range(rng.integers(1, 4)):
            xy = rng.integers(0, 100, 2)
            wh = rng.integers(10, 50, 2)
            anns.append(dict(id=len(anns), image_id=i,
                             category_id=int(rng.integers(1, 3)),
                             bbox=[int(v) for v in (*xy, *wh)],
                             area=int(wh.prod()), iscrowd=0))
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps(dict(
        images=images, annotations=anns,
        categories=[dict(id=1, name='a'), dict(id=2, name='b')])))
    dataset = CocoDataset(ann_file=str(ann_file), data_prefix=dict(img=''),
                          pipeline=[], metainfo=dict(classes=('a', 'b')))
    samples, preds = [], []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        boxes = np.array([x['bbox'] for x in info['instances']], np.float32)
        labels = np.array([x['bbox_label'] for x in info['instances']])
        scores = np.linspace(0.9, 0.5, len(labels), dtype=np.float32)
        preds.append(dict(img_id=info['img_id'], bboxes=boxes,
                          scores=scores, labels=labels))
        samples.append(
            dict(img_id=info['img_id'],
                 ori_shape=(info['height'], info['width']),
                 instances=info['instances'],
                 pred_instances=dict(bboxes=torch.from_numpy(boxes),
                                     scores=torch.from_numpy(scores),
                                     labels=torch.from_numpy(labels))))
    res_file = tmp_path / 'res.json'
    res_file.write_text(
        json.dumps(to_coco_results(preds, category_ids(dataset))))
    return dict(ann_file=str(ann_file), res_file=str(res_file),
                dataset=dataset, samples=samples)


def evaluate(metric, data):
    metric.dataset_meta = data['dataset'].metainfo
    metric.process(None, data['samples'])
    return metric.evaluate(len(data['samples']))


def test_id_zero_as_mmdet_coco_metric(coco_from_zero):
    data = coco_from_zero
    with_file = evaluate(CocoMetric(ann_file=data['ann_file']), data)
    without_file = evaluate(CocoMetric(), data)
    # pycocotools never matches annotation 0: CocoMetric reading the json
    # scores the perfect prediction below 1; renumbered from 1, it is 1
    assert with_file['coco/bbox_mAP'] < 1.0
    assert without_file['coco/bbox_mAP'] == 1.0
    # DetectionAP sees mmdet samples, which carry no annotation ids:
    # CocoMetric without ann_file
    ours = evaluate(DetectionAP(metric='coco'), data)
    assert ours['coco/AP'] == 1.0
    # the json route keeps the ids: CocoMetric with ann_file, and a warning
    args = ['--gt-json', data['ann_file'], '--res-json', data['res_file'],
            '--metric', 'coco']
    with pytest.warns(UserWarning,
                      match=r'ground truth #0 \(image 1\) has annotation '
                      'id 0'):
        metrics = eval_dets.main(args)
    for key in ('mAP', 'mAP_50', 'mAP_75'):
        ref = with_file[f'coco/bbox_{key}']
        ours_key = 'coco/AP' + key[4:]
        assert round(metrics[ours_key], 3) == ref
    # the option matches it like any other annotation
    assert eval_dets.main(args + ['--match-ann-id-zero'])['coco/AP'] == 1.0


def test_non_numeric_or_duplicate_ids_refused(coco_from_zero, tmp_path):
    data = coco_from_zero
    gt = json.loads(open(data['ann_file']).read())
    for ids, msg in (([7, 7], r'annotation id 7 is used by ground truth #0 '
                      r'\(image 1\) and #1'),
                     ([1, 'x'], r"#1 \(image 1\): annotation id 'x' is not "
                      'a number')):
        for ann, i in zip(gt['annotations'], ids):
            ann['id'] = i
        bad = tmp_path / 'bad.json'
        bad.write_text(json.dumps(gt))
        with pytest.raises(ValueError, match=msg):
            eval_dets.main(['--gt-json', str(bad), '--res-json',
                            data['res_file'], '--metric', 'coco',
                            '--match-ann-id-zero'])
