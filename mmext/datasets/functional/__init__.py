from .repeat_factors import (ROUNDINGS, RepeatFactors, active_slots,
                             balanced_class_frequency, check_oversample_thr,
                             compute_repeat_factors, expected_repeats,
                             repeat_counts, repeat_indices,
                             unique_image_categories)

__all__ = [
    'ROUNDINGS', 'RepeatFactors', 'active_slots', 'balanced_class_frequency',
    'check_oversample_thr', 'compute_repeat_factors', 'expected_repeats',
    'repeat_counts', 'repeat_indices', 'unique_image_categories'
]
