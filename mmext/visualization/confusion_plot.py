"""Detection confusion matrix: row-normalised heat map PNG and JSON."""
from typing import Sequence

import numpy as np

from mmext.evaluation.functional.confusion import normalize_rows
from .writers import atomic_path, write_json


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str],
                          out_file: str, title: str = '') -> None:
    """Row-normalised heat map (each GT row sums to 100 %), PNG, atomic.

    Cells show the percentage and, below it, the count (up to 30 classes;
    beyond that the colours alone). Rows are GT classes, columns predicted
    classes, background last in both; classes with neither GT nor
    detections are left out.

    Args:
        matrix (np.ndarray): ``(C + 1, C + 1)`` counts.
        class_names (Sequence[str]): ``C`` names.
        out_file (str): PNG path; its folder must exist.
        title (str): Figure title.
    """
    import matplotlib
    matplotlib.use('Agg')  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    counts = np.asarray(matrix)
    names = list(class_names) + ['background']
    # classes with neither GT nor detections are empty rows and columns:
    # leave them out of the picture (the JSON keeps them)
    shown = (counts.sum(axis=0) + counts.sum(axis=1)) > 0
    shown[-1] = True
    counts = counts[np.ix_(shown, shown)]
    names = [n for n, keep in zip(names, shown) if keep]
    k = len(names)
    percent = normalize_rows(counts) * 100
    # at least 6 inches so that one or two classes stay readable, at most
    # 20 (COCO's 81 rows at 6-pt labels) so that the PNG stays small
    side = min(max(6.0, 0.45 * k + 2.5), 20.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side), dpi=100)
    try:
        im = ax.imshow(percent, cmap='Blues', vmin=0, vmax=100)
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cbar.set_label('% of the GT row')
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        fontsize = 10 if k <= 12 else 8 if k <= 30 else 6
        ax.set_xticklabels(names, rotation=45, ha='right',
                           rotation_mode='anchor', fontsize=fontsize)
        ax.set_yticklabels(names, fontsize=fontsize)
        ax.set_xlabel('predicted class')
        ax.set_ylabel('ground-truth class')
        if k <= 31:
            for i in range(k):
                for j in range(k):
                    if counts[i, j] == 0:
                        continue
                    color = 'white' if percent[i, j] > 55 else 'black'
                    ax.text(j, i, f'{percent[i, j]:.0f}%\n{counts[i, j]}',
                            ha='center', va='center', color=color,
                            fontsize=max(fontsize - 2, 5))
        ax.set_title(title or 'Confusion matrix (rows: GT, normalised)')
        fig.tight_layout()
        with atomic_path(out_file) as tmp:
            fig.savefig(tmp, format='png')
    finally:
        plt.close(fig)


def write_confusion_matrix(json_file: str, png_file: str,
                           matrix: np.ndarray, class_names: Sequence[str],
                           **settings) -> None:
    """Write the counts, the row-normalised matrix and the settings as
    JSON, and the heat map as PNG.

    Args:
        json_file (str): JSON path.
        png_file (str): PNG path.
        matrix (np.ndarray): ``(C + 1, C + 1)`` counts.
        class_names (Sequence[str]): ``C`` names.
        **settings: Recorded in the JSON and the title (``score_thr``,
            ``iou_thr``, extra matrices...).
    """
    write_json(json_file, dict(
        classes=list(class_names) + ['background'], rows='ground truth',
        columns='prediction', matrix=np.asarray(matrix),
        normalized=normalize_rows(matrix), **settings))
    shown = ', '.join(f'{k} {v}' for k, v in settings.items()
                      if isinstance(v, (int, float)))
    plot_confusion_matrix(matrix, class_names, png_file,
                          title=f'Confusion matrix ({shown})')
