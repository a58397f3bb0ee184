"""A well-formed COCO ground-truth file decoded by msgspec into typed
records, and made columns: the fast path of
:func:`.coco_json.load_coco_detections`' GT.

No dict per annotation, and fields that are not read (``segmentation``,
``file_name``...) are skipped while decoding: on a 6 MB GT file (36k
annotations) this costs half the CPU of orjson's dicts and their columns.
Anything unusual (a string or bool where an int or number belongs, a
``null``, duplicate ids, a bbox of another length or with a negative
size, ids out of int64) makes :func:`typed_gt` return None: the caller
then parses the file with orjson, whose checks name the entry and field
and keep pycocotools' leniency.
"""
import itertools
import operator
from typing import List, Optional, Tuple, Union

import msgspec
import numpy as np
from msgspec import UNSET, UnsetType


class _Image(msgspec.Struct, gc=False):
    id: int


class _Category(msgspec.Struct, gc=False):
    id: int
    name: Union[str, UnsetType] = UNSET


class _Annotation(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: Tuple[float, float, float, float]
    id: Union[int, UnsetType] = UNSET
    area: Union[float, UnsetType] = UNSET
    iscrowd: int = 0
    difficult: int = 0
    ignore: int = 0


class _GroundTruth(msgspec.Struct, gc=False):
    images: List[_Image]
    categories: List[_Category]
    annotations: List[_Annotation] = []


_DECODER = msgspec.json.Decoder(_GroundTruth)


def _ints(records: list, field: str) -> np.ndarray:
    return np.fromiter(map(operator.attrgetter(field), records), np.int64,
                       count=len(records))


def typed_gt(data: bytes) -> Optional[Tuple[list, List[dict], dict]]:
    """The images, categories and annotation columns of a well-formed
    COCO GT file's bytes, or None (see the module docstring).

    Returns:
        tuple: ``(image ids sorted, categories sorted by id as {id[,
        name]} dicts, columns)``; columns ``boxes`` ``(N, 4)`` float64
        (xywh), ``imgs`` and ``cats`` ``(N,)`` int64 json ids, ``ignore``
        and ``crowd`` ``(N,)`` bool, ``areas`` ``(N,)`` float64 (the box
        area where none is given) and ``ids`` ``(N,)`` int64 (None unless
        every annotation has one).
    """
    try:
        gt = _DECODER.decode(data)
    except msgspec.MsgspecError:
        return None
    anns = gt.annotations
    n = len(anns)
    try:
        img_ids = np.sort(_ints(gt.images, 'id'))
        cats = sorted(gt.categories, key=operator.attrgetter('id'))
        cat_ids = _ints(cats, 'id')
        columns = dict(imgs=_ints(anns, 'image_id'),
                       cats=_ints(anns, 'category_id'))
    except OverflowError:  # a uint64 id: the plain path handles it
        return None
    if not n or (img_ids[1:] == img_ids[:-1]).any() or (
            cat_ids[1:] == cat_ids[:-1]).any():
        return None  # the plain path names a duplicate id
    # one flat pass is twice as fast as np.array on nested tuples
    boxes = np.fromiter(
        itertools.chain.from_iterable(map(operator.attrgetter('bbox'), anns)),
        np.float64, count=4 * n).reshape(n, 4)
    if not np.isfinite(boxes).all() or (boxes[:, 2:] < 0).any():
        return None
    areas = list(map(operator.attrgetter('area'), anns))
    given = [i for i, a in enumerate(areas) if a is not UNSET]
    area_column = boxes[:, 2] * boxes[:, 3]
    area_column[given] = [areas[i] for i in given]
    if not np.isfinite(area_column).all():
        return None
    ids = list(map(operator.attrgetter('id'), anns))
    columns.update(
        boxes=boxes, areas=area_column,
        ignore=(_ints(anns, 'difficult') != 0) | (_ints(anns, 'ignore') != 0),
        crowd=_ints(anns, 'iscrowd') != 0,
        ids=None if any(i is UNSET for i in ids) else np.array(ids, np.int64))
    categories = [dict(id=c.id) if c.name is UNSET else dict(id=c.id,
                                                              name=c.name)
                  for c in cats]
    return img_ids.tolist(), categories, columns
