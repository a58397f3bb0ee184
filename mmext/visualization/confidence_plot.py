"""Precision, recall and F1 against the confidence threshold: PNG and
JSON (ultralytics-style curves)."""
from typing import Sequence

import numpy as np

from .writers import new_figure, save_figure, text_width_in, write_json

_PANELS = (('precision', 'Precision'), ('recall', 'Recall'),
           ('f1', 'F1'))
#: points drawn per curve
_POINTS = 251
#: classes named in the legend; beyond, grey lines without names
_MAX_NAMED = 20
_LEGEND_FONTSIZE = 8
#: a legend line beyond its text: border, handle, gaps (inches)
_LEGEND_PAD_IN = 0.75


def plot_confidence_curves(curves: dict, class_names: Sequence[str],
                           out_file: str) -> None:
    """Three panels (precision, recall, F1 against confidence): one thin
    line per class with GT (named in the legend up to 20 classes, grey
    beyond, as ultralytics), the class mean bold, the threshold of the best
    mean F1 marked in every panel. PNG, atomic.

    Args:
        curves (dict): :func:`~mmext.evaluation.functional.confidence.
            confidence_curves`.
        class_names (Sequence[str]): ``C`` names.
        out_file (str): PNG path; its folder must exist.
    """

    from matplotlib.collections import LineCollection

    x = curves['thresholds']
    with_gt = np.flatnonzero(curves['num_gts'] > 0)
    best = curves['mean']['best']
    # a few hundred points look the same as the 1001-point grid at this
    # width and draw much faster; the best-F1 point stays on the mean curve
    at = np.union1d(np.linspace(0, len(x) - 1, min(len(x), _POINTS)).round(
    ).astype(np.int64), np.flatnonzero(x == best['score_thr']))
    named = len(with_gt) <= _MAX_NAMED
    labels = [class_names[k] for k in with_gt] if named else []
    mean_label = (f"all classes {{:.2f}} at {best['score_thr']:.3f}")
    # computed layout (tight_layout would measure every artist): three
    # 4.5-inch panels, the legend's width on the right
    legend_in = _LEGEND_PAD_IN + text_width_in(
        labels + [mean_label.format(1)], _LEGEND_FONTSIZE)
    panel, gap, left, bottom, top = 4.5, 0.75, 0.7, 0.6, 0.85
    width = left + 3 * panel + 2 * gap + legend_in
    height = bottom + 4.0 + top
    fig, axes = new_figure(1, 3, figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=left / width, right=1 - legend_in / width,
                        bottom=bottom / height, top=1 - top / height,
                        wspace=gap / panel)
    for ax, (key, label) in zip(axes, _PANELS):
        ys = curves[key][with_gt][:, at]
        if named:
            for y, name in zip(ys, labels):
                ax.plot(x[at], y, linewidth=1, alpha=0.7, label=name)
        elif len(ys):  # one grey collection, no legend, as ultralytics
            ax.add_collection(LineCollection(
                np.stack(np.broadcast_arrays(x[at], ys), axis=-1),
                linewidths=0.5, colors='grey', alpha=0.5))
        ax.plot(x[at], curves['mean'][key][at], color='black', linewidth=3,
                label=mean_label.format(best[key]))
        ax.axvline(best['score_thr'], color='red', linestyle='--',
                   linewidth=1)
        ax.plot([best['score_thr']], [best[key]], 'o', color='red')
        ax.set_xlabel('confidence threshold')
        ax.set_ylabel(label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        # y given: matplotlib skips measuring every tick label to place it
        ax.set_title(f'{label}-confidence curve', y=1)
    axes[2].legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                   fontsize=_LEGEND_FONTSIZE)
    fig.suptitle(f"Best mean F1 {best['f1']:.3f} at confidence "
                 f"{best['score_thr']:.3f} (red)")
    save_figure(fig, out_file)


def write_confidence_curves(json_file: str, png_file: str, curves: dict,
                            class_names: Sequence[str]) -> None:
    """Write the curves as JSON (per class: GT count, P/R/F1 on the grid,
    best F1) and the PNG."""
    write_json(json_file, dict(
        thresholds=curves['thresholds'],
        mean=curves['mean'],
        classes={
            name: dict(num_gts=curves['num_gts'][k],
                       precision=curves['precision'][k],
                       recall=curves['recall'][k], f1=curves['f1'][k],
                       best_f1=curves['best'][k])
            for k, name in enumerate(class_names)
        }))
    plot_confidence_curves(curves, class_names, png_file)
