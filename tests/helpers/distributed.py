"""Run a function in N local CPU processes joined by a gloo process group
(or a tool as ``torchrun`` runs it), start child processes cheaply, and pick
free ports for ``torchrun``-based scripts."""
import gc
import importlib
import os
import pickle
import queue as queue_lib
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.helpers.paths import REPO_ROOT
from tests.helpers.process import CACHE_ENV

# What the tests' child processes import: done once per session by the
# forkserver the children fork from. A spawned child imports torch,
# mmengine and mmdet again, 10-30 s per child on a busy 2-core machine.
# A module missing here is imported by the child itself (slower, same
# result); a failed preload is skipped by multiprocessing.
FORKSERVER_PRELOAD = ['torch', 'torch.distributed', 'torchvision',
                      'mmengine.runner', 'mmdet.datasets', 'mmdet.evaluation',
                      'mmext', 'mmext.evaluation.metrics',
                      'mmext.datasets.samplers', 'tools.train',
                      'tests.helpers.durable_toy']


def fork_context():
    """The multiprocessing context for the tests' child processes: a
    forkserver (one per session, started on first use) that has imported
    :data:`FORKSERVER_PRELOAD`. A fresh process per child all the same.

    The children inherit the forkserver's environment, i.e. the one of the
    test that started it: pass what a child needs from this test's
    environment with :func:`child_env` and apply it with
    :func:`apply_child_env`.
    """
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    return ctx


def child_env() -> dict:
    """This test's cache folders (set by the conftest), for a child
    forked from the forkserver."""
    return {k: os.environ[k] for k in CACHE_ENV if k in os.environ}


def apply_child_env(env: dict) -> None:
    """In the child: take the parent test's :func:`child_env`."""
    for name in CACHE_ENV:
        os.environ.pop(name, None)
    os.environ.update(env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _worker(rank, world_size, port, env, call, results, init_group):
    # what the forkserver imported stays: a full collection (mmengine's
    # data sets run one each) then skips it
    gc.freeze()
    apply_child_env(env)
    fn, args = pickle.loads(call)
    # what torchrun gives each worker
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size))
    if init_group:
        dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        results.put((rank, fn(rank, world_size, *args)))
    finally:
        if dist.is_initialized():  # a tool ends the group it started
            dist.destroy_process_group()


def run_distributed(fn, world_size: int = 2, *args, timeout: float = 300,
                    init_group: bool = True) -> list:
    """Call ``fn(rank, world_size, *args)`` in ``world_size`` processes.

    ``fn`` must be a module-level function (it is pickled) and return
    something picklable. A worker that has not finished ``timeout`` seconds
    after the start (a hang in a collective, a deadlock) is terminated, then
    killed, and the call fails naming it; so does a worker that dies.

    Args:
        init_group (bool): Join the workers in a gloo process group before
            calling ``fn``. False leaves that to ``fn``, as ``torchrun``
            does: each worker only gets the environment variables
            (``MASTER_ADDR``, ``RANK``, ``LOCAL_RANK``...) that a tool run
            with ``--launcher pytorch`` starts its group from.

    Returns:
        list: The return values, indexed by rank.
    """
    ctx = fork_context()
    results = ctx.Queue()
    port = free_port()
    env = child_env()
    # plain pickle: torch's process pickler would send every tensor in
    # ``args`` as a file descriptor, and a forkserver takes at most 256
    call = pickle.dumps((fn, args))
    procs = [
        ctx.Process(
            target=_worker,
            args=(r, world_size, port, env, call, results, init_group),
            daemon=True) for r in range(world_size)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    got = {}
    try:
        # read while waiting: a large result blocks its sender until read
        while len(got) < world_size:
            try:
                rank, value = results.get(timeout=0.2)
                got[rank] = value
            except queue_lib.Empty:
                dead = [r for r, p in enumerate(procs)
                        if p.exitcode not in (None, 0) and r not in got]
                if dead:
                    raise RuntimeError(
                        f'distributed workers {dead} exited with '
                        f'{[procs[r].exitcode for r in dead]}')
                if time.monotonic() > deadline:
                    hung = sorted(set(range(world_size)) - set(got))
                    raise TimeoutError(
                        f'distributed workers {hung} hung for {timeout} s '
                        'and were terminated')
        for p in procs:
            p.join(max(1.0, deadline - time.monotonic()))
        codes = [p.exitcode for p in procs]
        if any(c != 0 for c in codes):
            raise RuntimeError(f'distributed workers exited with {codes}')
    finally:
        terminate(procs)
        results.close()
    return [got[r] for r in range(world_size)]


def _tool_rank(rank, world_size, module, argv, log_prefix):
    os.chdir(REPO_ROOT)  # configs name data relative to it
    log = f'{log_prefix}.rank{rank}.log'
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    torch.set_num_threads(1)  # torchrun's OMP_NUM_THREADS=1
    try:
        importlib.import_module(module).main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    with open(log) as f:
        return f.read()


def run_tool_distributed(module: str, argv: list, log_prefix: str,
                         world_size: int = 2, timeout: float = 600) -> list:
    """``main(argv)`` of a tool (e.g. ``'tools.train'``) in ``world_size``
    worker processes that get what ``torchrun`` gives its workers: the
    rendezvous environment variables and one thread. The tool starts the
    gloo group itself (pass ``--launcher pytorch``). Forked from the
    forkserver, the workers skip the imports a ``torchrun`` worker does.

    Args:
        module (str): The tool's module, with a ``main(argv)``.
        argv (list): Its command line.
        log_prefix (str): Each rank's output goes to
            ``<log_prefix>.rank<r>.log``.
        world_size (int): Number of workers.
        timeout (float): See :func:`run_distributed`.

    Returns:
        list: Each rank's output (stdout and stderr).
    """
    try:
        return run_distributed(_tool_rank, world_size, module, list(argv),
                               log_prefix, timeout=timeout, init_group=False)
    except (RuntimeError, TimeoutError) as err:
        # the failure is in the ranks' output, not in this process's
        tails = [str(err)]
        for rank in range(world_size):
            log = f'{log_prefix}.rank{rank}.log'
            if os.path.isfile(log):
                with open(log) as f:
                    tails.append(f'--- rank {rank}:\n{f.read()[-3000:]}')
        raise type(err)('\n'.join(tails)) from err


def terminate(procs, grace: float = 5.0) -> None:
    """SIGTERM the processes still alive, SIGKILL those that outlive
    ``grace`` seconds, and reap them all."""
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.terminate()
    end = time.monotonic() + grace
    for p in alive:
        p.join(max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
