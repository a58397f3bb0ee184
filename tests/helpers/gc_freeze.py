"""pytest plugin (loaded by ``tests/conftest.py``): cheap full collections.

mmengine's ``BaseDataset`` calls ``gc.collect()`` on every build with
``serialize_data=True`` (the default), and Python starts full collections
of its own as the heap grows; each walks every object of the process
(torch, mmdet, mmpretrain, ...): 0.2-0.5 s in the test process, against
~0.01 s for parsing the tiny VOC data. Once collection has imported the
test modules, and after each test that imported more modules, the plugin
collects once and ``gc.freeze()``s what survives, so that later collections
skip those objects. Nothing is collected less: frozen objects are not
garbage when frozen, and any that die later are still freed by reference
counting (only a cycle among them would stay).
"""
import gc
import sys

import pytest

_frozen_at = 0  # len(sys.modules) at the last freeze


def _freeze() -> None:
    global _frozen_at
    gc.collect()
    gc.freeze()
    _frozen_at = len(sys.modules)


def pytest_collection_finish(session):
    _freeze()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    if len(sys.modules) > _frozen_at:  # the test imported modules
        _freeze()
