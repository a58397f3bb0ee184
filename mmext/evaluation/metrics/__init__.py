
from .multilabel_metric import MultiLabelMetric  # noqa: F401
