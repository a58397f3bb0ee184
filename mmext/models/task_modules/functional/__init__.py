"""Pure tensor functions of the assigners (no mmengine imports).

Layout, one concept per module: ``box_overlaps`` (IoU kernels),
``prior_inside`` (centre-inside tests), ``alignment`` (the metric),
``assignment`` (result record and running state), ``task_aligned`` (the
driver), ``mmdet_order`` with ``dense`` and ``sparse_cpu`` (mmdet's
semantics), ``ultralytics_order`` (ultralytics' semantics).
"""
from .alignment import alignment_metric
from .assignment import TaskAlignedAssignment
from .box_overlaps import box_ciou, box_iou
from .task_aligned import check_assign_inputs, task_aligned_assign

__all__ = [
    'TaskAlignedAssignment', 'alignment_metric', 'box_ciou', 'box_iou',
    'check_assign_inputs', 'task_aligned_assign'
]
