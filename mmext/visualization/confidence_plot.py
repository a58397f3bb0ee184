"""Precision, recall and F1 against the confidence threshold: PNG and
JSON (ultralytics-style curves)."""
from typing import Sequence

import numpy as np

from .writers import atomic_path, write_json

_PANELS = (('precision', 'Precision'), ('recall', 'Recall'),
           ('f1', 'F1'))


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
    import matplotlib
    matplotlib.use('Agg')  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    x = curves['thresholds']
    with_gt = np.flatnonzero(curves['num_gts'] > 0)
    best = curves['mean']['best']
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5), dpi=100)
    try:
        for ax, (key, label) in zip(axes, _PANELS):
            if len(with_gt) <= 20:
                for k in with_gt:
                    ax.plot(x, curves[key][k], linewidth=1, alpha=0.7,
                            label=class_names[k])
            elif len(with_gt):  # grey, no legend; every 4th point will do
                ax.plot(x[::4], curves[key][with_gt][:, ::4].T,
                        linewidth=0.5, color='grey', alpha=0.5)
            ax.plot(x, curves['mean'][key], color='black', linewidth=3,
                    label=f"all classes {best[key]:.2f} at "
                    f"{best['score_thr']:.3f}")
            ax.axvline(best['score_thr'], color='red', linestyle='--',
                       linewidth=1)
            ax.plot([best['score_thr']], [best[key]], 'o', color='red')
            ax.set_xlabel('confidence threshold')
            ax.set_ylabel(label)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.set_title(f'{label}-confidence curve')
        axes[2].legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                       fontsize='small')
        fig.suptitle(f"Best mean F1 {best['f1']:.3f} at confidence "
                     f"{best['score_thr']:.3f} (red)")
        fig.tight_layout()
        with atomic_path(out_file) as tmp:
            fig.savefig(tmp, format='png')
    finally:
        plt.close(fig)


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
