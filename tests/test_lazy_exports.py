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
