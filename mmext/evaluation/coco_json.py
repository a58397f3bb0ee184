"""COCO-format GT and results json files -> one :class:`DetectionArrays`.

The fast path of ``tools/analysis/eval_dets.py --gt-json --res-json``:
msgspec decodes the GT and the results into typed records (orjson any
that are not all well formed, see :mod:`.coco_gt_records`), columns
become arrays in one go, ids are mapped with a table (or a sorted search), and nothing is held per
image. Numpy, msgspec and orjson only.

Why it is fast, and small:

* a results file is parsed a slice of whole entries at a time, so only
  one slice of Python objects lives at once, with Python's cyclic garbage
  collector paused (see :mod:`.json_slices`); anything that does not parse
  so is parsed whole, and its errors name the file's line and column;
* a large results file (from ``_FORK_MIN_BYTES``) is split between two
  entries where the parent's share (GT file and the results up to there)
  matches the child's, when a CPU is free
  (:func:`.functional.forked_arrays.spare_cpu`): a forked child parses
  the tail into raw columns while the parent reads the GT and the head.
  Whatever the child cannot do (a malformed entry, ids that are not all
  ints, a crash) the parent redoes, so every error names the entry as
  without the split.

Rules, as pycocotools reads the files: images are ordered by id (the order
that breaks score ties), classes by category id; ``bbox`` is ``[x, y,
width, height]``. An annotation with ``"difficult": 1`` or ``"ignore": 1``
is an ignore region (``gt_ignore``), ``"iscrowd": 1`` a crowd region;
``area`` defaults to the box area; annotation ids are kept (``gt_ids``) for
pycocotools' handling of id 0 (see :func:`~.functional.coco.coco_eval`).

Every error names the file and the entry (its position, ``id`` and
``image_id``): not JSON, not a COCO file, duplicate image or category ids,
a malformed ``bbox``, ``score`` or ``area`` (a string such as ``"1.5"``
where a number belongs included: pycocotools fails on it), an unknown
image or category.
"""
import contextlib
import functools
import itertools
import math
import operator
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
import orjson

from .coco_gt_records import typed_gt
from .functional.forked_arrays import ForkedArrays, spare_cpu
from .functional.checks import check_coco_entries, entry_name
from .functional.records import DetectionArrays
from .json_slices import (NotSliceable, entry_bounds_after, gc_paused,
                          result_slices)

#: results files from this size on (about 50k entries) are parsed by two
#: processes, each a part (forking costs a few milliseconds)
_FORK_MIN_BYTES = 8 << 20
# field getters of a json entry (faster than a comprehension's e['x'])
_BBOX, _SCORE, _IMAGE_ID, _CATEGORY_ID = (
    operator.itemgetter(k) for k in ('bbox', 'score', 'image_id',
                                     'category_id'))


def load_coco_detections(gt_file: str,
                         res_file: str) -> Tuple[DetectionArrays, List[str]]:
    """Detections and GT of a COCO GT json and a COCO results json.

    The cyclic garbage collector is paused meanwhile (see the module
    docstring); the parsed json is freed before it resumes.

    Args:
        gt_file (str): COCO ground truth (``images``, ``categories``,
            ``annotations``).
        res_file (str): Results: a list of ``{image_id, category_id, bbox,
            score}`` (or a dict whose ``annotations`` is that list).

    Returns:
        tuple: ``(arrays, class names)``; boxes ``xywh`` as in the files,
        entries in file order, images by sorted id.

    Raises:
        ValueError: Naming the file and, where one is at fault, the entry.
    """
    with gc_paused():
        return _load(gt_file, res_file)


