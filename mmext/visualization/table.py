"""Plain-text tables in the style mmdet prints (terminaltables' AsciiTable)."""
from typing import Optional, Sequence

from terminaltables import AsciiTable


def format_table(header: Sequence[str],
                 rows: Sequence[Sequence],
                 title: Optional[str] = None,
                 float_fmt: str = '.4f',
                 footer: Optional[Sequence] = None) -> str:
    """Format rows as an ASCII table.

    Args:
        header (Sequence[str]): Column names.
        rows (Sequence[Sequence]): Table body; floats are formatted with
            ``float_fmt``, everything else with ``str``.
        title (str, optional): Title shown in the top border.
        float_fmt (str): Format of float cells. Defaults to ``'.4f'``.
        footer (Sequence, optional): A last row set apart by a rule, e.g.
            the mean.

    Returns:
        str: The table, ready for ``print`` or ``MMLogger.info``.
    """

    def cell(value) -> str:
        if isinstance(value, float):
            return format(value, float_fmt)
        return str(value)

    data = [list(header)] + [[cell(v) for v in row] for row in rows]
    if footer is not None:
        data.append([cell(v) for v in footer])
    table = AsciiTable(data, title)
    table.inner_footing_row_border = footer is not None
    return table.table
