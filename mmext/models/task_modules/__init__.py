from .functional import TaskAlignedAssignment, task_aligned_assign
from .task_aligned_assigner import TaskAlignedAssigner

__all__ = ['TaskAlignedAssigner', 'TaskAlignedAssignment', 'task_aligned_assign']
