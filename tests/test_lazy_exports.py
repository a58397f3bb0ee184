"""Package-level names of earlier releases still import, without making the
packages themselves heavy."""
import importlib
import json
import subprocess
import sys

import pytest


# package: [(name, the module that defines it)]
LAZY_NAMES = {
    'mmext.datasets': [
        ('RepeatFactorDataset', 'mmext.datasets.repeat_factor_dataset'),
        ('RepeatFactorSampler', 'mmext.datasets.samplers')],
    'mmext.evaluation': [
        ('DetectionAP', 'mmext.evaluation.metrics.detection_ap'),
        ('MultiLabelMetric', 'mmext.evaluation.metrics.multilabel_metric')],
    'mmext.models': [
        ('TOODHead', 'mmext.models.dense_heads.tood_head'),
        ('AlignedIoULoss', 'mmext.models.losses.aligned_loss')],
    'mmext.models.task_modules': [
        ('TaskAlignedAssigner',
         'mmext.models.task_modules.task_aligned_assigner')],
}

# One fresh interpreter (the test process has torch loaded) for what must
# hold before anything heavy is imported: every package imports light, and
# the assigner's torch core loads without mmdet.
_FRESH = '''
import importlib, json, sys
out = {}
for package in PACKAGES:
    importlib.import_module(package)
    out[package] = 'torch' in sys.modules
import mmext.models.task_modules.functional
out['assigner core'] = 'mmdet' in sys.modules
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def fresh() -> dict:
    """``package -> torch loaded`` and ``'assigner core' -> mmdet loaded``
    in a fresh interpreter."""
    code = f'PACKAGES = {list(LAZY_NAMES)!r}\n' + _FRESH
    proc = subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stdout.splitlines()[-1])


def test_package_names_import_lazily(fresh):
    for package in LAZY_NAMES:  # importing it loaded no torch
        assert fresh[package] is False, package
    # The names resolve here (their heavy imports are the test process's
    # anyway); the loader never stores a name on its package, so every
    # lookup goes through the package's __getattr__.
    for package, names in LAZY_NAMES.items():
        module = importlib.import_module(package)
        for name, defined_in in names:
            assert name not in vars(module), (package, name)
            assert getattr(module, name).__module__ == defined_in, name


def test_unknown_name_is_an_attribute_error():
    import mmext.datasets
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        mmext.datasets.nope  # noqa: B018


def test_assigner_core_loads_without_mmdet(fresh):
    assert fresh['assigner core'] is False, 'the torch core loaded mmdet'
