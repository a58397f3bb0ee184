"""Arrays computed in a forked child
(``mmext.evaluation.functional.forked_arrays``): what comes back, and
that a failing or abandoned child gives None or is killed, never leaving
a process behind."""
import os
import threading
import time

import numpy as np
import pytest

from mmext.evaluation.functional import forked_arrays
from mmext.evaluation.functional.forked_arrays import ForkedArrays


def child_pid_and_arrays():
    return dict(pid=np.array([os.getpid()]),
                boxes=np.arange(3 * 4 * 10 ** 5, dtype=np.float64).reshape(
                    -1, 4)[::3],  # not contiguous, larger than a pipe
                ids=np.array([], dtype=np.int64),
                flags=np.array([[True, False]]))


@pytest.mark.parametrize('memfd', [True, False])
def test_arrays_come_back_from_another_process(monkeypatch, memfd):
    if not memfd:  # not Linux: an unlinked temporary file
        monkeypatch.delattr(os, 'memfd_create', raising=False)
    with ForkedArrays(child_pid_and_arrays) as child:
        got = child.result()
    assert int(got.pop('pid')[0]) != os.getpid()
    expected = child_pid_and_arrays()
    del expected['pid']
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype
        np.testing.assert_array_equal(got[name], value)


def test_arrays_are_aligned_writable_and_this_process_own():
    def odd_sizes():  # 3-byte and 0-d arrays between aligned ones
        return dict(a=np.arange(3, dtype=np.uint8), b=np.float32(2.5),
                    c=np.arange(12.0).reshape(3, 4), d=np.zeros((0, 4)))

    with ForkedArrays(odd_sizes) as child:
        first = child.result()
    with ForkedArrays(odd_sizes) as child:
        second = child.result()
    for name, value in odd_sizes().items():
        got = first[name]
        assert got.shape == np.shape(value) and got.dtype == np.asarray(
            value).dtype
        np.testing.assert_array_equal(got, value)
        assert got.flags.writeable and got.flags.aligned
    first['c'][0, 0] = -1.0  # private copies: the other result unchanged
    assert second['c'][0, 0] == 0.0


def test_a_child_writing_less_than_its_header_gives_none(monkeypatch):
    real_write = forked_arrays._write

    def short_write(file, arrays):  # patched before the fork: the child's
        real_write(file, arrays)
        file.truncate(file.tell() - 8)  # the last array's tail lost

    monkeypatch.setattr(forked_arrays, '_write', short_write)
    with ForkedArrays(lambda: dict(x=np.arange(100.0))) as child:
        assert child.result() is None


def fail():
    raise ValueError('bad entry')


def crash():
    os._exit(3)


@pytest.mark.parametrize('fn', [lambda: None, fail, crash])
def test_a_child_without_arrays_gives_none(fn):
    with ForkedArrays(fn) as child:
        assert child.result() is None


def test_closing_kills_a_running_child():
    start = time.monotonic()
    child = ForkedArrays(lambda: time.sleep(60))
    pid = child._pid
    child.close()
    assert time.monotonic() - start < 10
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)


def test_no_spare_cpu_with_other_threads_or_one_cpu(monkeypatch):
    # threads that ran before the test (pytest-xdist's execnet channel)
    # count as none, so that the test's own thread is the one seen
    count_threads, before = threading.active_count, threading.active_count()
    monkeypatch.setattr(threading, 'active_count',
                        lambda: count_threads() - before + 1)
    running = [1.0]  # this process alone
    monkeypatch.setattr(forked_arrays, '_running_tasks', lambda: running[0])
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1})
    assert forked_arrays.spare_cpu()
    running[0] = 2.0
    assert not forked_arrays.spare_cpu()  # the other CPU is busy
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: set(range(4)))
    assert forked_arrays.spare_cpus() == 2
    running[0] = 1.4
    assert forked_arrays.spare_cpus() == 3
    running[0] = 0.2  # the load average of an idle machine
    assert forked_arrays.spare_cpus() == 3  # not more than the others
    running[0] = 1.0
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0})
    assert not forked_arrays.spare_cpu()
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1})
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not forked_arrays.spare_cpu()
    finally:
        stop.set()
        thread.join()


def test_running_tasks_count_this_process():
    assert forked_arrays._running_tasks() >= 1


def test_running_tasks_leave_out_own_threads_and_blips(monkeypatch, tmp_path):
    loadavg = tmp_path / 'loadavg'
    counts = iter(['3', '4', '4'])  # each read sees the next one

    def own_threads():
        loadavg.write_text(f'0.5 0.5 0.5 {next(counts)}/90 123')
        return 1  # e.g. an OpenBLAS worker spinning after import numpy

    monkeypatch.setattr(forked_arrays, '_LOADAVG', str(loadavg))
    monkeypatch.setattr(forked_arrays, '_own_other_running_threads',
                        own_threads)
    loadavg.write_text('0.5 0.5 0.5 4/90 123')
    # 4, 3, 4 running, one our other thread: this one and another process
    # (the 4s are a blip)
    assert forked_arrays._running_tasks() == 2.0
    loadavg.write_text('0.5 0.5 0.5 1/90 123')
    monkeypatch.setattr(forked_arrays, '_own_other_running_threads',
                        lambda: 1)
    assert forked_arrays._running_tasks() == 1.0  # never below this one


def test_own_busy_thread_is_seen_running():
    data = np.random.default_rng(0).random(1 << 20)
    stop = threading.Event()

    def spin():  # np.sort runs without the GIL: the thread stays runnable
        while not stop.is_set():
            np.sort(data)

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while forked_arrays._own_other_running_threads() < 1:
            assert time.monotonic() < deadline, 'busy thread never seen'
    finally:
        stop.set()
        thread.join()