def _load(gt_file: str, res_file: str) -> Tuple[DetectionArrays, List[str]]:
    # a large results file: its tail is parsed in a child meanwhile
    split = _split_point(gt_file, res_file)
    with contextlib.ExitStack() as stack:
        tail = None
        if split is not None:
            try:
                tail = stack.enter_context(ForkedArrays(functools.partial(
                    _raw_tail_columns, res_file, split[1])))
            except OSError:  # no process to spare: all of it here
                split = None
        img_ids, cats, images, categories, g = _ground_truth(gt_file)
        parts = _result_columns(res_file, images, categories, split, tail)
    d = _concat(parts)
    del parts
    arrays = DetectionArrays(
        det_boxes=d['boxes'], det_scores=d['scores'], det_labels=d['labels'],
        det_imgs=d['imgs'], gt_boxes=g['boxes'], gt_labels=g['labels'],
        gt_imgs=g['imgs'], gt_ignore=g['ignore'], gt_crowd=g['crowd'],
        num_classes=len(cats), img_ids=list(img_ids), box_format='xywh',
        gt_areas=g['areas'], gt_ids=g['ids'])
    names = [str(c.get('name', c['id'])) for c in cats]
    return arrays, names


def _ground_truth(gt_file: str) -> tuple:
    """``(sorted image ids, categories sorted by id, image index, category
    index, columns)`` of a GT file: its typed records when it is well
    formed (see :mod:`.coco_gt_records`), else its plain JSON checked."""
    with open(gt_file, 'rb') as f:
        data = f.read()
    try:
        typed = typed_gt(data)
        if typed is not None:
            img_ids, cats, columns = typed
            images = _IdIndex(img_ids)
            categories = _IdIndex([c['id'] for c in cats])
            g = _mapped_columns('annotation', columns, 0, images, categories)
            return img_ids, cats, images, categories, g
        gt = _parse(data, gt_file)
        del data
        img_ids, cats = _images_and_categories(gt)
        images = _IdIndex(img_ids)
        categories = _IdIndex([c['id'] for c in cats])
        anns = gt.get('annotations', [])
        if not isinstance(anns, list):
            raise ValueError("'annotations' is not a list")
        g = _entry_columns('annotation', anns, 0, images, categories,
                           with_score=False)
        g.update(_annotation_flags(anns, g['boxes']))
    except ValueError as err:
        if str(err).startswith(gt_file):
            raise
        raise ValueError(f'{gt_file}: {err}') from None
    return img_ids, cats, images, categories, g


def _result_columns(res_file: str, images: '_IdIndex',
                    categories: '_IdIndex', split: Optional[Tuple[int, int]],
                    tail: Optional[ForkedArrays]) -> List[dict]:
    """The columns of the results, a dict per slice; with ``split``, the
    head here and the tail from ``tail`` (redone here if it gave none)."""
    try:
        try:
            end, cut = split or (None, 0)
            parts = [
                _slice_columns(part, start, images, categories)
                for start, part in result_slices(res_file, end=end)
            ]
            if split is not None:
                parts += _tail_columns(res_file, cut, tail.result(), images,
                                       categories, sum(map(_length, parts)))
        except NotSliceable:
            entries = results_list(read_json(res_file), res_file)
            parts = [_entry_columns('result', entries, 0, images,
                                    categories, with_score=True)]
            del entries
    except ValueError as err:
        if str(err).startswith(res_file):
            raise
        raise ValueError(f'{res_file}: {err}') from None
    return parts


def _tail_columns(res_file: str, cut: int, raw: Optional[dict],
                  images: '_IdIndex', categories: '_IdIndex',
                  first: int) -> List[dict]:
    """The columns of the entries from byte ``cut`` on: the child's
    ``raw`` ones with ids mapped, or parsed here when it gave none or an id
    is unknown (naming the entry, entry ``first`` being the first here)."""
    if raw is not None:
        imgs = images.positions(raw.pop('img_ids'))
        labels = categories.positions(raw.pop('cat_ids'))
        if (imgs >= 0).all() and (labels >= 0).all():
            return [dict(raw, imgs=imgs, labels=labels)]
    return [
        _slice_columns(part, start, images, categories)
        for start, part in result_slices(res_file, begin=cut, start=first)
    ]


def _slice_columns(part, start: int, images: '_IdIndex',
                   categories: '_IdIndex') -> dict:
    """The columns of a slice of :func:`.json_slices.result_slices`:
    its records' columns with ids mapped, or its plain entries checked."""
    if isinstance(part, dict):
        return _mapped_columns('result', part, start, images, categories)
    return _entry_columns('result', part, start, images, categories,
                          with_score=True)


