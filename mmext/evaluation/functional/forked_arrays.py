"""Compute named numpy arrays in a forked child process, meanwhile the
parent works on.

Two users: the COCO json ingest parses the tail of a large results file
this way (:mod:`mmext.evaluation.coco_json`), and :func:`.coco.coco_eval`
with ``processes=2`` evaluates part of the classes. The child inherits
everything the parent has loaded (no pickling, no fresh interpreter) and
writes its arrays as raw bytes into an in-memory file (``memfd``, else an
unlinked temporary file) that the parent maps once the child has ended:
the parent copies nothing (a pipe cost it ~12 ms per 16 MB, the copy and
the page faults of fresh arrays, while the child waited to write).
Whatever goes wrong in the child (an exception, a crash) only makes
:meth:`ForkedArrays.result` return None: the caller then does the work
itself, so errors surface from the parent with their usual messages and a
result is never partial.

Numpy and the standard library only.
"""
import json
import math
import mmap
import os
import signal
import struct
import tempfile
import threading
import time
from typing import Callable, Dict, Optional

import numpy as np

_LENGTH = struct.Struct('<Q')
#: each array starts at a multiple of this many bytes of the file
_ALIGN = 64


def spare_cpu() -> bool:
    """Whether a forked child would run beside this process: see
    :func:`spare_cpus`."""
    return spare_cpus() > 0


def spare_cpus() -> int:
    """How many forked children would run beside this process: 0 unless
    fork exists and no other Python thread runs (one might hold a lock the
    child needs); else the CPUs this process may use that are idle now (on
    a busy machine a child would only queue, and its page copying would
    cost more than it saves)."""
    if not hasattr(os, 'fork') or threading.active_count() > 1:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    # the running tasks include this one; one running half the time on
    # average leaves no CPU to spare
    idle = math.ceil(cpus - _running_tasks() - 0.5)
    return max(min(idle, cpus - 1), 0)


def _running_tasks() -> float:
    """Tasks of other processes running or runnable now, plus this one
    (Linux), else the 1-minute load average (about as many).

    The kernel's count is of this instant and counts threads. This
    process's own other threads are left out: OpenBLAS's workers spin for
    some 50 ms after ``import numpy``, and would make an idle CPU look
    busy (a forked child takes its CPU from them, as they would yield it
    anyway). So are blips, the least of a few counts over about 1 ms: a
    task that runs for a moment (a kernel thread) is not a busy process.
    """
    counts = []
    for n in range(_SAMPLES):
        try:
            with open(_LOADAVG) as f:
                running = float(f.read().split()[3].split('/')[0])
        except (OSError, IndexError, ValueError):
            break
        counts.append(running - _own_other_running_threads())
        if n + 1 < _SAMPLES:
            time.sleep(_SAMPLE_GAP_S)
    if counts:
        return max(min(counts), 1.0)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # unknown: assume no other work
        return 1.0


_LOADAVG = '/proc/loadavg'
_SAMPLES, _SAMPLE_GAP_S = 3, 0.0005


def _own_other_running_threads() -> int:
    """Threads of this process other than this one that are running or
    runnable (0 where ``/proc`` does not tell)."""
    me, count = threading.get_native_id(), 0
    try:
        tasks = os.listdir('/proc/self/task')
    except OSError:
        return 0
    for tid in tasks:
        if tid == str(me):
            continue
        try:
            with open(f'/proc/self/task/{tid}/stat') as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # ended meanwhile
        count += state == 'R'
    return count


