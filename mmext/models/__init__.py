"""Models: the batched ``TOODHead`` (:mod:`.dense_heads`), the aligned and
multi-label losses (:mod:`.losses`) and the TaskAligned assigner
(:mod:`.task_modules`).

Importing this package imports nothing, so that the assigner's torch-only
kernels (:mod:`.task_modules.functional`) load without mmdet; the registries
import the registering modules on demand, and the names below import on
first access.
"""
from mmext.utils.lazy_exports import lazy_exports

_EXPORTS = {
    'TOODHead': '.dense_heads.tood_head',
    'AlignedIoULoss': '.losses.aligned_loss',
    'AlignedQualityFocalLoss': '.losses.aligned_loss',
    'MultiLabelAsymmetricLoss': '.losses.multilabel_loss',
    'MultiLabelBCELoss': '.losses.multilabel_loss',
    'MultiLabelFocalLoss': '.losses.multilabel_loss',
    'TaskAlignedAssigner': '.task_modules.task_aligned_assigner',
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
