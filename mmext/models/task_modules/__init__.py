"""The TaskAligned assigner: registered shell (:mod:`.task_aligned_assigner`)
over the torch-only batched core (:mod:`.functional`). Names import on
first access, so the core loads without mmdet."""
from mmext.utils.lazy_exports import lazy_exports

_EXPORTS = {
    'TaskAlignedAssigner': '.task_aligned_assigner',
    'TaskAlignedAssignment': '.functional',
    'task_aligned_assign': '.functional',
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
