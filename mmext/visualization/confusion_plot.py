"""Detection confusion matrix: row-normalised heat map PNG and JSON."""
from typing import Sequence

import numpy as np

from mmext.evaluation.functional.confusion import normalize_rows
from .writers import new_figure, save_figure, text_width_in, write_json


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

    from matplotlib import transforms  # not at import: matplotlib is slow

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
    fontsize = 10 if k <= 12 else 8 if k <= 30 else 6
    # the layout is computed, not fitted by tight_layout (half a second at
    # 81 classes): a square matrix of at least 4.5 inches (one or two
    # classes stay readable) and at most 16 (COCO's 81 rows at 6-pt
    # labels, 14 pt a row), margins from the longest class name
    side = min(max(4.5, 0.2 * k), 16.0)
    label = text_width_in(names, fontsize) + 0.1
    left = label + 0.55  # tick labels, axis label
    bottom = label * 0.71 + 0.55  # tick labels at 45 degrees, axis label
    top, right = 0.5, 1.1  # title; colour bar with its labels
    width, height = left + side + right, bottom + side + top
    fig, ax = new_figure(figsize=(width, height), dpi=100)
    ax.set_position([left / width, bottom / height, side / width,
                     side / height])
    cax = fig.add_axes([(left + side + 0.15) / width, bottom / height,
                        0.2 / width, side / height])
    im = ax.imshow(percent, cmap='Blues', vmin=0, vmax=100, aspect='auto')
    fig.colorbar(im, cax=cax).set_label('% of the GT row')
    # class names as plain texts, not tick labels: matplotlib's 2 x 81
    # tick objects cost more than the rest of the figure
    ax.set_xticks([])
    ax.set_yticks([])
    below = transforms.offset_copy(ax.get_xaxis_transform(), fig=fig,
                                   y=-4, units='points')
    beside = transforms.offset_copy(ax.get_yaxis_transform(), fig=fig,
                                    x=-4, units='points')
    for i, name in enumerate(names):
        ax.text(i, 0, name, transform=below, rotation=45, ha='right',
                va='top', rotation_mode='anchor', fontsize=fontsize)
        ax.text(0, i, name, transform=beside, ha='right', va='center',
                fontsize=fontsize)
    fig.text((left + side / 2) / width, 0.15 / height, 'predicted class',
             ha='center', va='bottom')
    fig.text(0.15 / width, (bottom + side / 2) / height,
             'ground-truth class', ha='left', va='center', rotation=90)
    if k <= 31:
        for i, j in zip(*np.nonzero(counts)):
            color = 'white' if percent[i, j] > 55 else 'black'
            ax.text(j, i, f'{percent[i, j]:.0f}%\n{counts[i, j]}',
                    ha='center', va='center', color=color,
                    fontsize=max(fontsize - 2, 5))
    # y given: matplotlib skips measuring every tick label to place it
    ax.set_title(title or 'Confusion matrix (rows: GT, normalised)', y=1)
    save_figure(fig, out_file)


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
                          title=f'Confusion matrix ({shown})' if shown else '')
