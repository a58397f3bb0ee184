from .category_ids import ImageCategories, collect_image_categories
from .class_balanced_dataset import RepeatFactorDataset
from .samplers import RepeatFactorSampler

__all__ = [
    'ImageCategories', 'RepeatFactorDataset', 'RepeatFactorSampler',
    'collect_image_categories'
]
