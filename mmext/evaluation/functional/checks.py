"""Input validation shared by the evaluators: clear errors, nothing dropped.

Every error names the offending entry (its position, its image and, where
given, the image's name) and the field, so a bad prediction can be found in a
results file of a million boxes.
"""
from typing import Optional, Sequence, Tuple

import numpy as np


def _where(kind: str, i: int, imgs: np.ndarray,
           img_names: Optional[Sequence]) -> str:
    img = int(imgs[i])
    name = img_names[img] if img_names is not None else img
    return f'{kind} #{i} (image {name!r})'


def check_boxes_labels(kind: str,
                       boxes,
                       labels,
                       imgs,
                       num_classes: int,
                       num_images: Optional[int] = None,
                       scores=None,
                       img_names: Optional[Sequence] = None,
                       box_format: str = 'xyxy',
                       keep_float32: bool = False) -> Tuple[np.ndarray, ...]:
    """Validate flat per-box arrays and return them as numpy arrays.

    Args:
        kind (str): ``'detection'`` or ``'ground truth'``, used in messages.
        boxes: ``(N, 4)`` boxes, ``x1, y1, x2, y2`` or ``x, y, w, h``.
        labels: ``(N,)`` class indices in ``[0, num_classes)``.
        imgs: ``(N,)`` image indices in ``[0, num_images)``.
        num_classes (int): Number of classes.
        num_images (int, optional): Number of images, when known.
        scores: ``(N,)`` scores (detections only).
        img_names (Sequence, optional): Image names for messages.
        box_format (str): ``'xyxy'`` or ``'xywh'``.
        keep_float32 (bool): Return float32 boxes and scores as they are
            instead of float64 copies (a caller that converts only what
            it computes on saves copying every box). Defaults to False.

    Returns:
        tuple: ``boxes`` (float64 ``(N, 4)``), ``labels`` (int64), ``imgs``
        (int64) and, when given, ``scores`` (float64); float32 boxes and
        scores stay float32 with ``keep_float32``.

    Raises:
        ValueError: On a shape mismatch, a non-finite value, a box with
            ``x2 < x1`` / ``y2 < y1`` (negative width or height), or a label
            or image index out of range.
    """
    boxes = _floats(boxes, keep_float32)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'{kind} boxes must have shape (N, 4), '
                         f'got {boxes.shape}')
    n = len(boxes)
    labels = np.asarray(labels).reshape(-1)
    imgs = np.asarray(imgs).reshape(-1)
    fields = dict(labels=labels, image_indices=imgs)
    if scores is not None:
        scores = _floats(scores, keep_float32).reshape(-1)
        fields['scores'] = scores
    for name, arr in fields.items():
        if len(arr) != n:
            raise ValueError(f'{kind} {name} has {len(arr)} entries but '
                             f'there are {n} boxes')
    labels = _integers(kind, 'labels', labels)
    imgs = _integers(kind, 'image_indices', imgs)
    if n:
        _check_ranges(kind, boxes, labels, imgs, num_classes, num_images,
                      scores, img_names, box_format)
    return (boxes, labels, imgs) + ((scores, ) if scores is not None else ())


def _floats(values, keep_float32: bool) -> np.ndarray:
    """``values`` as float64, or as they are if float32 and allowed."""
    values = np.asarray(values)
    if keep_float32 and values.dtype == np.float32:
        return values
    return values.astype(np.float64, copy=False)


