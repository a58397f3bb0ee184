"""Atomic, durable local file writes, and the mmengine file backend using
them.

A file written with :func:`atomic_write` is either the complete new content
or, if the process dies or the write fails at any moment, the previous file
unchanged: the bytes go to a temporary file in the same directory, are
flushed and fsync'ed, the temporary file is renamed over the target
(``os.replace``, atomic on POSIX file systems), and the directory is
fsync'ed so the rename itself survives a power loss. The mechanism is
:func:`mmext.visualization.writers.atomic_path` (the lowest layer both the
writers and the engine import); this module fixes the temporary name.
"""
import os.path as osp
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend

from mmext.visualization.writers import atomic_path

# the name configs and hooks pass as ``backend_args=dict(backend=...)``
DURABLE_BACKEND = 'mmext_durable_local'


def temp_path(path: Union[str, Path]) -> str:
    """The temporary file :func:`atomic_write` uses for ``path``.

    Hidden, in the same directory (a rename does not cross file systems),
    and fixed per target, so a write killed half-way leaves at most one
    stray file, which the next write of the same target replaces.
    """
    directory, name = osp.split(osp.abspath(path))
    return osp.join(directory, f'.{name}.tmp')


def atomic_write(path: Union[str, Path], data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once, durably.

    Args:
        path (str | Path): Target file; its directory must exist.
        data (bytes): The new content.

    Raises:
        OSError: If the write, the fsync or the rename fails; ``path`` is
            then left as it was and the temporary file is removed.
    """
    with atomic_path(path, durable=True, tmp=temp_path(path)) as tmp, \
            open(tmp, 'wb') as f:
        f.write(data)


@register_backend(DURABLE_BACKEND)
class DurableLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put`` and ``put_text`` are
    :func:`atomic_write`.

    Everything that writes through mmengine's file I/O with
    ``backend_args=dict(backend='mmext_durable_local')`` (``Runner``'s
    ``save_checkpoint``, ``mmengine.fileio.dump``) gets complete files or
    none. :class:`mmext.engine.DurableCheckpointHook` selects it for local
    checkpoint directories.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically, creating its directory.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Path to write data.
        """
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(filepath)))
        atomic_write(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically, creating its directory.

        Args:
            obj (str): Text to be written.
            filepath (str | Path): Path to write data.
            encoding (str): Text encoding. Defaults to ``'utf-8'``.
        """
        self.put(obj.encode(encoding), filepath)
