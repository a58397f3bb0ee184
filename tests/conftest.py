import os
import os.path as osp
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # tests import tools.* and tests.* helpers


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Configs name data relative to the repo root."""
    monkeypatch.chdir(REPO_ROOT)


@pytest.fixture(autouse=True)
def _no_default_scope_leak():
    """A Runner or ``init_default_scope`` in one test sets mmengine's default
    scope for the whole process; later tests must not build from it."""
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        del DefaultScope._instance_dict[name]


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture
def voc_root() -> str:
    path = osp.join(REPO_ROOT, 'data', 'tiny', 'VOCdevkit')
    assert osp.isdir(path), 'run tools/misc/make_tiny_voc.py'
    return path


def python_env() -> dict:
    """Environment for subprocesses that run the tools from the repo root."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


def run_ok(cmd: list, timeout: int = 900, **env_extra) -> str:
    """Run a command from the repo root; fail the test with its output
    unless it exits 0. Returns stdout and stderr together."""
    env = python_env()
    env.update(env_extra)
    proc = subprocess.run(cmd,
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr
