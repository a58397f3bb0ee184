
from .multilabel_loss import *  # noqa: F401,F403
from .aligned_functional import (ciou_loss, giou_loss,  # noqa: F401
                                 quality_focal_loss, soft_targets)
from .aligned_loss import AlignedIoULoss, AlignedQualityFocalLoss  # noqa: F401
