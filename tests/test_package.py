import mmengine.registry as root
import pytest

from mmext import registry
from tests.helpers.process import run


def test_import_is_cheap():
    """import mmext must not pull in mmdet, mmpretrain, mmcv or the Runner."""
    code = ('import sys, mmext; '
            'print(sorted(m for m in ("mmdet", "mmpretrain", "mmcv", '
            '"mmengine.runner") if m in sys.modules))')
    out = run(['python', '-c', code])
    assert out.stdout.strip() == '[]'


@pytest.mark.parametrize('name,parent', [
    ('METRICS', root.METRICS),
    ('MODELS', root.MODELS),
    ('TASK_UTILS', root.TASK_UTILS),
    ('DATASETS', root.DATASETS),
    ('DATA_SAMPLERS', root.DATA_SAMPLERS),
    ('HOOKS', root.HOOKS),
])
def test_registry_scope_and_parent(name, parent):
    reg = getattr(registry, name)
    assert reg.scope == 'mmext'
    assert reg.parent is parent
    assert parent.children['mmext'] is reg
    assert reg._locations, f'{name} has no locations for lazy import'


def test_prefixed_lookup_from_mmdet_registry():
    """mmdet's registry resolves 'mmext.X' through the shared root."""
    from mmdet.registry import METRICS as MMDET_METRICS
    from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS

    @registry.METRICS.register_module(name='_ProbeMetric', force=True)
    class _ProbeMetric:
        pass

    try:
        assert MMDET_METRICS.get('mmext._ProbeMetric') is _ProbeMetric
        assert MMPRETRAIN_METRICS.get('mmext._ProbeMetric') is _ProbeMetric
    finally:
        registry.METRICS._module_dict.pop('_ProbeMetric')
