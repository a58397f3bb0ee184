"""mmext registries (scope ``mmext``).

Each registry is a child of mmengine's root registry of the same kind, so
configs of mmdet or mmpretrain can write ``type='mmext.X'``; ``locations``
names the modules that register into it, which mmengine imports on the first
look-up. A registry exists only where mmext registers something.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import Registry

# evaluation metrics (detection AP, multi-label)
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope='mmext',
    locations=['mmext.evaluation.metrics'])
# models: losses and other nn.Modules
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmext',
    locations=['mmext.models.losses', 'mmext.models.dense_heads'])
# task utilities: assigners
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope='mmext',
    locations=['mmext.models.task_modules.task_aligned_assigner'])
# dataset wrappers
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmext',
    locations=['mmext.datasets.repeat_factor_dataset'])
# samplers
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='mmext',
    locations=['mmext.datasets.samplers'])
# hooks
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmext',
    locations=['mmext.engine.hooks'])
