"""Pure tensor functions of the assigners (no mmengine imports)."""
from .task_aligned import (TaskAlignedAssignment, box_ciou, box_iou,
                           check_assign_inputs, task_aligned_assign)

__all__ = [
    'TaskAlignedAssignment', 'box_ciou', 'box_iou', 'check_assign_inputs',
    'task_aligned_assign'
]
