"""Precision-recall curves: PNG plots (matplotlib, Agg backend: no display)
and the JSON + PNG files of the detection evaluator's ``curve_dir``."""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from mmext.evaluation.functional import (COCO_RECALL_THRS,
                                         interpolated_precision)
from .writers import new_figure, save_figure, write_json


def envelope_curve(recall: np.ndarray, precision: np.ndarray,
                   recall_thrs: np.ndarray = COCO_RECALL_THRS
                   ) -> Dict[str, np.ndarray]:
    """The interpolated precision (the monotone envelope, pycocotools
    style: 0 past the last recall reached) at each recall threshold.

    Returns:
        dict: ``recall`` (the grid) and ``precision``, each ``(R,)``.
    """
    return dict(recall=np.asarray(recall_thrs),
                precision=interpolated_precision(recall, precision,
                                                 recall_thrs))


def mean_pr_curve(curves: Dict[str, Dict[str, np.ndarray]],
                  recall_thrs: np.ndarray = COCO_RECALL_THRS
                  ) -> Dict[str, np.ndarray]:
    """The mean over classes of :func:`envelope_curve`.

    Args:
        curves (dict): ``{class: {'recall': ..., 'precision': ...}}``, the
            classes to average (those with GT).
        recall_thrs (np.ndarray): Recall grid. Defaults to COCO's 101
            points.

    Returns:
        dict: ``recall`` (the grid) and ``precision``, each ``(R,)``; empty
        arrays without classes.
    """
    if not curves:
        return dict(recall=np.zeros(0), precision=np.zeros(0))
    precision = np.mean([
        envelope_curve(c['recall'], c['precision'], recall_thrs)['precision']
        for c in curves.values()
    ], axis=0)
    return dict(recall=np.asarray(recall_thrs), precision=precision)


def plot_pr_curves(curves: Dict[str, Dict[str, np.ndarray]],
                   out_file: str,
                   title: Optional[str] = None,
                   mean: Optional[Dict[str, np.ndarray]] = None) -> None:
    """Plot one precision-recall curve per class into one PNG, atomically.

    Args:
        curves (dict): ``{class name: {'recall': ..., 'precision': ...,
            'ap': float (optional)}}``; a class's AP goes into the legend.
        out_file (str): PNG path; its folder must exist.
        title (str, optional): Figure title.
        mean (dict, optional): ``recall``, ``precision`` and optional ``ap``
            of a mean curve, drawn bold in black.
    """
    fig, ax = new_figure(figsize=(8, 6), dpi=100)
    for name, c in curves.items():
        ax.plot(c['recall'], c['precision'], linewidth=1,
                label=_label(name, c.get('ap')))
    if mean is not None and len(mean['recall']):
        ax.plot(mean['recall'], mean['precision'], color='black',
                linewidth=3, label=_label('mean', mean.get('ap')))
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if ax.lines:
        ax.legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                  fontsize='small', ncol=1 + len(ax.lines) // 30)
    save_figure(fig, out_file, bbox_inches='tight')


def _label(name: str, ap: Optional[float]) -> str:
    return name if ap is None else f'{name} (AP {ap:.3f})'


def write_pr_curves(curves: Dict[str, List[dict]], out_dir: str,
                    ap_name: str = 'AP') -> List[str]:
    """Write ``pr_curves_<name>.json`` and ``pr_curves_<name>.png`` per
    entry of ``curves`` (one per IoU threshold of the VOC matching).

    The PNG draws the interpolated precision (:func:`envelope_curve`) of
    each class with GT, its AP in the legend, and their bold mean
    (:func:`mean_pr_curve`), whose legend AP is the mean of the class APs. The JSON keeps every class: points, GT count, AP, P/R/F1
    at the score threshold and at the best F1 (``null`` where undefined).

    Args:
        curves (dict): ``{name: [per-class dict]}`` with ``name``,
            ``num_gts``, ``recall``, ``precision``, ``scores``, ``at_thr``,
            ``best`` and ``ap`` (``{metric: AP}``, may be empty).
        out_dir (str): Output folder, created if missing.
        ap_name (str): The metric whose AP goes into the PNG legend
            (``'voc07'``...); None or a missing one: no AP.

    Returns:
        list[str]: The files written.
    """
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, rows in curves.items():
        json_file = osp.join(out_dir, f'pr_curves_{name}.json')
        write_json(json_file, {
            r['name']: dict(
                num_gts=r['num_gts'], ap=r.get('ap', {}), recall=r['recall'],
                precision=r['precision'], scores=r['scores'],
                at_thr=r['at_thr'], best_f1=r['best'])
            for r in rows
        })
        with_gt = {
            r['name']: dict(recall=r['recall'], precision=r['precision'],
                            ap=r.get('ap', {}).get(ap_name))
            for r in rows if r['num_gts'] > 0
        }
        mean = mean_pr_curve(with_gt)
        # classes drawn as the envelope the mean averages, on its grid
        drawn = {
            c: dict(envelope_curve(v['recall'], v['precision']), ap=v['ap'])
            for c, v in with_gt.items()
        }
        aps = [c['ap'] for c in with_gt.values() if c['ap'] is not None]
        mean['ap'] = float(np.mean(aps)) if aps and len(aps) == len(
            with_gt) else None
        png_file = osp.join(out_dir, f'pr_curves_{name}.png')
        title = f'PR curves ({name}' + (f', {ap_name})' if mean['ap']
                                         is not None else ')')
        plot_pr_curves(drawn, png_file, title=title, mean=mean)
        written += [json_file, png_file]
    return written
