"""Suite-wide fixtures: isolation (working dir, default scope, caches), the
``slow`` marker, and the shared trained runs of the tiny configs."""
import os
import re
import sys

import pytest

from tests.helpers import runs
from tests.helpers.paths import REPO_ROOT, TINY_VOC_ROOT

sys.path.insert(0, REPO_ROOT)  # tests import tools.* and tests.helpers.*
# ultralytics (an oracle) pip-installs what it misses on import or on an
# unknown image format unless told not to: never from a test
os.environ['YOLO_AUTOINSTALL'] = 'false'
os.environ['YOLO_OFFLINE'] = '1'

# every run (make test, test-fast, random orders, xdist workers): the
# imported heap is frozen for the cyclic GC, which mmengine runs on every
# data-set build (see the plugin's docstring)
pytest_plugins = ('tests.helpers.gc_freeze', )


def pytest_configure(config):
    # the top level of the repo is fixed (no pytest.ini): markers live here
    config.addinivalue_line(
        'markers', 'slow: takes more than ~5 s (trainings, tool runs, '
        'process spawns), builds the package, or is a control that runs no '
        'mmext code in a fresh interpreter; `make test-fast` deselects them')


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Configs name data relative to the repo root."""
    monkeypatch.chdir(REPO_ROOT)


def _managed_classes() -> list:
    """mmengine's ``ManagerMixin`` classes imported so far (each keeps its
    own instances by name)."""
    from mmengine.utils import ManagerMixin
    found, todo = [ManagerMixin], [ManagerMixin]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


@pytest.fixture(autouse=True)
def _no_global_instance_leak():
    """A Runner or ``init_default_scope`` in one test leaves process-wide
    named instances: the default scope, loggers, message hubs and
    visualizers. Later tests must not build from that scope, and a later
    Runner must not get the old visualizer back (mmdet's configs all name
    theirs ``'visualizer'``, so it would write into the old run's
    folder)."""
    before = {cls: set(cls._instance_dict) for cls in _managed_classes()}
    yield
    for cls in _managed_classes():
        for name in set(cls._instance_dict) - before.get(cls, set()):
            del cls._instance_dict[name]


@pytest.fixture(scope='session')
def _session_cache(tmp_path_factory):
    """Caches that only save time (matplotlib's font list) are kept for
    the session, away from the user's ``~/.cache``."""
    return tmp_path_factory.mktemp('cache')


@pytest.fixture(autouse=True)
def _own_cache(request, monkeypatch, _session_cache):
    """Each test gets its own ``MMEXT_CACHE_DIR`` (the data-check cache),
    for its child processes too; XDG and matplotlib caches go to the
    session's folder, never to ``~/.cache``."""
    name = re.sub(r'[^\w.-]+', '_', request.node.nodeid)[-120:]
    monkeypatch.setenv('MMEXT_CACHE_DIR',
                       str(_session_cache / 'mmext' / name))
    monkeypatch.setenv('XDG_CACHE_HOME', str(_session_cache / 'xdg'))
    monkeypatch.setenv('MPLCONFIGDIR', str(_session_cache / 'matplotlib'))


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture
def voc_root() -> str:
    assert os.path.isdir(TINY_VOC_ROOT), 'run tools/misc/make_tiny_voc.py'
    return TINY_VOC_ROOT


# Trained once per session (once for all xdist workers), read-only: a test
# that changes files copies them into its own tmp_path first.


@pytest.fixture(scope='session')
def tiny_detector(tmp_path_factory) -> runs.TrainedRun:
    """``tools/train.py`` on the demo Faster R-CNN, 4 iterations."""
    return runs.shared_once(tmp_path_factory, 'tiny_detector',
                            runs.train_tiny_detector)


@pytest.fixture(scope='session')
def tiny_detector_test(tmp_path_factory, tiny_detector) -> runs.TestedRun:
    """``tools/test.py`` on :func:`tiny_detector`'s last checkpoint."""
    return runs.shared_once(
        tmp_path_factory, 'tiny_detector_test',
        lambda folder: runs.test_tiny_detector(folder, tiny_detector))


@pytest.fixture(scope='session')
def tiny_multilabel(tmp_path_factory) -> tuple:
    """(train, test) runs of the tiny multi-label classifier."""
    return runs.shared_once(tmp_path_factory, 'tiny_multilabel',
                            runs.train_and_test_tiny_multilabel)
