"""Detection and multi-label evaluation.

Importing this package imports nothing: the numpy-only core
(:mod:`.functional`, :mod:`.samples`, :mod:`.detection`) loads without
mmengine, and the registered metrics (:mod:`.metrics`) are imported on
demand through the registry's ``locations``.
"""
from mmext.utils.lazy_exports import lazy_exports

__all__ = ['DetectionAP', 'MultiLabelMetric']
__getattr__ = lazy_exports(__name__, {
    'DetectionAP': '.metrics.detection_ap',
    'MultiLabelMetric': '.metrics.multilabel_metric',
})
