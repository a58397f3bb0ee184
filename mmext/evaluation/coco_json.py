"""COCO-format GT and results json files -> one :class:`DetectionArrays`.

The fast path of ``tools/analysis/eval_dets.py --gt-json --res-json``:
msgspec decodes the GT (:mod:`.coco_gt_json`) and the results into typed
records (orjson any that are not all well formed), columns become arrays
in one go (:mod:`.coco_columns`), ids are mapped with a table (or a
sorted search), and nothing is held per image. Numpy, msgspec and orjson
only.

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
import os
from typing import List, Optional, Tuple

import numpy as np

from .coco_columns import (IdIndex, entry_columns, fast_columns, int_array,
                           mapped_columns, parse_json)
from .coco_gt_json import ground_truth
from .functional.forked_arrays import ForkedArrays, spare_cpu
from .functional.records import DetectionArrays
from .json_slices import (NotSliceable, entry_bounds_after, gc_paused,
                          result_slices)

#: results files from this size on (about 50k entries) are parsed by two
#: processes, each a part (forking costs a few milliseconds)
_FORK_MIN_BYTES = 8 << 20


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
        img_ids, cats, images, categories, g = ground_truth(gt_file)
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


def _result_columns(res_file: str, images: IdIndex,
                    categories: IdIndex, split: Optional[Tuple[int, int]],
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
            parts = [entry_columns('result', entries, 0, images,
                                   categories, with_score=True)]
            del entries
    except ValueError as err:
        if str(err).startswith(res_file):
            raise
        raise ValueError(f'{res_file}: {err}') from None
    return parts


def _tail_columns(res_file: str, cut: int, raw: Optional[dict],
                  images: IdIndex, categories: IdIndex,
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


def _slice_columns(part, start: int, images: IdIndex,
                   categories: IdIndex) -> dict:
    """The columns of a slice of :func:`.json_slices.result_slices`:
    its records' columns with ids mapped, or its plain entries checked."""
    if isinstance(part, dict):
        return mapped_columns('result', part, start, images, categories)
    return entry_columns('result', part, start, images, categories,
                         with_score=True)


def _raw_tail_columns(res_file: str, cut: int) -> Optional[dict]:
    """In the child: boxes, scores and int image and category ids of the
    entries from byte ``cut`` on; None if any is off (the parent then
    parses them itself, and names what is wrong)."""
    parts = []
    try:
        for _, part in result_slices(res_file, begin=cut):
            columns = part if isinstance(part, dict) else fast_columns(
                part, with_score=True)
            if columns is None:
                return None
            img_ids = int_array(columns.pop('imgs'))
            cat_ids = int_array(columns.pop('cats'))
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
    # as measured at 500k results (msgspec records for both files, the
    # child's columns mapped from shared memory): a GT byte costs the
    # parent about 1.32 tail bytes of the child, and a head byte about one
    # (the parent maps ids and checks; the child's ids are mapped
    # afterwards, in the parent): both finish about together
    return entry_bounds_after(
        res_file, max(100 * res_size - 132 * gt_size, 0) // 200)


def read_json(path: str):
    """The content of a json file; a parse error names the file."""
    with open(path, 'rb') as f:
        data = f.read()
    return parse_json(data, path)


def results_list(res, res_file: str) -> list:
    if isinstance(res, dict) and 'annotations' in res:
        res = res['annotations']
    if not isinstance(res, list):
        raise ValueError(f'{res_file}: expected a list of results '
                         '{image_id, category_id, bbox, score}, got '
                         f'{type(res).__name__}')
    return res


def _length(columns: dict) -> int:
    return len(columns['scores'])


def _concat(parts: List[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
