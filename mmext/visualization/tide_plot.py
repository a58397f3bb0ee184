"""TIDE error breakdown: bar-chart PNG and JSON."""
import numpy as np

from mmext.evaluation.functional.tide import (TIDE_ERROR_NAMES,
                                              TIDE_ERROR_TYPES,
                                              TIDE_SPECIAL_TYPES)
from .writers import new_figure, save_figure, write_json

_SPECIAL_NAMES = dict(false_pos='false positives', false_neg='false negatives')


def plot_tide(result: dict, out_file: str) -> None:
    """Horizontal bars of the dAP of fixing each error type (AP50 and, when
    computed, AP@[.5:.95]), the error counts beside them, and the special
    errors in a second panel. PNG, atomic.

    Args:
        result (dict): :func:`~mmext.evaluation.functional.tide.tide_errors`.
        out_file (str): PNG path; its folder must exist.
    """
    coco = result.get('coco')
    fig, (ax, ax2) = new_figure(
        1, 2, figsize=(12, 5), dpi=100,
        gridspec_kw=dict(width_ratios=[3, 2]))
    y = np.arange(len(TIDE_ERROR_TYPES))
    h = 0.38 if coco else 0.7
    ax.barh(y - (h / 2 if coco else 0),
            [result['dap'][k] for k in TIDE_ERROR_TYPES], height=h,
            color='tab:red', label=f"AP50 (AP {result['ap']:.1f})")
    if coco:
        ax.barh(y + h / 2, [coco['dap'][k] for k in TIDE_ERROR_TYPES],
                height=h, color='tab:blue',
                label=f"AP@[.5:.95] (AP {coco['ap']:.1f})")
    ax.set_yticks(y)
    ax.set_yticklabels([
        f"{TIDE_ERROR_NAMES[k]}\n({result['counts'][k]} "
        f"{'FN' if k == 'miss' else 'FP'})" for k in TIDE_ERROR_TYPES])
    ax.invert_yaxis()
    ax.set_xlabel('dAP when fixed (AP points)')
    # y given: matplotlib skips measuring every tick label to place it
    ax.set_title('Main errors: AP gained by fixing each type', y=1)
    ax.legend(loc='lower right')
    ax.grid(axis='x', alpha=0.3)

    y2 = np.arange(len(TIDE_SPECIAL_TYPES))
    ax2.barh(y2 - (h / 2 if coco else 0),
             [result['special'][k] for k in TIDE_SPECIAL_TYPES],
             height=h, color='tab:red', label='AP50')
    if coco:
        ax2.barh(y2 + h / 2,
                 [coco['special'][k] for k in TIDE_SPECIAL_TYPES],
                 height=h, color='tab:blue', label='AP@[.5:.95]')
    ax2.set_yticks(y2)
    ax2.set_yticklabels([_SPECIAL_NAMES[k] for k in TIDE_SPECIAL_TYPES])
    ax2.invert_yaxis()
    ax2.set_xlabel('dAP when all fixed (AP points)')
    ax2.set_title('Special errors', y=1)
    ax2.grid(axis='x', alpha=0.3)
    fig.suptitle('TIDE error breakdown (foreground IoU '
                 f"{result.get('pos_thr', 0.5)}, background IoU "
                 f"{result.get('bg_thr', 0.1)})")
    # fixed margins (the labels are fixed words): tight_layout would
    # measure every artist; 1.3 inches left and between the panels hold
    # 'classification' and 'false negatives'
    fig.subplots_adjust(left=1.3 / 12, right=0.98, bottom=0.11, top=0.84,
                        wspace=1.5 / 4.5)
    save_figure(fig, out_file)


def write_tide(json_file: str, png_file: str, result: dict) -> None:
    """Write the TIDE result as JSON and its bar chart as PNG."""
    write_json(json_file, result, indent=1)
    plot_tide(result, png_file)
