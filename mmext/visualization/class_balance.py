"""Table and bar chart of class frequencies before / after repeat-factor
balancing."""
from typing import List, Sequence

import numpy as np

from mmext.datasets.functional import (RepeatFactors,
                                       balanced_class_frequency,
                                       expected_repeats)
from .table import format_table
from .writers import new_figure, save_figure

CLASS_BALANCE_HEADER = ('category', 'images', 'freq f(c)', 'repeat r(c)',
                        'freq after')


def class_balance_rows(class_names: Sequence[str], rf: RepeatFactors,
                       rounding: str) -> List[list]:
    """One row per category: name, images, f(c), r(c), frequency after.

    "freq after" is the fraction of the balanced epoch's samples that
    contain the category (expected value for stochastic rounding).
    """
    after = balanced_class_frequency(rf, expected_repeats(
        rf.image_repeat, rounding))
    return [[
        name,
        int(rf.image_counts[c]),
        float(rf.category_freq[c]),
        float(rf.category_repeat[c]),
        float(after[c])
    ] for c, name in enumerate(class_names)]


def format_class_balance_table(class_names: Sequence[str], rf: RepeatFactors,
                               rounding: str, oversample_thr: float) -> str:
    """The per-category table plus the data set length before / after.

    Args:
        class_names (Sequence[str]): C names.
        rf (RepeatFactors): The factors.
        rounding (str): ``'ceil'`` or ``'stochastic'``.
        oversample_thr (float): t, shown in the title.

    Returns:
        str: Text for ``print`` or ``MMLogger.info``.
    """
    after = expected_repeats(rf.image_repeat, rounding).sum()
    table = format_table(
        CLASS_BALANCE_HEADER,
        class_balance_rows(class_names, rf, rounding),
        title=f' repeat factors (t={oversample_thr:g}, {rounding}) ')
    length = (f'{int(after)}' if rounding == 'ceil' else
              f'{after:.1f} expected per epoch')
    return (f'{table}\nlength: {rf.num_images} images -> {length} '
            f'(x{after / rf.num_images:.3f})')


def plot_class_balance(class_names: Sequence[str], rf: RepeatFactors,
                       rounding: str, out_file: str) -> str:
    """Save a bar chart of f(c) before and after balancing.

    Args:
        class_names (Sequence[str]): C names.
        rf (RepeatFactors): The factors.
        rounding (str): ``'ceil'`` or ``'stochastic'``.
        out_file (str): PNG path.

    Returns:
        str: ``out_file``.
    """
    after = balanced_class_frequency(rf, expected_repeats(
        rf.image_repeat, rounding))
    x = np.arange(len(class_names))
    width = 0.4
    fig, ax = new_figure(figsize=(max(6.0, 0.3 * len(x) + 2), 4.5))
    ax.bar(x - width / 2, rf.category_freq, width, label='before')
    ax.bar(x + width / 2, after, width, label=f'after ({rounding})')
    ax.set_xticks(x)
    ax.set_xticklabels(class_names, rotation=90, fontsize=8)
    ax.set_ylabel('fraction of samples containing the class')
    ax.set_title(f'class frequency: {rf.num_images} images -> '
                 f'{expected_repeats(rf.image_repeat, rounding).sum():.0f}')
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_file)
    return out_file
