"""The numeric core imports with numpy only (issue 12, layering).

Run in a fresh interpreter: the test process itself has torch and mmengine
loaded already, so ``sys.modules`` there proves nothing.
"""
import subprocess
import sys

FORBIDDEN = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmpretrain',
             'terminaltables', 'matplotlib')

_PROBE = '''
import sys
import {module}
loaded = sorted(m for m in {forbidden!r}
                if m in sys.modules or any(
                    k.startswith(m + '.') for k in sys.modules))
print(','.join(loaded))
'''


def loaded_heavy_modules(module: str) -> list:
    """Forbidden top-level packages present after ``import module``."""
    out = subprocess.run(
        [sys.executable, '-c',
         _PROBE.format(module=module, forbidden=FORBIDDEN)],
        capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(',') if m]


def test_functional_core_imports_numpy_only():
    assert loaded_heavy_modules('mmext.evaluation.functional') == []


def test_coco_json_ingest_imports_numpy_only():
    # the CLI's --gt-json path: orjson and numpy, nothing heavier
    assert loaded_heavy_modules('mmext.evaluation.coco_json') == []


def test_probe_sees_a_heavy_import():
    # the probe itself can fail: a module that imports mmengine is caught
    assert 'mmengine' in loaded_heavy_modules('mmengine.config')
