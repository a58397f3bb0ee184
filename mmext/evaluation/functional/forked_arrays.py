"""Compute named numpy arrays in a forked child process, meanwhile the
parent works on.

Two users: the COCO json ingest parses the tail of a large results file
this way (:mod:`mmext.evaluation.coco_json`), and :func:`.coco.coco_eval`
with ``processes=2`` evaluates part of the classes. The child inherits
everything the parent has loaded (no pickling, no fresh interpreter) and
sends its arrays back as raw bytes through a pipe. Whatever goes wrong in
the child (an exception, a crash) only makes :meth:`ForkedArrays.result`
return None: the caller then does the work itself, so errors surface from
the parent with their usual messages and a result is never partial.

Numpy and the standard library only.
"""
import json
import math
import os
import signal
import struct
import threading
import time
from typing import Callable, Dict, Optional

import numpy as np

_LENGTH = struct.Struct('<Q')


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
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare (limits, memory)
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(read_end)
                with open(write_end, 'wb') as pipe:
                    _send(pipe, fn())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        self._pid: Optional[int] = pid
        self._pipe = open(read_end, 'rb')

    def result(self) -> Optional[Dict[str, np.ndarray]]:
        """The child's arrays (waiting for them), or None if it gave none
        or failed."""
        try:
            arrays = _receive(self._pipe)
        except (OSError, ValueError, EOFError):  # the child broke off
            arrays = None
        self._pipe.close()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        return arrays if os.waitstatus_to_exitcode(status) == 0 else None

    def close(self) -> None:
        """Kill the child if it is still running, reap it, close the pipe."""
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._pid = None
        self._pipe.close()

    def __enter__(self) -> 'ForkedArrays':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _send(pipe, arrays: Optional[Dict[str, np.ndarray]]) -> None:
    """A length-prefixed json header (names, dtypes, shapes; empty for
    None), then the raw bytes of each array."""
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    header = json.dumps([(k, v.dtype.str, v.shape)
                         for k, v in arrays.items()]).encode() if arrays \
        else b''
    pipe.write(_LENGTH.pack(len(header)) + header)
    for value in arrays.values():
        pipe.write(_bytes_of(value))


def _receive(pipe) -> Optional[Dict[str, np.ndarray]]:
    size, = _LENGTH.unpack(_read_bytes(pipe, _LENGTH.size))
    if not size:
        return None
    arrays = {}
    for name, dtype, shape in json.loads(_read_bytes(pipe, size)):
        arrays[name] = array = np.empty(shape, dtype)
        view, done = _bytes_of(array), 0
        while done < len(view):
            got = pipe.readinto(view[done:])
            if not got:
                raise EOFError
            done += got
    return arrays


def _read_bytes(pipe, size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _bytes_of(array: np.ndarray) -> memoryview:
    return memoryview(array.reshape(-1)).cast('B')
