"""The one way tests run a tool or script in a child process.

Every child gets the repo on ``PYTHONPATH``, one OpenMP thread, and a cache
folder of its own (``MMEXT_CACHE_DIR``, ``XDG_CACHE_HOME``, matplotlib's
``MPLCONFIGDIR``), so that no test writes ``~/.cache``. Each child starts a
new session (process group); on a timeout the whole group is killed, with
the grand-children that ``torchrun`` or a shell script started.
"""
import os
import signal
import subprocess
import sys
import tempfile
from typing import Optional, Sequence

from tests.helpers.paths import REPO_ROOT

# what the conftest fixture points at the test's own folder; a child run
# outside any test still gets a private folder, never the user's cache
CACHE_ENV = ('MMEXT_CACHE_DIR', 'XDG_CACHE_HOME', 'MPLCONFIGDIR')


def python_env(unset: Sequence[str] = (), **extra: str) -> dict:
    """The environment for a child process run from the repo root, less
    the variables named in ``unset``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    if 'MMEXT_CACHE_DIR' not in env:
        cache = tempfile.mkdtemp(prefix='mmext-test-cache-')
        for name in CACHE_ENV:
            env[name] = os.path.join(cache, name.lower())
    env.update(extra)
    return env


def run(cmd: Sequence[str], timeout: float = 600, check: bool = True,
        cwd: str = REPO_ROOT, unset: Sequence[str] = (),
        **env_extra: str) -> subprocess.CompletedProcess:
    """Run ``cmd`` to its end, or kill its process group after ``timeout``.

    Args:
        cmd: The command; ``'python'`` as first item means this interpreter.
        timeout: Seconds before the group is killed and the test fails.
        check: Fail the test with the output's tail unless it exits 0.
        cwd: Working directory (the repo root: configs name data relative
            to it).
        unset: Environment variables the child must not see.
        **env_extra: Environment variables added to :func:`python_env`.

    Returns:
        subprocess.CompletedProcess: With text ``stdout`` and ``stderr``.
    """
    import pytest
    cmd = [sys.executable if c == 'python' and i == 0 else c
           for i, c in enumerate(cmd)]
    proc = subprocess.Popen(cmd, cwd=cwd,
                            env=python_env(unset, **env_extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        pytest.fail(f'{" ".join(cmd)} ran over {timeout} s and was killed:'
                    f'\n{out[-3000:]}\n{err[-3000:]}')
    finally:
        if proc.poll() is None:  # an interrupt (Ctrl-C) while waiting
            kill_group(proc)
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and done.returncode != 0:
        pytest.fail(f'{" ".join(cmd)} exited {done.returncode}:\n'
                    f'{out[-3000:]}\n{err[-3000:]}')
    return done


def run_ok(cmd: Sequence[str], timeout: float = 600, **env_extra: str) -> str:
    """:func:`run` that must exit 0; returns stdout and stderr together."""
    done = run(cmd, timeout=timeout, **env_extra)
    return done.stdout + done.stderr


def run_tool(*args: str, timeout: float = 600, **env_extra: str) -> str:
    """``python <args>`` from the repo root, e.g.
    ``run_tool('tools/train.py', config)``; must exit 0."""
    return run_ok(['python', *args], timeout=timeout, **env_extra)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL,
               wait: Optional[float] = 30) -> None:
    """Send ``sig`` to the process group that ``proc`` leads."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    if wait is not None:
        proc.wait(wait)
