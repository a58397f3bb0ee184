"""Evaluate saved detections offline: VOC07 / VOC12 mAP and COCO stats.

Two inputs:

* a ``tools/test.py --out results.pkl`` pickle plus the dataset config
  (GT read from the config's test dataset)::

    python tools/analysis/eval_dets.py --pkl results.pkl --config CFG \\
        --metric voc07 coco --out metrics.json

* a COCO-format GT json plus a COCO-format results json; an annotation with
  ``"difficult": 1`` or ``"ignore": 1`` is a VOC difficult box (ignored by
  every metric, an ignore region matched once in COCO-style evaluation) and
  ``"iscrowd": 1`` a COCO crowd region::

    python tools/analysis/eval_dets.py --gt-json gt.json \\
        --res-json dets.json --metric coco --out metrics.json

``metrics.json`` is a flat object: ``voc07/mAP``, ``voc07/AP/<class>`` (or
``voc07/AP50``, ``voc07/AP50/<class>``... with several ``--iou-thrs``), the
same for ``voc12``, ``coco/AP`` ... ``coco/ARl`` and ``coco/AP/<class>``;
fractions in [0, 1], ``null`` for a class without GT, -1 for a COCO stat
without valid GT (as pycocotools).
"""
import argparse
import json
import pickle
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmext.evaluation.metrics.detection_ap import (ALLOWED_METRICS,
                                                   compute_detection_metrics,
                                                   format_ap_tables,
                                                   sample_to_arrays)


def load_coco_json(gt_file: str, res_file: str) -> Tuple[List[dict], list]:
    """Samples from COCO-format GT and results files.

    Images are ordered by id (pycocotools' order, which breaks score ties),
    classes by category id.

    Returns:
        tuple: ``(samples, class names)``; boxes are ``x, y, w, h``.

    Raises:
        ValueError: On duplicate image or category ids, or a result or
            annotation naming an unknown image or category.
    """
    with open(gt_file) as f:
        gt = json.load(f)
    with open(res_file) as f:
        res = json.load(f)
    if isinstance(res, dict) and 'annotations' in res:
        res = res['annotations']
    img_ids = [img['id'] for img in gt['images']]
    if len(set(img_ids)) != len(img_ids):
        dup = next(i for i in img_ids if img_ids.count(i) > 1)
        raise ValueError(f'{gt_file}: duplicate image id {dup!r}')
    img_ids = sorted(img_ids)
    cats = sorted(gt['categories'], key=lambda c: c['id'])
    cat_index = {c['id']: k for k, c in enumerate(cats)}
    if len(cat_index) != len(cats):
        raise ValueError(f'{gt_file}: duplicate category ids')
    samples = {
        i: dict(img_id=i, det=[], gt=[])
        for i in img_ids
    }

    def lookup(entry, what, n, file):
        if entry.get('image_id') not in samples:
            raise ValueError(f'{file}: {what} #{n} has unknown image_id '
                             f"{entry.get('image_id')!r}")
        if entry.get('category_id') not in cat_index:
            raise ValueError(f'{file}: {what} #{n} (image '
                             f"{entry['image_id']!r}) has unknown "
                             f"category_id {entry.get('category_id')!r}")
        return samples[entry['image_id']]

    for n, ann in enumerate(gt.get('annotations', [])):
        lookup(ann, 'annotation', n, gt_file)['gt'].append(ann)
    for n, det in enumerate(res):
        if 'score' not in det or 'bbox' not in det:
            raise ValueError(f"{res_file}: result #{n} lacks 'bbox' or "
                             "'score'")
        lookup(det, 'result', n, res_file)['det'].append(det)
    out = []
    for i in img_ids:
        s = samples[i]
        g, d = s['gt'], s['det']
        out.append(
            dict(img_id=i,
                 det_boxes=np.array([x['bbox'] for x in d],
                                    float).reshape(-1, 4),
                 det_scores=np.array([x['score'] for x in d], float),
                 det_labels=np.array([cat_index[x['category_id']]
                                      for x in d], np.int64),
                 gt_boxes=np.array([x['bbox'] for x in g],
                                   float).reshape(-1, 4),
                 gt_labels=np.array([cat_index[x['category_id']] for x in g],
                                    np.int64),
                 gt_ignore=np.array([
                     bool(x.get('difficult', 0) or x.get('ignore', 0))
                     for x in g
                 ], bool),
                 gt_crowd=np.array([bool(x.get('iscrowd', 0)) for x in g],
                                   bool),
                 gt_areas=np.array([
                     x['area'] if 'area' in x else x['bbox'][2] *
                     x['bbox'][3] for x in g
                 ], float)))
    names = [c.get('name', str(c['id'])) for c in cats]
    return out, names


