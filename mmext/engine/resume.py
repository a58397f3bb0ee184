"""Find the checkpoint to resume a run from: the newest one that loads."""
import glob
import os
import os.path as osp
import warnings
import zipfile
from typing import List, Optional

import torch

CHECKPOINT_PATTERNS = ('iter_*.pth', 'epoch_*.pth')


def checkpoint_load_error(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or ``None`` if it can.

    The file is read with the ``torch.load`` that mmengine's Runner uses
    (``weights_only`` default, with the globals ``import mmext`` allows) and
    must hold a Runner checkpoint (a dict with ``meta`` and ``state_dict``).
    A zip-format file, what ``torch.save`` writes, is memory-mapped: its zip
    directory and pickle are checked, which is what a truncated file fails,
    without reading the tensor data.

    Args:
        path (str): Checkpoint file.

    Returns:
        str | None: The reason it does not load, ``None`` if it does.
    """
    try:
        checkpoint = torch.load(
            path, map_location='cpu', mmap=zipfile.is_zipfile(path))
    except Exception as e:  # any failure to load is the answer
        return f'{type(e).__name__}: {e}'.splitlines()[0]
    if not (isinstance(checkpoint, dict)
            and {'meta', 'state_dict'} <= checkpoint.keys()):
        return 'not a Runner checkpoint (no meta and state_dict)'
    return None


def resume_candidates(work_dir: str) -> List[str]:
    """Checkpoints a run in ``work_dir`` may resume from, newest first.

    Candidates are the file ``work_dir/last_checkpoint`` names and the
    ``iter_*.pth`` / ``epoch_*.pth`` files of ``work_dir`` and of that
    file's directory (a hook's ``out_dir``). Newest means last modified, so
    a new run in an old work dir wins over the old run's higher numbers.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        list[str]: Existing files, newest first.
    """
    dirs = [work_dir]
    paths = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip()
        if last:
            paths.append(last)
            dirs.append(osp.dirname(last))
    for directory in dirs:
        for pattern in CHECKPOINT_PATTERNS:
            paths += glob.glob(osp.join(directory, pattern))
    unique = {osp.realpath(p): p for p in paths if osp.isfile(p)}
    return sorted(
        unique.values(),
        key=lambda p: (os.stat(p).st_mtime_ns, p),
        reverse=True)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint of ``work_dir`` that loads.

    What ``--resume`` without a path resumes from. Files that do not load
    (a save killed by a hook that writes in place leaves them truncated)
    are skipped with a warning naming each one and why.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: Path of the checkpoint, ``None`` if none loads.
    """
    for path in resume_candidates(work_dir):
        error = checkpoint_load_error(path)
        if error is None:
            return path
        warnings.warn(
            f'{path} is skipped for resuming: it does not load ({error})',
            stacklevel=2)
    return None
