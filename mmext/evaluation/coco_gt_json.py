"""A COCO ground-truth json file -> sorted image ids, categories and the
columns of its annotations.

A well-formed file is decoded into msgspec typed records
(:mod:`.coco_gt_records`); anything unusual is parsed with orjson and
checked entry by entry, so errors name the annotation and field. Rules as
pycocotools reads the file: images ordered by id, categories by id; an
annotation with ``"difficult": 1`` or ``"ignore": 1`` is an ignore region,
``"iscrowd": 1`` a crowd region; ``area`` defaults to the box area;
annotation ids are kept. Numpy, msgspec and orjson only.
"""
import math
from typing import Tuple

import numpy as np

from .coco_columns import IdIndex, entry_columns, mapped_columns, parse_json
from .coco_gt_records import typed_gt
from .functional.checks import entry_name


def ground_truth(gt_file: str) -> tuple:
    """``(sorted image ids, categories sorted by id, image index, category
    index, columns)`` of a GT file: its typed records when it is well
    formed (see :mod:`.coco_gt_records`), else its plain JSON checked."""
    with open(gt_file, 'rb') as f:
        data = f.read()
    try:
        typed = typed_gt(data)
        if typed is not None:
            img_ids, cats, columns = typed
            images = IdIndex(img_ids)
            categories = IdIndex([c['id'] for c in cats])
            g = mapped_columns('annotation', columns, 0, images, categories)
            return img_ids, cats, images, categories, g
        gt = parse_json(data, gt_file)
        del data
        img_ids, cats = _images_and_categories(gt)
        images = IdIndex(img_ids)
        categories = IdIndex([c['id'] for c in cats])
        anns = gt.get('annotations', [])
        if not isinstance(anns, list):
            raise ValueError("'annotations' is not a list")
        g = entry_columns('annotation', anns, 0, images, categories,
                          with_score=False)
        g.update(_annotation_flags(anns, g['boxes']))
    except ValueError as err:
        if str(err).startswith(gt_file):
            raise
        raise ValueError(f'{gt_file}: {err}') from None
    return img_ids, cats, images, categories, g


def _images_and_categories(gt) -> Tuple[list, list]:
    """Sorted image ids and categories sorted by id, checked."""
    if not isinstance(gt, dict) or not all(
            isinstance(gt.get(k), list) for k in ('images', 'categories')):
        raise ValueError("not a COCO ground-truth file (needs 'images' and "
                         "'categories' lists)")
    img_ids = [_id_of('image', i, img) for i, img in enumerate(gt['images'])]
    cats = gt['categories']
    cat_ids = [_id_of('category', i, c) for i, c in enumerate(cats)]
    for what, ids in (('image', img_ids), ('category', cat_ids)):
        seen = set()
        for i in ids:
            if i in seen:
                raise ValueError(f'duplicate {what} id {i!r}')
            seen.add(i)
    try:
        order = sorted(range(len(img_ids)), key=img_ids.__getitem__)
        cat_order = sorted(range(len(cats)), key=cat_ids.__getitem__)
    except TypeError:
        raise ValueError('image and category ids must be all numbers or '
                         'all strings') from None
    return [img_ids[i] for i in order], [cats[i] for i in cat_order]


def _id_of(what: str, i: int, entry):
    if not isinstance(entry, dict) or 'id' not in entry:
        raise ValueError(f'{what} #{i} has no id: {entry!r:.80}')
    if isinstance(entry['id'], (list, dict)):
        raise ValueError(f"{what} #{i}: id {entry['id']!r:.80} is not a "
                         'number or string')
    return entry['id']


def _annotation_flags(anns: list, boxes: np.ndarray) -> dict:
    """``ignore``, ``crowd``, ``areas`` and ``ids`` of the annotations."""
    ignore = _truth([a.get('difficult', 0) or a.get('ignore', 0)
                     for a in anns])
    crowd = _truth([a.get('iscrowd', 0) for a in anns])
    areas = boxes[:, 2] * boxes[:, 3]
    given = [i for i, a in enumerate(anns) if 'area' in a]
    if given:
        values = [anns[i]['area'] for i in given]
        try:
            given_areas = np.array(values)
        except (TypeError, ValueError):  # ragged lists
            given_areas = None
        if given_areas is None or given_areas.dtype.kind not in 'iuf' or \
                not np.isfinite(given_areas).all():
            n = next(i for i, v in zip(given, values)
                     if not _finite_number(v))
            raise ValueError(f"{entry_name('annotation', n, anns[n])}: area "
                             f"{anns[n]['area']!r} must be a finite number")
        areas[given] = given_areas
    ids = None
    if all('id' in a for a in anns):
        ids = np.array([a['id'] for a in anns])
        if ids.dtype.kind not in 'iuf':  # refused, naming it, by coco_eval
            ids = np.array([a['id'] for a in anns], dtype=object)
    return dict(ignore=ignore, crowd=crowd, areas=areas, ids=ids)


def _truth(values: list) -> np.ndarray:
    """``bool(v)`` of each value: vectorized when they are all numbers."""
    try:
        arr = np.array(values)
    except (TypeError, ValueError):  # ragged lists
        arr = None
    if arr is not None and arr.dtype.kind in 'biuf' and arr.ndim == 1:
        return arr != 0
    return np.array([bool(v) for v in values], dtype=bool)


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(
        value, bool) and math.isfinite(value)
