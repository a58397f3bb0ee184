"""Package-level names of earlier releases still import, without making the
packages themselves heavy."""
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

# One fresh interpreter for all: every package is imported (and checked
# light) before any name is looked up; then each name is looked up through
# its package (a name is never an attribute of the package before that, so
# every lookup goes through the package's lazy loader).
_LAZY = '''
import importlib, json, sys
out = {}
for package in PACKAGES:
    importlib.import_module(package)
    out[package] = 'torch' in sys.modules
for package, names in PACKAGES.items():
    for name, _ in names:
        value = getattr(sys.modules[package], name)
        out[package + '.' + name] = value.__module__
print(json.dumps(out))
'''


def test_package_names_import_lazily():
    code = f'PACKAGES = {LAZY_NAMES!r}\n' + _LAZY
    proc = subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True)
    seen = json.loads(proc.stdout.splitlines()[-1])
    for package in LAZY_NAMES:  # importing it loaded no torch
        assert seen[package] is False, package
    assert {k: v for k, v in seen.items() if k not in LAZY_NAMES} == {
        f'{package}.{name}': module
        for package, names in LAZY_NAMES.items() for name, module in names}


def test_unknown_name_is_an_attribute_error():
    import mmext.datasets
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        mmext.datasets.nope  # noqa: B018


def test_assigner_core_loads_without_mmdet():
    code = ('import sys, mmext.models.task_modules.functional\n'
            "assert 'mmdet' not in sys.modules, 'the torch core loaded mmdet'\n")
    subprocess.run([sys.executable, '-c', code], check=True)
