import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # tests import tools.* and tests.* helpers


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Configs name data as 'data/VOCdevkit/', relative to the repo root."""
    monkeypatch.chdir(REPO_ROOT)


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture
def voc_root() -> str:
    path = osp.join(REPO_ROOT, 'data', 'VOCdevkit')
    assert osp.isdir(path), 'run tools/misc/make_tiny_voc.py'
    return path


def python_env() -> dict:
    """Environment for subprocesses that run the tools from the repo root."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    return env
