"""Check the VOC-style data a config points at, before training on it.

Usage::

    python tools/misc/check_dataset.py CONFIG [--splits train val test]

Prints, per split file, the images, objects and difficult objects of every
class; exits with status 1 and one message naming each bad path (missing
data root, split file, image or XML file; unreadable or inconsistent XML)
and what to do.
"""
import argparse
import sys
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

from mmext.utils import DataCheckError, SplitReport, check_dataset_config
from mmext.visualization import format_table


def format_report(report: SplitReport) -> str:
    """Render the per-class counts of one split as a table.

    Args:
        report (SplitReport): A checked split.

    Returns:
        str: The table; it has a ``small`` column (boxes the training
        ``bbox_min_size`` filter ignores) when the split has such boxes.
    """
    # a first line, not the table title: terminaltables drops long titles
    title = f'{report.split_file} ({", ".join(report.roles)})'
    if not report.parsed:
        return f'{title}: {report.num_images} images (no annotations)'
    with_small = any(report.small.values())
    header = ['class', 'images', 'objects', 'difficult']
    header += ['small'] if with_small else []
    rows = []
    for name in report.classes:
        row = [name, report.images[name], report.objects[name],
               report.difficult[name]]
        rows.append(row + ([report.small[name]] if with_small else []))
    footer = ['total', report.num_images, report.num_objects,
              report.num_difficult]
    footer += [sum(report.small.values())] if with_small else []
    table = title + '\n' + format_table(header, rows, footer=footer)
    if report.skipped:
        table += (f'\n{report.skipped} objects of classes outside the '
                  "config's classes are not used")
    return table


def run(config: str,
        splits: List[str],
        cfg_options: Optional[dict] = None,
        quick: bool = False) -> Dict[str, SplitReport]:
    """Load ``config`` and check its data; print a table per split file.

    Args:
        config (str): Config file path.
        splits (list[str]): Dataloaders to check (train, val, test).
        cfg_options (dict, optional): Overrides, as ``--cfg-options``.
        quick (bool): See :func:`mmext.utils.check_dataset_config`.

    Returns:
        dict[str, SplitReport]: The reports by split file.

    Raises:
        DataCheckError: When the data has problems.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    reports = check_dataset_config(
        cfg, splits=splits, quick=quick, progress=True)
    if not reports:
        print(f'{config}: no VOC-style dataset in {", ".join(splits)}; '
              'nothing checked')
    for report in reports.values():
        print(format_report(report))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Check the VOC-style data of a config.')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val', 'test'],
        choices=['train', 'val', 'test'],
        help='dataloaders to check')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='skip parsing XML files unchanged since a check that passed')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. data_root=... (as train.py)')
    args = parser.parse_args()
    try:
        run(args.config, args.splits, args.cfg_options, args.quick)
    except DataCheckError as err:
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
