"""The entries of a large JSON list, a slice of whole entries at a time.

A COCO results file is a flat list of small objects. It is read in blocks
and parsed a slice of whole entries at a time (cut where ``}``, ``,`` and
``{`` meet between entries), so only one slice of Python objects lives at
once. A cut that is not between two entries (inside a string or a nested
value) leaves a slice that is not valid JSON: :class:`NotSliceable` then
tells the caller to parse the whole file, which reports errors with the
file's own line and column. A byte range between two entries is read the
same way, so two processes can share a file
(:func:`entry_bounds_after`).

A slice is first decoded by msgspec into typed records (:class:`Result`)
and made columns (:func:`result_columns`): no dict per entry, and a string
or bool where a number belongs, a bbox of another length, a missing field
or a number out of range fail the decode. Such a slice (or any other
oddity) is parsed again by orjson into plain values, whose checks name the
entry and field as ever, and which keep pycocotools' leniency (a float or
bool id, a bool score). On 500k entries the records cost 0.53 CPU-s where
orjson's dicts and their columns cost 0.94.

Python's cyclic garbage collector is paused while parsing
(:func:`gc_paused`): it would otherwise walk the millions of fresh
containers again and again (longer than the parse itself), and JSON values
cannot form cycles.
"""
import contextlib
import gc
import itertools
import math
import operator
from typing import Iterator, List, Optional, Tuple, Union

import msgspec
import numpy as np
import orjson

#: bytes read at once from a results file: the objects of one slice fit in
#: the memory that the previous slice freed (Python keeps an empty arena,
#: glibc its free chunks), where large slices get fresh pages from the
#: kernel every time (page faults, and a higher peak memory)
BLOCK_BYTES = 256 << 10


class Result(msgspec.Struct, gc=False):
    """A well-formed results entry; other keys (``segmentation``,
    ``area``) are skipped. Integer ids only: anything else (a string id,
    ``1.0``) goes the orjson way, which compares ids as pycocotools does."""
    image_id: int
    category_id: int
    bbox: Tuple[float, float, float, float]
    score: float