def _integers(kind: str, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as int64, refusing non-integral numbers."""
    if len(values) and not np.issubdtype(values.dtype, np.integer):
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            i = int(bad.argmax())
            raise ValueError(f'{kind} #{i}: {name} must be integers, '
                             f'got {values[i]!r}')
    return values.astype(np.int64, copy=False)


def _check_ranges(kind: str, boxes: np.ndarray, labels: np.ndarray,
                  imgs: np.ndarray, num_classes: int,
                  num_images: Optional[int], scores: Optional[np.ndarray],
                  img_names: Optional[Sequence], box_format: str) -> None:
    """The value checks of :func:`check_boxes_labels` on non-empty input.

    Each is one cheap whole-array test (a min, a max or an ``all``); only
    a failing one looks for the first bad entry, to name it.
    """
    if imgs.min() < 0 or (num_images is not None
                          and imgs.max() >= num_images):
        i = _first((imgs < 0) | ((imgs >= num_images)
                                 if num_images is not None else False))
        raise ValueError(f'{kind} #{i}: image index {imgs[i]} out '
                         f'of range [0, {num_images})')
    if not np.isfinite(boxes).all():
        i = _first(~np.isfinite(boxes).all(axis=1))
        raise ValueError(f'{_where(kind, i, imgs, img_names)}: '
                         f'non-finite box {boxes[i].tolist()}')
    # x2 - x1 < 0 exactly when x2 < x1; 1-D columns are faster than (N, 2)
    if box_format == 'xyxy':
        negative = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    else:
        negative = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    if negative.any():
        i = _first(negative)
        raise ValueError(
            f'{_where(kind, i, imgs, img_names)}: box '
            f'{boxes[i].tolist()} ({box_format}) has x2 < x1 or '
            'y2 < y1 (negative width or height)')
    if labels.min() < 0 or labels.max() >= num_classes:
        i = _first((labels < 0) | (labels >= num_classes))
        raise ValueError(f'{_where(kind, i, imgs, img_names)}: label '
                         f'{labels[i]} outside the {num_classes} '
                         'classes')
    if scores is not None and not np.isfinite(scores).all():
        i = _first(~np.isfinite(scores))
        raise ValueError(f'{_where(kind, i, imgs, img_names)}: '
                         f'non-finite score {scores[i]}')


def _first(mask: np.ndarray) -> int:
    """Position of the first True in ``mask`` (which has one)."""
    return int(mask.argmax())


def check_flags(kind: str, name: str, flags, n: int) -> np.ndarray:
    """Per-box boolean flags (``None`` means all False) of length ``n``."""
    if flags is None:
        return np.zeros(n, dtype=bool)
    flags = np.asarray(flags).reshape(-1)
    if len(flags) != n:
        raise ValueError(f'{kind} {name} has {len(flags)} entries but there '
                         f'are {n} boxes')
    return flags.astype(bool)


def check_iou_thrs(iou_thrs) -> np.ndarray:
    """IoU thresholds as a float64 array, each in ``(0, 1]``.

    A threshold of 0 or below makes every overlapping pair a match (and
    -1 every pair of the same class), one above 1 makes none: both give
    meaningless APs rather than an error downstream, so they are refused
    here.

    Args:
        iou_thrs (float | Sequence[float]): One or more thresholds.

    Returns:
        np.ndarray: ``(T,)`` float64 thresholds, in the given order.

    Raises:
        ValueError: When there is no threshold, or one is NaN, not a
            number, or outside ``(0, 1]``; the message names the value.
    """
    try:
        thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f'iou_thrs must be numbers in (0, 1], got '
                         f'{iou_thrs!r}') from None
    if thrs.size == 0:
        raise ValueError('iou_thrs must hold at least one threshold in '
                         '(0, 1], got none')
    # NaN fails both comparisons, so it lands here too
    bad = np.flatnonzero(~((thrs > 0) & (thrs <= 1)))
    if bad.size:
        raise ValueError(f'IoU threshold {thrs[bad[0]]!r} is outside (0, 1] '
                         f'(iou_thrs={thrs.tolist()})')
    return thrs


def entry_name(kind: str, n: int, entry) -> str:
    """``result #3 (id 7, image_id 12)``: the keys a user can search for."""
    keys = [f'{k} {entry[k]!r}' for k in ('id', 'image_id')
            if isinstance(entry, dict) and k in entry]
    return f'{kind} #{n}' + (f' ({", ".join(keys)})' if keys else '')


def check_coco_entries(kind: str, entries: Sequence, with_score: bool,
                       start: int = 0) -> Tuple[np.ndarray, ...]:
    """Boxes (and scores) of COCO json entries, validated as given.

    Each entry must be an object whose ``bbox`` is 4 finite numbers
    ``[x, y, width, height]`` with a width and height of at least 0 and,
    when ``with_score``, whose ``score`` is a finite number. Errors quote
    the entry's ``bbox`` as written in the file (``xywh``), never a
    converted box.

    Args:
        kind (str): ``'annotation'`` or ``'result'``, used in messages.
        entries (Sequence[dict]): The json entries, in file order.
        with_score (bool): Whether each entry needs a ``score``.
        start (int): Position in the file of the first entry (a slice of
            a file is checked at a time). Defaults to 0.

    Returns:
        tuple: ``(N, 4)`` float64 ``xywh`` boxes and, with ``with_score``,
        ``(N,)`` float64 scores.

    Raises:
        ValueError: Naming the first bad entry by its position in the file,
            its ``id`` and ``image_id`` where present.
    """
    n = len(entries)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f'{kind} #{start + i} is not a json object: '
                             f'{entry!r:.80}')
    fields = [('bbox', (n, 4))] + ([('score', (n, ))] if with_score else [])
    out = []
    for name, shape in fields:
        values = [e.get(name) for e in entries]
        arr = _finite_array(values, shape)
        if arr is None:  # find the entry to blame, one by one
            i = next(i for i, v in enumerate(values)
                     if _finite_array(v, shape[1:]) is None)
            what = ('4 finite numbers [x, y, width, height]'
                    if name == 'bbox' else 'a finite number')
            where = entry_name(kind, start + i, entries[i])
            raise ValueError(f'{where}: {name} {values[i]!r} must be '
                             f'{what}')
        out.append(arr)
    bad = np.flatnonzero((out[0][:, 2:] < 0).any(axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f'{entry_name(kind, start + i, entries[i])}: bbox '
                         f"{entries[i]['bbox']!r} [x, y, width, height] has "
                         'a negative width or height')
    return tuple(out)


def _finite_array(values, shape: tuple) -> Optional[np.ndarray]:
    """``values`` as float64 of ``shape`` if all finite, else None."""
    if shape and shape[0] == 0:
        return np.zeros(shape)
    try:
        # None becomes NaN, so a missing value fails as not finite
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):  # ragged or not numeric
        return None
    if arr.shape != shape or not np.isfinite(arr).all():
        return None
    return arr