def _release_free_heap() -> None:
    """Give the heap memory that is free but kept (glibc keeps what a
    parse freed) back to the system before a fork: a child allocating
    there would otherwise copy each page it writes (a page fault and 4 KiB
    copied, counted in the memory of both processes) where fresh pages
    cost a fault only. Nothing happens without glibc."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes
            _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):  # not glibc
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM = None


class ForkedArrays:
    """``fn()`` run in a forked child; :meth:`result` collects its arrays.

    Args:
        fn (callable): Returns a dict of numpy arrays, or None when it
            cannot do the job (the parent then does it itself).

    Always :meth:`close` it (a ``with`` block does): a child still running
    is killed then, and every child is reaped.

    Raises:
        OSError: When no child can be started (the caller does the work).
    """

    def __init__(self, fn: Callable[[], Optional[Dict[str, np.ndarray]]]):
        _release_free_heap()
        self._file = _shared_file()
        try:
            pid = os.fork()
        except OSError:  # no process to spare (limits, memory)
            self._file.close()
            raise
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                _write(self._file, fn())
                code = 0
            finally:
                os._exit(code)
        self._pid: Optional[int] = pid

    def result(self) -> Optional[Dict[str, np.ndarray]]:
        """The child's arrays (waiting for it to end), or None if it gave
        none or failed."""
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        try:
            if os.waitstatus_to_exitcode(status) != 0:
                return None
            return _read(self._file)
        except (OSError, ValueError):  # a file cut short: no result
            return None
        finally:
            self._file.close()

    def close(self) -> None:
        """Kill the child if it is still running, reap it, close the
        file."""
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._pid = None
        self._file.close()

    def __enter__(self) -> 'ForkedArrays':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _shared_file():
    """A file in memory (Linux ``memfd``) shared with the child, or an
    unlinked temporary file elsewhere."""
    if hasattr(os, 'memfd_create'):
        try:
            return open(os.memfd_create('mmext-forked-arrays'), 'w+b')
        except OSError:
            pass
    return tempfile.TemporaryFile()


def _write(file, arrays: Optional[Dict[str, np.ndarray]]) -> None:
    """A length-prefixed json header (names, dtypes, shapes, offsets;
    empty for None), then the raw bytes of each array, aligned."""
    # C order, 0-d arrays kept (ascontiguousarray would make them 1-d)
    arrays = {k: np.asarray(v, order='C') for k, v in (arrays or {}).items()}
    entries, offset = [], 0
    for name, value in arrays.items():
        entries.append((name, value.dtype.str, value.shape, offset))
        offset += _aligned(value.nbytes)
    header = json.dumps(entries).encode() if arrays else b''
    file.write(_LENGTH.pack(len(header)) + header)
    start = _data_start(len(header))
    for (_, _, _, at), value in zip(entries, arrays.values()):
        file.seek(start + at)
        file.write(memoryview(value.reshape(-1)).cast('B'))
    file.flush()


def _read(file) -> Optional[Dict[str, np.ndarray]]:
    """The arrays of :func:`_write`, mapped copy-on-write from ``file``
    (no copy; writable, private to this process)."""
    file.seek(0)
    prefix = file.read(_LENGTH.size)
    if len(prefix) != _LENGTH.size:
        raise ValueError('the child wrote no header')
    size, = _LENGTH.unpack(prefix)
    if not size:
        return None
    entries = json.loads(file.read(size))
    start = _data_start(size)
    total = os.fstat(file.fileno()).st_size
    view = memoryview(mmap.mmap(file.fileno(), total,
                                access=mmap.ACCESS_COPY)) if total else None
    arrays = {}
    for name, dtype, shape, at in entries:
        dtype = np.dtype(dtype)
        count = math.prod(shape)
        if not count:
            arrays[name] = np.empty(shape, dtype)
            continue
        end = start + at + count * dtype.itemsize
        if end > total:
            raise ValueError('the child wrote less than its header says')
        arrays[name] = np.frombuffer(view[start + at:end],
                                     dtype=dtype).reshape(shape)
    return arrays


def _data_start(header_size: int) -> int:
    return _aligned(_LENGTH.size + header_size)


def _aligned(size: int) -> int:
    """``size`` rounded up to a multiple of ``_ALIGN``."""
    return -(-size // _ALIGN) * _ALIGN