_RESULTS = msgspec.json.Decoder(List[Result])
_BBOX, _SCORE, _IMAGE_ID, _CATEGORY_ID = (
    operator.attrgetter(k) for k in ('bbox', 'score', 'image_id',
                                     'category_id'))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (JSON values have no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def result_slices(
        res_file: str, begin: int = 0, end: Optional[int] = None,
        start: int = 0) -> Iterator[Tuple[int, Union[dict, list]]]:
    """``(position of the first entry, columns or entries)`` of a results
    file, a slice of whole entries at a time (see the module docstring):
    the entries in bytes ``begin:end`` (between entries), the first of
    them being entry ``start``.

    Returns:
        Iterator: Per slice, :func:`result_columns` of its records (a dict)
        when they are all well formed, else its entries as plain JSON
        values (a list), to be checked by the caller.

    Raises:
        NotSliceable: When the file is not a bare list or a slice does not
            parse: the caller parses the whole file instead.
    """
    for text in entry_texts(res_file, begin, end):
        with gc_paused():
            part = _typed_columns(text)
            if part is None:
                try:
                    part = orjson.loads(text)
                except orjson.JSONDecodeError:
                    raise NotSliceable from None
        yield start, part
        start += len(part['scores'] if isinstance(part, dict) else part)


def _typed_columns(text: memoryview) -> Optional[dict]:
    try:
        records = _RESULTS.decode(text)
    except msgspec.MsgspecError:
        return None
    return result_columns(records)


def result_columns(records: List[Result]) -> Optional[dict]:
    """``boxes`` ``(N, 4)`` and ``scores`` ``(N,)`` float64, ``imgs`` and
    ``cats`` ``(N,)`` int64 json ids of records; None when there are none,
    an id does not fit int64 or a box has a negative size."""
    n = len(records)
    if not n:
        return None
    try:
        imgs = np.fromiter(map(_IMAGE_ID, records), np.int64, count=n)
        cats = np.fromiter(map(_CATEGORY_ID, records), np.int64, count=n)
    except OverflowError:
        return None
    # one flat pass is twice as fast as np.array on nested tuples
    boxes = np.fromiter(itertools.chain.from_iterable(map(_BBOX, records)),
                        np.float64, count=4 * n).reshape(n, 4)
    if (boxes[:, 2:] < 0).any():  # the dict checks name the entry
        return None
    scores = np.fromiter(map(_SCORE, records), np.float64, count=n)
    return dict(boxes=boxes, scores=scores, imgs=imgs, cats=cats)


class NotSliceable(Exception):
    """The file is not a bare list of entries: parse it whole."""


def entry_texts(path: str, begin: int = 0,
                 end: Optional[int] = None) -> Iterator[memoryview]:
    """JSON arrays of consecutive whole entries of a top-level list, from
    its start (``begin`` 0) or from the entry at byte ``begin``, up to its
    end or to byte ``end`` (just after an entry).

    One buffer is reused: ``[``, the entries, and a ``]`` written over the
    separator after the last whole one (each text is valid until the next
    is asked for). Fresh buffers per slice would cost a page fault per
    4 KiB every time.
    """
    with open(path, 'rb') as f:
        f.seek(begin)
        left = math.inf if end is None else end - begin  # bytes to read
        head = f.read(min(BLOCK_BYTES, left))
        left -= len(head)
        if not begin:
            head = head.lstrip()
            if not head.startswith(b'['):
                raise NotSliceable
            if head[1:].lstrip().startswith(b']'):
                raise NotSliceable  # empty (or malformed): parse it whole
            head = head[1:]
        buf = bytearray(2 * max(BLOCK_BYTES, len(head)) + 2)
        buf[0] = ord('[')
        filled = len(head)  # bytes after the '['
        buf[1:1 + filled] = head
        del head
        while True:
            if len(buf) - 1 - filled < BLOCK_BYTES:  # an entry > a block
                grown = bytearray(2 * len(buf))
                grown[:1 + filled] = buf[:1 + filled]
                buf = grown
            read = f.readinto(memoryview(buf)[1 + filled:1 + filled +
                                              min(BLOCK_BYTES, left)])
            filled += read
            left -= read
            if not read:
                if end is not None:  # the list goes on: close it here
                    buf[1 + filled] = ord(']')
                    filled += 1
                yield memoryview(buf)[:1 + filled]  # ends with the ']'
                return
            end_, cut = last_entry_bounds(buf, 1, 1 + filled)
            if cut:
                separator = buf[end_]
                buf[end_] = ord(']')
                yield memoryview(buf)[:end_ + 1]
                buf[end_] = separator
                rest = buf[cut:1 + filled]
                buf[1:1 + len(rest)] = rest
                filled = len(rest)


def last_entry_bounds(text: bytearray, lo: int,
                       hi: int) -> Tuple[int, int]:
    """``(end, start)`` in ``text[lo:hi]``: the last ``{`` preceded by
    ``}`` and ``,`` (whitespace between) starts an entry at ``start``, the
    one before ends at ``end`` (its ``}``); ``(0, 0)`` if there is none."""
    search_end = hi
    while True:
        pos = text.rfind(b'{', lo, search_end)
        if pos <= lo:
            return 0, 0
        base = max(lo, pos - 64)
        before = text[base:pos].rstrip()
        closed = before[:-1].rstrip()
        if before.endswith(b',') and closed.endswith(b'}'):
            return base + len(closed), pos
        search_end = pos


def entry_bounds_after(path: str,
                       offset: int) -> Optional[Tuple[int, int]]:
    """``(end, start)`` of two consecutive entries of the list in ``path``
    within a block from byte ``offset`` on (absolute positions: ``end``
    just after the first's ``}``, ``start`` at the second's ``{``); None
    if that block has none."""
    with open(path, 'rb') as f:
        f.seek(offset)
        window = bytearray(f.read(BLOCK_BYTES))
    end, start = last_entry_bounds(window, 0, len(window))
    return (offset + end, offset + start) if start else None