def _raw_tail_columns(res_file: str, cut: int) -> Optional[dict]:
    """In the child: boxes, scores and int image and category ids of the
    entries from byte ``cut`` on; None if any is off (the parent then
    parses them itself, and names what is wrong)."""
    parts = []
    try:
        for _, part in result_slices(res_file, begin=cut):
            columns = part if isinstance(part, dict) else _fast_columns(
                part, with_score=True)
            if columns is None:
                return None
            img_ids = _int_array(columns.pop('imgs'))
            cat_ids = _int_array(columns.pop('cats'))
            if img_ids is None or cat_ids is None:
                return None
            parts.append(dict(columns, img_ids=img_ids, cat_ids=cat_ids))
    except NotSliceable:
        return None
    return _concat(parts)


def _split_point(gt_file: str, res_file: str) -> Optional[Tuple[int, int]]:
    """``(end, cut)`` where a large results file splits between two
    entries (``end`` after the first's ``}``, ``cut`` at the second's
    ``{``), such that the parent's share (GT file and results up to
    ``end``) about matches the child's; None when there is nothing to gain.
    """
    try:  # missing files are reported as usual, in the usual order
        res_size, gt_size = map(os.path.getsize, (res_file, gt_file))
    except OSError:
        return None
    if res_size < _FORK_MIN_BYTES or not spare_cpu():
        return None
    # as measured at 500k results (msgspec records for both files): a GT
    # byte costs the parent about 1.1 tail bytes of the child, and a head
    # byte 1.12 (the parent maps ids and checks; the child's ids are mapped
    # afterwards, in the parent): both finish about together
    return entry_bounds_after(
        res_file, max(100 * res_size - 110 * gt_size, 0) // 212)


def read_json(path: str):
    """The content of a json file; a parse error names the file."""
    with open(path, 'rb') as f:
        data = f.read()
    return _parse(data, path)


def _parse(data: bytes, path: str):
    with gc_paused():
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid JSON: {err}') from None


def results_list(res, res_file: str) -> list:
    if isinstance(res, dict) and 'annotations' in res:
        res = res['annotations']
    if not isinstance(res, list):
        raise ValueError(f'{res_file}: expected a list of results '
                         '{image_id, category_id, bbox, score}, got '
                         f'{type(res).__name__}')
    return res


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


def _entry_columns(kind: str, entries: list, start: int, images: '_IdIndex',
                   categories: '_IdIndex', with_score: bool) -> dict:
    """``boxes``, ``imgs``, ``labels`` (and ``scores``) of json entries.

    ``start`` is the position of the first entry in its file (messages).
    """
    columns = _fast_columns(entries, with_score)
    if columns is None:  # find the entry to blame (raises on a bad box)
        refuse_strings(kind, entries, with_score, start)
        arrays = check_coco_entries(kind, entries, with_score, start=start)
        columns = dict(boxes=arrays[0],
                       imgs=[e.get('image_id') for e in entries],
                       cats=[e.get('category_id') for e in entries])
        if with_score:
            columns['scores'] = arrays[1]
    return _mapped_columns(kind, columns, start, images, categories)


def _mapped_columns(kind: str, columns: dict, start: int,
                    images: '_IdIndex', categories: '_IdIndex') -> dict:
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


def _fast_columns(entries: list, with_score: bool):
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


class _IdIndex:
    """Position of ids in a sorted id list: a sorted search when all are
    ints, a dict lookup otherwise (as pycocotools' dicts compare ids)."""

    def __init__(self, ids: Sequence):
        self.ids = list(ids)
        self._ints = _int_array(self.ids)
        self._dict = self._table = None

    def positions(self, values: list) -> np.ndarray:
        """``(N,)`` int64 position of each value, -1 if unknown."""
        ints = _int_array(values) if self._ints is not None else None
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


def _int_array(values: list):
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


def _length(columns: dict) -> int:
    return len(columns['scores'])


def _concat(parts: List[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
