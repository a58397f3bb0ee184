
from .detection_ap import DetectionAP  # noqa: F401
from .multilabel_metric import MultiLabelMetric  # noqa: F401
