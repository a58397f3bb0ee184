"""Package-level names of earlier releases still import, without making the
packages themselves heavy."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize('package,name,module', [
    ('mmext.datasets', 'RepeatFactorDataset',
     'mmext.datasets.repeat_factor_dataset'),
    ('mmext.datasets', 'RepeatFactorSampler', 'mmext.datasets.samplers'),
    ('mmext.evaluation', 'DetectionAP', 'mmext.evaluation.metrics.detection_ap'),
    ('mmext.evaluation', 'MultiLabelMetric',
     'mmext.evaluation.metrics.multilabel_metric'),
    ('mmext.models', 'TOODHead', 'mmext.models.dense_heads.tood_head'),
    ('mmext.models', 'AlignedIoULoss', 'mmext.models.losses.aligned_loss'),
    ('mmext.models.task_modules', 'TaskAlignedAssigner',
     'mmext.models.task_modules.task_aligned_assigner'),
])
def test_package_names_import_lazily(package, name, module):
    code = (f'import sys, {package}\n'
            "assert 'torch' not in sys.modules, 'package import loaded torch'\n"
            f'from {package} import {name}\n'
            f'assert {name}.__module__ == {module!r}, {name}.__module__\n')
    subprocess.run([sys.executable, '-c', code], check=True)


def test_unknown_name_is_an_attribute_error():
    import mmext.datasets
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        mmext.datasets.nope  # noqa: B018


def test_assigner_core_loads_without_mmdet():
    code = ('import sys, mmext.models.task_modules.functional\n'
            "assert 'mmdet' not in sys.modules, 'the torch core loaded mmdet'\n")
    subprocess.run([sys.executable, '-c', code], check=True)
