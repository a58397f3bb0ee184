"""Precision-recall curve plots (matplotlib, Agg backend: no display)."""
from typing import Dict, Optional

import numpy as np


def plot_pr_curves(curves: Dict[str, Dict[str, np.ndarray]],
                   out_file: str,
                   title: Optional[str] = None) -> None:
    """Plot one precision-recall curve per class into one PNG.

    Args:
        curves (dict): ``{class name: {'recall': ..., 'precision': ...,
            'ap': float (optional)}}``; classes without points are listed in
            the legend only.
        out_file (str): PNG path; its folder must exist.
        title (str, optional): Figure title.
    """
    import matplotlib
    matplotlib.use('Agg')  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    try:
        for name, c in curves.items():
            label = name if c.get('ap') is None else f"{name} ({c['ap']:.3f})"
            ax.plot(c['recall'], c['precision'], linewidth=1, label=label)
        ax.set_xlabel('recall')
        ax.set_ylabel('precision')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(title)
        if curves:
            ax.legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                      fontsize='small', ncol=1 + len(curves) // 30)
        fig.savefig(out_file, bbox_inches='tight')
    finally:
        plt.close(fig)
