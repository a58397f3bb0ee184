"""Check the VOC-style data a config points at, before training on it.

Usage::

    python tools/misc/check_dataset.py CONFIG [--splits train val test] \\
        [--cfg-options data_root=/data/VOCdevkit/]

Prints the data roots checked and, per split file, the images, objects and
difficult objects of every class; exits with status 1 and one message naming
each bad path (missing data root, split file, image or XML file; an image
that does not decode; unreadable or inconsistent XML) and what to do.
``data_root=X`` moves every dataset that uses the config's ``data_root``
(see :func:`mmext.utils.run_config.merge_cfg_options`).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

from mmext.datasets.config_check import check_dataset_config
from mmext.datasets.voc_check import DataCheckError, SplitReport
from mmext.utils.run_config import merge_cfg_options
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
        quick (bool): Reuse the XML counts of an earlier passed check and
            do not decode the images (see
            :func:`mmext.datasets.config_check.check_dataset_config`); a full
            check decodes every image.

    Returns:
        dict[str, SplitReport]: The reports by split file.

    Raises:
        DataCheckError: When the data has problems.
    """
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, cfg_options)
    reports = check_dataset_config(
        cfg, splits=splits, quick=quick, check_images=not quick,
        progress=True)
    if not reports:
        print(f'{config}: no VOC-style dataset in {", ".join(splits)}; '
              'nothing checked')
    roots: Dict[str, List[str]] = {}
    for report in reports.values():
        root = report.data_root or osp.dirname(report.split_file)
        roles = roots.setdefault(root, [])
        roles += [r for r in report.roles if r not in roles]
    for root, roles in roots.items():
        print(f'checked data root {root} ({", ".join(roles)})')
    for report in reports.values():
        print(format_report(report))
    return reports


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the check as the command line says; exit 1 on data problems."""
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
        help='skip parsing XML files unchanged since a check that passed, '
        'and decoding the images')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings (as train.py); data_root=X moves '
        "every dataset under the config's data_root to X")
    args = parser.parse_args(argv)
    try:
        run(args.config, args.splits, args.cfg_options, args.quick)
    except DataCheckError as err:
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