def load_pickle_with_config(pkl_file: str,
                            config: str) -> Tuple[List[dict], list, str]:
    """Samples from a ``test.py --out`` pickle, GT from the config's test
    dataset (mmdet's dump keeps predictions only).

    Images of the data set without predictions count with none; a
    prediction for an image id not in the data set, or two for one image,
    is an error.

    Returns:
        tuple: ``(samples, class names, ignore_as)``, samples in data set
        order, ``ignore_as`` from the data set type (``'difficult'`` for
        VOC, ``'crowd'`` otherwise).
    """
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.pipeline = []
    ds_cfg.lazy_init = False
    dataset = DATASETS.build(ds_cfg)
    with open(pkl_file, 'rb') as f:
        preds = pickle.load(f)
    by_id = {}
    for n, p in enumerate(preds):
        img_id = p.get('img_id')
        if img_id in by_id:
            raise ValueError(f'{pkl_file}: two predictions for image '
                             f'{img_id!r} (entries {by_id[img_id][0]} and '
                             f'{n})')
        by_id[img_id] = (n, p)
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img_id = info['img_id']
        pred = by_id.pop(img_id, (None, dict(pred_instances=dict(
            bboxes=np.zeros((0, 4)), scores=np.zeros(0),
            labels=np.zeros(0, np.int64)))))[1]
        samples.append(
            sample_to_arrays(
                dict(img_id=img_id, pred_instances=pred['pred_instances'],
                     instances=info['instances'])))
    if by_id:
        raise ValueError(f'{pkl_file}: predictions for image ids not in the '
                         f'data set: {sorted(map(repr, by_id))[:5]}')
    meta = dataset.metainfo
    ignore_as = 'difficult' if str(meta.get('dataset_type',
                                            '')).startswith('VOC') else 'crowd'
    return samples, list(meta['classes']), ignore_as


def evaluate(samples: List[dict],
             classes: Sequence[str],
             metric: Sequence[str] = ('voc07', ),
             iou_thrs: Sequence[float] = (0.5, ),
             legacy_coords: bool = True,
             ignore_as: str = 'difficult',
             box_format: str = 'xyxy') -> Tuple[dict, str]:
    """Flat ``metrics.json`` content and the per-class table.

    Returns:
        tuple: ``(metrics, table)``: ``metrics`` has the summary keys and
        ``<key>/<class>`` per-class APs (``None`` for classes without GT).
    """
    out = compute_detection_metrics(
        samples, classes, metric, iou_thrs, legacy_coords, ignore_as,
        box_format=box_format)
    flat = dict(out['metrics'])
    for key, per_class in out['per_class'].items():
        for name, ap in per_class.items():
            flat[f'{key}/{name}'] = None if np.isnan(ap) else ap
    return flat, format_ap_tables(out, classes)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate saved detections (VOC07/VOC12/COCO).')
    src = parser.add_argument_group('inputs (a pickle + config, or 2 jsons)')
    src.add_argument('--pkl', help='results pickle of test.py --out')
    src.add_argument('--config', help='config whose test dataset has the GT')
    src.add_argument('--gt-json', help='COCO-format ground truth')
    src.add_argument('--res-json', help='COCO-format results')
    parser.add_argument('--metric', nargs='+', default=['voc07'],
                        choices=ALLOWED_METRICS)
    parser.add_argument('--iou-thrs', nargs='+', type=float, default=[0.5],
                        help='IoU thresholds of the VOC metrics')
    parser.add_argument('--legacy-coords',
                        action=argparse.BooleanOptionalAction, default=True,
                        help='VOC +1 pixel box widths (default: on)')
    parser.add_argument('--out', help='write the flat metrics json here')
    args = parser.parse_args(argv)
    if bool(args.pkl) == bool(args.gt_json):
        parser.error('give either --pkl with --config, or --gt-json with '
                     '--res-json')
    if args.pkl and not args.config:
        parser.error('--pkl needs --config')
    if args.gt_json and not args.res_json:
        parser.error('--gt-json needs --res-json')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.pkl:
        samples, classes, ignore_as = load_pickle_with_config(
            args.pkl, args.config)
        box_format = 'xyxy'
    else:
        samples, classes = load_coco_json(args.gt_json, args.res_json)
        ignore_as, box_format = 'difficult', 'xywh'
    metrics, table = evaluate(samples, classes, args.metric, args.iou_thrs,
                              args.legacy_coords, ignore_as, box_format)
    print(table)
    for k, v in metrics.items():
        if k.count('/') == 1:
            print(f'{k}: {v:.4f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=1)
    return metrics


if __name__ == '__main__':
    main()
