"""Run a function in N local CPU processes joined by a gloo process group."""
import os
import socket

import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _worker(rank, world_size, port, fn, args, queue):
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        queue.put((rank, fn(rank, world_size, *args)))
    finally:
        dist.destroy_process_group()


def run_distributed(fn, world_size: int = 2, *args) -> list:
    """Call ``fn(rank, world_size, *args)`` in ``world_size`` processes.

    ``fn`` must be a module-level function (it is pickled) and return
    something picklable.

    Returns:
        list: The return values, indexed by rank.
    """
    ctx = mp.get_context('spawn')
    queue = ctx.SimpleQueue()
    port = free_port()
    procs = [
        ctx.Process(
            target=_worker, args=(r, world_size, port, fn, args, queue))
        for r in range(world_size)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    codes = [p.exitcode for p in procs]
    if any(c != 0 for c in codes):
        raise RuntimeError(f'distributed workers exited with {codes}')
    results = dict(queue.get() for _ in range(world_size))
    return [results[r] for r in range(world_size)]
