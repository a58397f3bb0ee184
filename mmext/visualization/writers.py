"""Atomic file writers: a reader never sees a half-written output.

Each writer fills a temporary file next to the target and renames it over
the target (``os.replace``, atomic on POSIX file systems); on any error the
temporary file is removed and the target is left as it was.
"""
import contextlib
import json
import math
import os
import os.path as osp
import secrets
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path to write; renamed to ``path`` when the block ends
    without error, removed otherwise.

    Example:
        >>> with atomic_path('out/curve.png') as tmp:
        ...     fig.savefig(tmp, format='png')
    """
    directory, name = osp.split(osp.abspath(path))
    ext = osp.splitext(name)[1]
    # a fresh name, not mkstemp: the writer creates the file, so it gets the
    # umask's permissions (mkstemp's 0600 would hide outputs on shared dirs)
    tmp = osp.join(directory,
                   f'.{name}.{os.getpid()}.{secrets.token_hex(6)}{ext}')
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones and non-finite floats as
    None (JSON has no ``inf`` / ``nan``)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str, obj: Any, indent: int = None) -> None:
    """Write ``obj`` (see :func:`json_safe`) as JSON, atomically.

    Args:
        path (str): Target file; its folder must exist.
        obj: Dicts, lists, numbers, strings, numpy arrays and scalars.
        indent (int, optional): As :func:`json.dump`. Defaults to None.
    """
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(json_safe(obj), f, indent=indent, allow_nan=False)
