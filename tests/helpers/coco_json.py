"""COCO-format files built from a detection scene, and pycocotools run on
them: the independent oracle of the COCO-style evaluators.

A scene is the dict of flat arrays that :func:`det_scenes.random_scene`
returns (``gt_boxes``, ``gt_labels``, ``gt_imgs``, ``gt_crowd``, optional
``gt_areas``; ``det_boxes``, ``det_scores``, ``det_labels``, ``det_imgs``;
``num_images``, ``num_classes``). Image ids are 1..N, category ids 1..K.
"""
import contextlib
import io
import json
from typing import Optional, Sequence, Tuple

import numpy as np


def _xywh(box, box_format: str) -> list:
    b = [float(v) for v in np.asarray(box, dtype=np.float64)]
    if box_format == 'xywh':
        return b
    return [b[0], b[1], b[2] - b[0], b[3] - b[1]]


def coco_dicts(s: dict, box_format: str = 'xyxy',
               ann_ids: Optional[Sequence[int]] = None,
               difficult: Optional[Sequence[bool]] = None
               ) -> Tuple[dict, list]:
    """The GT dataset dict and the results list of scene ``s``.

    Args:
        s (dict): The scene.
        box_format (str): ``'xyxy'`` or ``'xywh'``: how the scene's boxes
            are given (the files always hold COCO's xywh).
        ann_ids: Annotation ids (default 1..G).
        difficult: Per GT, whether to add ``difficult=1``.

    Returns:
        tuple: ``(gt, results)`` as they go into json files.
    """
    anns = []
    for j, (b, lab, img, crowd) in enumerate(
            zip(s['gt_boxes'], s['gt_labels'], s['gt_imgs'], s['gt_crowd'])):
        bb = _xywh(b, box_format)
        ann = dict(
            id=j + 1 if ann_ids is None else int(ann_ids[j]),
            image_id=int(img) + 1,
            category_id=int(lab) + 1,
            bbox=bb,
            area=float(s['gt_areas'][j]) if 'gt_areas' in s else
            bb[2] * bb[3],
            iscrowd=int(crowd))
        if difficult is not None and difficult[j]:
            ann['difficult'] = 1
        anns.append(ann)
    gt = dict(
        images=[dict(id=i + 1) for i in range(s['num_images'])],
        categories=[
            dict(id=k + 1, name=f'c{k}') for k in range(s['num_classes'])
        ],
        annotations=anns)
    results = [
        dict(image_id=int(img) + 1, category_id=int(lab) + 1,
             bbox=_xywh(b, box_format), score=float(sc))
        for b, lab, img, sc in zip(s['det_boxes'], s['det_labels'],
                                   s['det_imgs'], s['det_scores'])
    ]
    return gt, results


def write_coco_jsons(s: dict, folder, **kwargs) -> Tuple[str, str]:
    """Write ``gt.json`` and ``res.json`` of scene ``s`` into ``folder``
    (a ``pathlib.Path``); ``kwargs`` as :func:`coco_dicts`.

    Returns:
        tuple: The two paths.
    """
    gt, results = coco_dicts(s, **kwargs)
    (folder / 'gt.json').write_text(json.dumps(gt))
    (folder / 'res.json').write_text(json.dumps(results))
    return str(folder / 'gt.json'), str(folder / 'res.json')


def pycocotools_eval(s: dict, box_format: str = 'xyxy',
                     ann_ids: Optional[Sequence[int]] = None,
                     params: Optional[dict] = None):
    """Run pycocotools' ``COCOeval`` (bbox) on scene ``s``.

    Args:
        s (dict): The scene.
        box_format (str): How the scene's boxes are given.
        ann_ids: Annotation ids (default 1..G).
        params (dict): Attributes set on ``COCOeval.params`` first.

    Returns:
        COCOeval: Evaluated, accumulated and summarized (``stats``,
        ``eval['precision']`` ...).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt_dict, results = coco_dicts(s, box_format, ann_ids)
    gt = COCO()
    gt.dataset = gt_dict
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, 'bbox')
        for k, v in (params or {}).items():
            setattr(ev.params, k, v)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
