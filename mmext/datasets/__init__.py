"""Repeat-factor sampling and data set helpers.

Importing this package imports nothing, so that the numpy-only core
(:mod:`.functional`) loads without torch or mmengine. The registered
modules, :mod:`.repeat_factor_dataset` (``mmext.RepeatFactorDataset``) and
:mod:`.samplers` (``mmext.RepeatFactorSampler``), are imported by the
registries on demand; :mod:`.nested` walks nested data sets,
:mod:`.category_ids` reads their category ids, :mod:`.voc_check` and
:mod:`.config_check` check VOC-style data before a run.
"""
from mmext.utils.lazy_exports import lazy_exports

__all__ = ['RepeatFactorDataset', 'RepeatFactorSampler']
__getattr__ = lazy_exports(__name__, {
    'RepeatFactorDataset': '.repeat_factor_dataset',
    'RepeatFactorSampler': '.samplers',
})
