"""ROC and precision-recall curves of a multi-label classifier as PNGs
(matplotlib, Agg backend: no display)."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmext.evaluation.functional.multilabel_curves import (mean_pr_curve,
                                                           mean_roc_curve,
                                                           multilabel_curves)
from .writers import new_figure, save_figure

__all__ = ['write_multilabel_curves']

# Beyond this many classes the per-class legend would hide the plot.
_MAX_LEGEND_CLASSES = 40


def write_multilabel_curves(scores: np.ndarray, targets: np.ndarray,
                            classes: Sequence[str], auc: np.ndarray,
                            ap: np.ndarray, out_dir: str,
                            prefix: str = 'multilabel') -> Dict[str, str]:
    """Write ``{prefix}_roc.png`` and ``{prefix}_pr.png`` into ``out_dir``.

    Each figure has one thin curve per class and a bold macro mean curve;
    the legend gives each class's AUC (ROC) or AP (PR) and the macro AUC /
    mAP (means of the per-class values, as the metric reports them).

    Args:
        scores (np.ndarray): (N, C) scores.
        targets (np.ndarray): (N, C) targets in {-1, 0, 1}.
        classes (Sequence[str]): C class names.
        auc (np.ndarray): Per-class AUC (NaN where undefined).
        ap (np.ndarray): Per-class AP.
        out_dir (str): Folder, created if missing.
        prefix (str): File name prefix.

    Returns:
        dict: ``{'roc': path, 'pr': path}``.
    """
    curves = multilabel_curves(scores, targets)
    os.makedirs(out_dir, exist_ok=True)
    defined = ~np.isnan(auc)
    roc_lines = [(f'{name} (AUC {auc[c]:.3f})', c_['fpr'], c_['tpr'])
                 for c, (name, c_) in enumerate(zip(classes, curves))
                 if c_ is not None and c_['fpr'] is not None]
    pr_lines = [(f'{name} (AP {ap[c]:.3f})', c_['recall'], c_['precision'])
                for c, (name, c_) in enumerate(zip(classes, curves))
                if c_ is not None]
    mean_roc, mean_pr = mean_roc_curve(curves), mean_pr_curve(curves)
    macro_auc = float(auc[defined].mean()) if defined.any() else float('nan')
    paths = dict(roc=osp.join(out_dir, f'{prefix}_roc.png'),
                 pr=osp.join(out_dir, f'{prefix}_pr.png'))
    undefined = int((~defined).sum())
    _plot(paths['roc'], roc_lines,
          mean_roc and (f'mean (macro AUC {macro_auc:.3f})',
                        mean_roc['fpr'], mean_roc['tpr']),
          xlabel='false positive rate', ylabel='true positive rate',
          title='ROC' + (f' ({undefined} classes without AUC)'
                         if undefined else ''),
          diagonal=True)
    _plot(paths['pr'], pr_lines,
          mean_pr and (f'mean (mAP {float(np.mean(ap)):.3f})',
                       mean_pr['recall'], mean_pr['precision']),
          xlabel='recall', ylabel='precision',
          title='precision-recall (interpolated mean)', diagonal=False)
    return paths


def _plot(out_file: str, lines: List[tuple], mean: Optional[tuple],
          xlabel: str, ylabel: str, title: str, diagonal: bool) -> None:
    """One figure: thin per-class lines, a bold mean line, legend outside;
    written atomically (never a partial PNG)."""
    fig, ax = new_figure(figsize=(8, 6), dpi=100)
    show_legend = len(lines) <= _MAX_LEGEND_CLASSES
    for label, x, y in lines:
        # ROC: linear between thresholds (the trapezoid AUC measures);
        # PR: a point's precision holds back to the previous recall
        ax.plot(x, y, linewidth=1, alpha=0.8,
                drawstyle='default' if diagonal else 'steps-pre',
                label=label if show_legend else None)
    if mean is not None:
        ax.plot(mean[1], mean[2], color='black', linewidth=2.5,
                label=mean[0])
    if diagonal:
        ax.plot([0, 1], [0, 1], color='grey', linestyle=':',
                linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title if show_legend else
                 f'{title}; {len(lines)} classes, legend: mean only')
    ax.legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
              fontsize='small')
    save_figure(fig, out_file, bbox_inches='tight')
