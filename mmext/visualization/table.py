"""Plain-text tables in the style mmdet prints (terminaltables' AsciiTable),
and the per-class tables of the detection evaluator."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

#: what a cell shows for a value that is undefined (None, nan, inf)
UNDEFINED = '-'


def _cell(value, float_fmt: str) -> str:
    if value is None:
        return UNDEFINED
    if isinstance(value, (float, np.floating)):
        return format(value, float_fmt) if math.isfinite(value) \
            else UNDEFINED
    return str(value)


def format_table(header: Sequence[str],
                 rows: Sequence[Sequence],
                 title: Optional[str] = None,
                 float_fmt: str = '.4f',
                 footer: Optional[Sequence] = None) -> str:
    """Format rows as an ASCII table.

    Args:
        header (Sequence[str]): Column names.
        rows (Sequence[Sequence]): Table body; floats are formatted with
            ``float_fmt``, None, ``nan`` and ``inf`` show as ``-``,
            everything else goes through ``str``.
        title (str, optional): Title shown in the top border.
        float_fmt (str): Format of float cells. Defaults to ``'.4f'``.
        footer (Sequence, optional): A last row set apart by a rule, e.g.
            the mean.

    Returns:
        str: The table, ready for ``print`` or ``MMLogger.info``.
    """
    from terminaltables import AsciiTable  # only when a table is made

    data = [list(header)] + [[_cell(v, float_fmt) for v in row]
                             for row in rows]
    if footer is not None:
        data.append([_cell(v, float_fmt) for v in footer])
    table = AsciiTable(data, title)
    table.inner_footing_row_border = footer is not None
    return table.table


def _shown_classes(classes: Sequence[str], num_gts: Sequence[int],
                   num_dets: Sequence[int]) -> List[int]:
    """Indices of the classes with GT or detections."""
    return [
        k for k in range(len(classes)) if num_gts[k] > 0 or num_dets[k] > 0
    ]


def _dropped_note(num_classes: int, shown: int) -> str:
    dropped = num_classes - shown
    if not dropped:
        return ''
    return (f'\n{dropped} of {num_classes} classes with neither GT nor '
            'detections not shown')


def _mean_over_defined(values: Sequence[float]) -> Optional[float]:
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else None


def format_ap_table(per_class: Dict[str, Dict[str, float]],
                    classes: Sequence[str], num_gts: Sequence[int],
                    num_dets: Sequence[int]) -> str:
    """Per-class AP table, one column per key of ``per_class``.

    Rows of classes with neither GT nor detections are left out (a line
    under the table says how many); an undefined AP (a class without GT)
    shows as ``-``; the footer is the mean over classes with an AP.

    Args:
        per_class (dict): ``{column: {class: AP}}``.
        classes (Sequence[str]): Class names, indexed by label.
        num_gts (Sequence[int]): GTs per class that count.
        num_dets (Sequence[int]): Detections per class.

    Returns:
        str: The table.
    """
    keys = list(per_class)
    shown = _shown_classes(classes, num_gts, num_dets)
    rows = [[classes[k], int(num_gts[k]), int(num_dets[k])] +
            [per_class[key][classes[k]] for key in keys] for k in shown]
    footer = ['mean', '', ''] + [
        _mean_over_defined(list(per_class[key].values())) for key in keys
    ]
    return format_table(['class', 'gts', 'dets'] + keys, rows,
                        title='per-class AP', footer=footer) + \
        _dropped_note(len(classes), len(shown))


def _prf_row(r: dict) -> list:
    """A P/R/F1 row; without GT only the precision at the threshold is
    defined (recall, F1 and the best-F1 cut are not)."""
    at_thr, best = r['at_thr'], r['best']
    if r['num_gts'] == 0:
        return [r['name'], 0, at_thr['precision']] + [None] * 6
    return [
        r['name'], r['num_gts'], at_thr['precision'], at_thr['recall'],
        at_thr['f1'], best['score_thr'], best['precision'], best['recall'],
        best['f1']
    ]


def format_prf_table(rows: List[dict], score_thr: float, name: str,
                     num_dets: Sequence[int]) -> str:
    """Per-class precision / recall / F1 at ``score_thr`` and at the
    best-F1 threshold (``-`` where undefined: the threshold of a class
    without detections, all but the precision of a class without GT).

    Args:
        rows (list[dict]): Per class: ``name``, ``num_gts``, ``at_thr`` and
            ``best`` dicts of ``precision``, ``recall``, ``f1`` (``best``
            also ``score_thr``).
        score_thr (float): The fixed threshold of the first columns.
        name (str): What the matching was (e.g. ``'iou50'``), for the title.
        num_dets (Sequence[int]): Detections per class; classes with
            neither GT nor detections are left out.

    Returns:
        str: The table.
    """
    header = [
        'class', 'gts', f'P@{score_thr:g}', f'R@{score_thr:g}',
        f'F1@{score_thr:g}', 'best thr', 'P', 'R', 'F1'
    ]
    names = [r['name'] for r in rows]
    shown = _shown_classes(names, [r['num_gts'] for r in rows], num_dets)
    body = [_prf_row(rows[k]) for k in shown]
    return format_table(
        header, body,
        title=f'P/R/F1 per class (VOC matching, {name})') + _dropped_note(
            len(rows), len(shown))
