"""Atomic file writers: a reader never sees a half-written output.

Each writer fills a temporary file next to the target and renames it over
the target (``os.replace``, atomic on POSIX file systems); on any error the
temporary file is removed and the target is left as it was.

Figures are :class:`matplotlib.figure.Figure` objects made by
:func:`new_figure`, not pyplot figures: they need no display, no global
backend switch (``Figure.savefig`` renders PNG with Agg) and no ``close``
(nothing registers them; they are freed like any object, also when drawing
fails).
"""
import contextlib
import os
import os.path as osp
import secrets
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import orjson


@contextlib.contextmanager
def atomic_path(path: Union[str, Path],
                durable: bool = False,
                tmp: Optional[str] = None) -> Iterator[str]:
    """A temporary path to write; renamed to ``path`` when the block ends
    without error, removed otherwise (``path`` is then left as it was).

    The one atomic-write primitive of mmext: the writers here use it as
    is, :func:`mmext.engine.durable_backend.atomic_write` (checkpoints)
    with ``durable=True`` and a fixed ``tmp``.

    Example:
        >>> with atomic_path('out/curve.png') as tmp:
        ...     fig.savefig(tmp, format='png')

    Args:
        path (str | Path): Target file; its directory must exist.
        durable (bool): Also fsync the written file before the rename and
            the directory after it, so that the new content and the rename
            survive a power loss. Defaults to False.
        tmp (str, optional): The temporary path, in ``path``'s directory
            (a rename does not cross file systems). Defaults to a fresh
            hidden name there, so concurrent writers of one target never
            share a temporary file.

    Raises:
        OSError: If the fsync or the rename fails.
    """
    directory, name = osp.split(osp.abspath(path))
    if tmp is None:
        # a fresh name, not mkstemp: the writer creates the file, so it
        # gets the umask's permissions (mkstemp's 0600 would hide outputs
        # on shared dirs)
        ext = osp.splitext(name)[1]
        tmp = osp.join(directory,
                       f'.{name}.{os.getpid()}.{secrets.token_hex(6)}{ext}')
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    if durable:
        _fsync(directory)  # the rename itself


def _fsync(path: str) -> None:
    """Flush a file's content, or a directory's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_figure(nrows: int = 1, ncols: int = 1, *,
               figsize: Tuple[float, float], dpi: int = 100,
               **subplots_kw) -> tuple:
    """A headless figure and its axes, as ``pyplot.subplots``.

    Args:
        nrows (int): Rows of axes. Defaults to 1.
        ncols (int): Columns of axes. Defaults to 1.
        figsize (tuple): Width and height in inches.
        dpi (int): Pixels per inch of the PNG. Defaults to 100.
        **subplots_kw: As :meth:`~matplotlib.figure.Figure.subplots`
            (``gridspec_kw``...).

    Returns:
        tuple: ``(figure, axes)``.
    """
    from matplotlib.figure import Figure  # not at import: matplotlib is slow
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def text_width_in(texts: Sequence[str], fontsize: float) -> float:
    """Width in inches of the widest of ``texts`` in matplotlib's default
    font, from the font metrics alone (no figure, no rendering): for
    computed layouts, much cheaper than ``tight_layout`` on large plots."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path
    font = FontProperties(size=fontsize)
    return max((text_to_path.get_text_width_height_descent(t, font, False)[0]
                for t in texts), default=0.0) / 72


def save_figure(fig, path: str, **savefig_kw) -> None:
    """Write ``fig`` as a PNG, atomically.

    Args:
        fig (matplotlib.figure.Figure): From :func:`new_figure`.
        path (str): Target file; its folder must exist.
        **savefig_kw: As :meth:`~matplotlib.figure.Figure.savefig`, e.g.
            ``bbox_inches='tight'``.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format='png', **savefig_kw)


def _json_default(obj: Any) -> Any:
    """What orjson cannot write itself: numpy arrays that are not
    C-contiguous or of another dtype, and numpy scalars."""
    if isinstance(obj, np.ndarray):
        # a contiguous array came back: orjson does not take its dtype
        return obj.tolist() if obj.flags.c_contiguous else \
            np.ascontiguousarray(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f'{type(obj).__name__} is not JSON serializable')


def write_json(path: str, obj: Any, indent: int = None) -> None:
    """Write ``obj`` as JSON, atomically, non-finite floats as null (JSON
    has no ``inf`` / ``nan``).

    orjson writes numpy arrays natively: a 240k-number curve file takes
    milliseconds where ``json`` took a second.

    Args:
        path (str): Target file; its folder must exist.
        obj: Dicts, lists, numbers, strings, numpy arrays and scalars.
        indent (int, optional): Any value: indent by two spaces (for files
            read by people); None: compact. Defaults to None.
    """
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    if indent is not None:
        option |= orjson.OPT_INDENT_2
    data = orjson.dumps(obj, default=_json_default, option=option)
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
