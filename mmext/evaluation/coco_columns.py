"""COCO json entries (annotations or results) -> columns of arrays.

The shared steps of :mod:`.coco_json` (results) and :mod:`.coco_gt_json`
(ground truth): boxes, scores, image and category ids of a list of entries
in one vectorized pass (or, when any entry is off, the checks that name
it), and json ids made positions in the sorted id lists. Numpy only.
"""
import itertools
import operator
from typing import Sequence

import numpy as np
import orjson

from .functional.checks import check_coco_entries, entry_name
from .json_slices import gc_paused

# field getters of a json entry (faster than a comprehension's e['x'])
_BBOX, _SCORE, _IMAGE_ID, _CATEGORY_ID = (
    operator.itemgetter(k) for k in ('bbox', 'score', 'image_id',
                                     'category_id'))


def entry_columns(kind: str, entries: list, start: int, images: 'IdIndex',
                  categories: 'IdIndex', with_score: bool) -> dict:
    """``boxes``, ``imgs``, ``labels`` (and ``scores``) of json entries.

    ``start`` is the position of the first entry in its file (messages).
    """
    columns = fast_columns(entries, with_score)
    if columns is None:  # find the entry to blame (raises on a bad box)
        refuse_strings(kind, entries, with_score, start)
        arrays = check_coco_entries(kind, entries, with_score, start=start)
        columns = dict(boxes=arrays[0],
                       imgs=[e.get('image_id') for e in entries],
                       cats=[e.get('category_id') for e in entries])
        if with_score:
            columns['scores'] = arrays[1]
    return mapped_columns(kind, columns, start, images, categories)


def mapped_columns(kind: str, columns: dict, start: int,
                   images: 'IdIndex', categories: 'IdIndex') -> dict:
    """``columns`` with their json ids (``imgs``, ``cats``) made positions
    (``imgs``, ``labels``), naming the first unknown one."""
    img_ids, cat_ids = columns.pop('imgs'), columns.pop('cats')
    imgs = images.positions(img_ids)
    if (imgs < 0).any():
        n = int(np.flatnonzero(imgs < 0)[0])
        raise ValueError(
            f'{kind} #{start + n} has unknown image_id {_item(img_ids, n)!r} '
            f'(known ids look like {images.ids[0]!r})' if len(images.ids)
            else f'{kind} #{start + n}: there are no images')
    labels = categories.positions(cat_ids)
    if (labels < 0).any():
        n = int(np.flatnonzero(labels < 0)[0])
        raise ValueError(
            f'{kind} #{start + n} (image {_item(img_ids, n)!r}) has unknown '
            f'category_id {_item(cat_ids, n)!r} (known: '
            f'{list(categories.ids)})')
    return dict(columns, imgs=imgs, labels=labels)


def _item(ids, n: int):
    """Id ``n`` of a list or an int64 array, as the json gave it."""
    return ids[n:n + 1].tolist()[0] if isinstance(ids, np.ndarray) else ids[n]


def fast_columns(entries: list, with_score: bool):
    """The columns of well-formed entries, or None if anything is off."""
    if not entries:
        return None
    try:
        bbox_lists = list(map(_BBOX, entries))
        if set(map(len, bbox_lists)) != {4}:
            return None
        # one flat pass is twice as fast as np.array on nested lists
        boxes = np.fromiter(itertools.chain.from_iterable(bbox_lists),
                            np.float64, count=4 * len(entries)).reshape(-1, 4)
        columns = dict(boxes=boxes,
                       imgs=list(map(_IMAGE_ID, entries)),
                       cats=list(map(_CATEGORY_ID, entries)))
        # np.fromiter parses numeric strings ("1.5"), which pycocotools
        # fails on; sum() refuses them (at a third of fromiter's cost)
        sum(itertools.chain.from_iterable(bbox_lists))
        if with_score:
            scores = list(map(_SCORE, entries))
            sum(scores)
            columns['scores'] = np.fromiter(scores, np.float64,
                                            count=len(entries))
    except (KeyError, TypeError, ValueError):
        return None
    if not np.isfinite(boxes).all() or (boxes[:, 2:] < 0).any():
        return None
    if with_score and not np.isfinite(columns['scores']).all():
        return None
    return columns


def refuse_strings(kind: str, entries: list, with_score: bool,
                   start: int = 0) -> None:
    """Refuse the first string where a number belongs (``bbox`` values,
    ``score``), naming the entry and field: numpy would parse ``"1.5"``,
    pycocotools fails on it."""
    fields = ('bbox', 'score') if with_score else ('bbox', )
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue  # check_coco_entries names it
        for name in fields:
            value = entry.get(name)
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, (str, bytes)) for v in values):
                raise ValueError(
                    f'{entry_name(kind, start + i, entry)}: {name} '
                    f'{value!r:.80} holds a string where a number belongs')


class IdIndex:
    """Position of ids in a sorted id list: a sorted search when all are
    ints, a dict lookup otherwise (as pycocotools' dicts compare ids)."""

    def __init__(self, ids: Sequence):
        self.ids = list(ids)
        self._ints = int_array(self.ids)
        self._dict = self._table = None

    def positions(self, values: list) -> np.ndarray:
        """``(N,)`` int64 position of each value, -1 if unknown."""
        ints = int_array(values) if self._ints is not None else None
        if ints is not None and len(self.ids):
            return self._int_positions(ints)
        if self._dict is None:
            self._dict = {}
            for i, k in enumerate(self.ids):
                self._dict.setdefault(k, i)
        return np.array([_lookup(self._dict, v) for v in values],
                        dtype=np.int64).reshape(-1)

    def _int_positions(self, ints: np.ndarray) -> np.ndarray:
        lo, hi = int(self._ints[0]), int(self._ints[-1])
        if hi - lo < 4 * len(self.ids) + 1024:
            # dense ids (the usual 1..N): a table instead of a search
            if self._table is None:
                self._table = np.full(hi - lo + 1, -1, np.int64)
                self._table[self._ints - lo] = np.arange(len(self.ids))
            inside = (ints >= lo) & (ints <= hi)
            return np.where(inside,
                            self._table[np.where(inside, ints - lo, 0)], -1)
        pos = np.minimum(np.searchsorted(self._ints, ints), len(self.ids) - 1)
        return np.where(self._ints[pos] == ints, pos, -1)


def int_array(values: list):
    """``values`` as int64 if they are all ints (no bools or floats), else
    None."""
    try:
        arr = np.array(values)
    except (ValueError, OverflowError):
        return None
    if arr.dtype.kind != 'i' and not (arr.dtype.kind == 'f'
                                      and arr.size == 0):
        return None
    return arr.astype(np.int64, copy=False)


def _lookup(index: dict, value) -> int:
    try:
        return index.get(value, -1)
    except TypeError:  # unhashable (a list or an object): unknown
        return -1


def parse_json(data: bytes, path: str):
    """The content of json ``data`` (read from ``path``), the cyclic
    garbage collector paused meanwhile; a parse error names the file."""
    with gc_paused():
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid JSON: {err}') from None
