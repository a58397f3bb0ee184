"""Losses: element-wise math in ``*_functional`` modules (pure torch),
registered shells that weight and reduce with mmdet's
``weight_reduce_loss``."""
from .aligned_functional import (ciou_loss, giou_loss,
                                 label_quality_focal_loss, quality_focal_loss,
                                 soft_targets)
from .aligned_loss import AlignedIoULoss, AlignedQualityFocalLoss
from .multilabel_functional import (multilabel_asymmetric_loss,
                                    multilabel_bce_loss, multilabel_focal_loss)
from .multilabel_loss import (MultiLabelAsymmetricLoss, MultiLabelBCELoss,
                              MultiLabelFocalLoss)

__all__ = [
    'AlignedIoULoss', 'AlignedQualityFocalLoss', 'MultiLabelAsymmetricLoss',
    'MultiLabelBCELoss', 'MultiLabelFocalLoss', 'ciou_loss', 'giou_loss',
    'label_quality_focal_loss', 'multilabel_asymmetric_loss',
    'multilabel_bce_loss', 'multilabel_focal_loss', 'quality_focal_loss',
    'soft_targets'
]
