"""Evaluate saved detections offline: VOC07 / VOC12 mAP and COCO stats.

Three inputs:

* a ``tools/test.py --out results.json`` COCO-style results json plus the
  dataset config (GT read from the config's test dataset)::

    python tools/analysis/eval_dets.py --res-json results.json --config CFG \\
        --metric voc07 coco --out metrics.json

* the same with a ``tools/test.py --out results.pkl`` pickle (``--pkl``).
  Loading a pickle runs whatever code it holds: only load your own;

* a COCO-format GT json plus a COCO-format results json; an annotation with
  ``"difficult": 1`` or ``"ignore": 1`` is a VOC difficult box (ignored by
  every metric, an ignore region matched once in COCO-style evaluation) and
  ``"iscrowd": 1`` a COCO crowd region::

    python tools/analysis/eval_dets.py --gt-json gt.json \\
        --res-json dets.json --metric coco --out metrics.json

With ``--config``, every image of the test dataset must have predictions
in a pickle (``--allow-missing`` scores the missing ones as images without
detections); a results json cannot tell an image left out from one without
detections, so images without entries only draw a warning.

``metrics.json`` is a flat object with the keys of ``mmext.DetectionAP``
(see :mod:`mmext.evaluation.detection`): ``voc07/mAP``, ``voc07/AP_<class>``
(or ``voc07/AP50``, ``voc07/AP50_<class>``... with several ``--iou-thrs``),
the same for ``voc12``, ``coco/AP`` ... ``coco/ARl`` and ``coco/AP_<class>``,
``coco/AP50_<class>``, ``coco/AP75_<class>``; fractions in [0, 1], -1 for a
COCO stat without valid GT (as pycocotools). A class without GT has no
per-class key.

``--analyze DIR`` also writes the error analysis of
:func:`mmext.evaluation.analysis.analyze_detections` there: confusion
matrix, TIDE error breakdown and confidence curves, each as PNG + JSON::

    python tools/analysis/eval_dets.py --pkl results.pkl --config CFG \
        --analyze work_dirs/analysis

Only the ``--config`` route imports mmengine and the data set machinery;
the COCO json route runs on numpy alone and starts at once.
"""
import argparse
import os
import pickle
import sys
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmext.evaluation.coco_json import (load_coco_detections, read_json,
                                        results_list)
from mmext.evaluation.detection import (ALLOWED_METRICS, evaluate_detections,
                                        per_class_scalars, resolve_ignore_as)
from mmext.evaluation.functional.checks import check_iou_thrs
from mmext.evaluation.functional.records import DetectionArrays
from mmext.evaluation.samples import concat_samples, sample_to_arrays
from mmext.visualization.table import format_ap_table
from mmext.visualization.writers import write_json


def load_coco_json(gt_file: str,
                   res_file: str) -> Tuple[DetectionArrays, List[str]]:
    """Detections and GT of COCO-format GT and results files.

    Images are ordered by id (pycocotools' order, which breaks score ties),
    classes by category id; see :mod:`mmext.evaluation.coco_json`.

    Returns:
        tuple: ``(arrays, class names)``; boxes are ``x, y, w, h``.

    Raises:
        ValueError: Naming the file: not JSON, duplicate image or category
            ids, or (naming the entry) a result or annotation with a
            malformed bbox, score or area, or an unknown image or category.
    """
    return load_coco_detections(gt_file, res_file)


def _by_image(indexed: Dict[str, np.ndarray], num_images: int) -> list:
    """Positions of the entries of each image, in file order."""
    order = np.argsort(indexed['imgs'], kind='stable')
    bounds = np.searchsorted(indexed['imgs'][order], np.arange(num_images + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(num_images)]


def build_test_dataset(config: str):
    """The config's test dataset, without its pipeline."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS, DefaultScope
    cfg = Config.fromfile(config)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.pipeline = []
    ds_cfg.lazy_init = False
    # the config's scope for the build only: callers keep theirs
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        return DATASETS.build(ds_cfg)


def load_pickle(pkl_file: str) -> Dict[object, dict]:
    """The ``pred_instances`` of each image of a ``test.py --out`` pickle.

    Loading a pickle runs the code it holds: only load files you made.

    Returns:
        dict: ``{img_id: pred_instances}``.

    Raises:
        ValueError: Naming the file and entry: not a pickle, not a list of
            data samples, an entry without ``pred_instances``, or two
            entries for one image.
    """
    try:
        with open(pkl_file, 'rb') as f:
            preds = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError,
            ImportError) as err:
        raise ValueError(f'{pkl_file} is not a readable pickle: {err}') \
            from None
    if not isinstance(preds, list):
        raise ValueError(f'{pkl_file}: expected the list of data samples '
                         f'that test.py --out writes, got '
                         f'{type(preds).__name__}')
    by_id = {}
    for n, p in enumerate(preds):
        if not isinstance(p, dict) or 'pred_instances' not in p:
            raise ValueError(f'{pkl_file}: entry #{n} has no '
                             "'pred_instances'")
        img_id = p.get('img_id')
        if img_id in by_id:
            raise ValueError(f'{pkl_file}: two predictions for image '
                             f'{img_id!r} (entries {by_id[img_id][0]} and '
                             f'{n})')
        by_id[img_id] = (n, p['pred_instances'])
    return {k: v for k, (_, v) in by_id.items()}


def load_results_json(res_file: str, dataset) -> Dict[object, dict]:
    """The predictions of each image of a COCO-style results json, with ids
    as ``tools/test.py --out x.json`` writes them (see
    :mod:`mmext.evaluation.results_json`).

    Returns:
        dict: ``{img_id: dict(bboxes (x1, y1, x2, y2), scores, labels)}``
        for the images that have entries.

    Raises:
        ValueError: Naming the file and the entry at fault.
    """
    from mmext.evaluation.results_json import (category_ids,
                                               index_coco_entries)
    res = results_list(read_json(res_file), res_file)
    img_ids = [dataset.get_data_info(i)['img_id']
               for i in range(len(dataset))]
    try:
        d = index_coco_entries('result', res, img_ids,
                               category_ids(dataset), True)
    except ValueError as err:
        raise ValueError(f'{res_file}: {err}') from None
    boxes = d['boxes'].copy()
    boxes[:, 2:] += boxes[:, :2]
    return {
        img_ids[i]: dict(bboxes=boxes[di], scores=d['scores'][di],
                         labels=d['labels'][di])
        for i, di in enumerate(_by_image(d, len(img_ids))) if len(di)
    }


def samples_from_dataset(dataset, preds: Dict[object, dict], source: str,
                         allow_missing: bool,
                         missing_is_error: bool = True) -> List[dict]:
    """Pair each image of ``dataset`` with its predictions.

    Args:
        dataset: The built test dataset (GT in ``instances``).
        preds (dict): ``{img_id: pred_instances}``.
        source (str): The predictions file, for messages.
        allow_missing (bool): Score images without predictions in a pickle
            as images without detections (with a warning) instead of
            refusing them.
        missing_is_error (bool): Whether images without predictions are an
            error (pickles: every image has an entry) or a warning (a
            results json lists no entry for an image without detections).
            Defaults to True.

    Returns:
        list[dict]: :func:`sample_to_arrays` samples in dataset order.

    Raises:
        ValueError: For predictions of images outside the dataset, or images
            without predictions unless allowed, with the counts.
    """
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    unknown = set(preds) - {info['img_id'] for info in infos}
    if unknown:
        raise ValueError(f'{source}: predictions for {len(unknown)} image '
                         'ids not in the data set, e.g. '
                         f'{sorted(map(repr, unknown))[:5]}')
    missing = [info['img_id'] for info in infos
               if info['img_id'] not in preds]
    if missing:
        msg = (f'{source} has predictions for {len(infos) - len(missing)} '
               f'of the {len(infos)} test images; {len(missing)} have none '
               f'(e.g. {missing[:3]})')
        if missing_is_error and not allow_missing:
            raise ValueError(
                f'{msg}. Scoring them as images without detections lowers '
                'every AP: evaluate the complete test.py --out file, or '
                'pass --allow-missing to score them so')
        warnings.warn(f'{msg}: they count as images without detections')
    empty = dict(bboxes=np.zeros((0, 4)), scores=np.zeros(0),
                 labels=np.zeros(0, np.int64))
    return [
        sample_to_arrays(
            dict(img_id=info['img_id'],
                 pred_instances=preds.get(info['img_id'], empty),
                 instances=info['instances'])) for info in infos
    ]


def load_with_config(config: str,
                     pkl_file: Optional[str] = None,
                     res_file: Optional[str] = None,
                     allow_missing: bool = False
                     ) -> Tuple[List[dict], list, str]:
    """Samples from a ``test.py --out`` pickle or results json, GT from the
    config's test dataset (mmdet's dump keeps predictions only).

    Returns:
        tuple: ``(samples, class names, ignore_as)``, samples in data set
        order, ``ignore_as`` from the data set type (``'difficult'`` for
        VOC, ``'crowd'`` otherwise).
    """
    dataset = build_test_dataset(config)
    if pkl_file is not None:
        preds, source = load_pickle(pkl_file), pkl_file
    else:
        preds, source = load_results_json(res_file, dataset), res_file
    samples = samples_from_dataset(dataset, preds, source, allow_missing,
                                   missing_is_error=pkl_file is not None)
    meta = dataset.metainfo
    ignore_as = resolve_ignore_as('auto', meta.get('dataset_type', ''))
    return samples, list(meta['classes']), ignore_as


def evaluate(arrays: DetectionArrays,
             classes: Sequence[str],
             metric: Sequence[str] = ('voc07', ),
             iou_thrs: Sequence[float] = (0.5, ),
             legacy_coords: bool = True,
             ignore_as: str = 'difficult',
             match_ann_id_zero: bool = False) -> Tuple[dict, dict, str]:
    """Flat ``metrics.json`` content, the summary and the per-class table.

    COCO evaluation runs in two processes when a CPU is idle (see
    :func:`mmext.evaluation.functional.coco.coco_eval`): this tool is a
    process of its own, so forking is safe here.

    Returns:
        tuple: ``(metrics, summary, table)``: ``metrics`` has the summary
        keys and the per-class APs (classes with GT only), ``summary`` the
        summary keys only.
    """
    out = evaluate_detections(arrays, classes, metric, iou_thrs,
                              legacy_coords, ignore_as,
                              match_ann_id_zero=match_ann_id_zero,
                              coco_processes=2)
    flat = dict(out.metrics, **per_class_scalars(out))
    table = format_ap_table(out.per_class, out.classes, out.num_gts,
                            out.num_dets)
    return flat, out.metrics, table


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate saved detections (VOC07/VOC12/COCO).')
    src = parser.add_argument_group(
        'inputs: --res-json or --pkl with --config, or --res-json with '
        '--gt-json')
    src.add_argument(
        '--pkl',
        help='results pickle of test.py --out x.pkl. Loading a pickle runs '
        'any code it holds: only load files you made, prefer --res-json')
    src.add_argument('--config', help='config whose test dataset has the GT')
    src.add_argument('--gt-json', help='COCO-format ground truth')
    src.add_argument(
        '--res-json',
        help='COCO-style results json (test.py --out x.json, or mmdet '
        'CocoMetric format_only)')
    src.add_argument(
        '--allow-missing',
        action='store_true',
        help='with --pkl: score test images without predictions as images '
        'without detections instead of refusing the file')
    parser.add_argument('--metric', nargs='+', default=['voc07'],
                        choices=ALLOWED_METRICS)
    parser.add_argument('--iou-thrs', nargs='+', type=float, default=[0.5],
                        help='IoU thresholds of the VOC metrics, in (0, 1]')
    parser.add_argument('--legacy-coords',
                        action=argparse.BooleanOptionalAction, default=True,
                        help='VOC +1 pixel box widths (default: on)')
    parser.add_argument(
        '--match-ann-id-zero',
        action='store_true',
        help='with --gt-json: match an annotation whose id is 0 like any '
        'other (pycocotools never counts it as matched; by default this '
        'is reproduced, with a warning)')
    parser.add_argument('--out', help='write the flat metrics json here')
    parser.add_argument(
        '--analyze', metavar='DIR',
        help='write the error analysis there: confusion matrix, TIDE error '
        'breakdown, confidence curves (PNG + JSON)')
    parser.add_argument(
        '--analyze-score-thr', type=float, default=0.3,
        help='score threshold of the confusion matrix (default 0.3, as '
        "mmdet's confusion_matrix.py)")
    args = parser.parse_args(argv)
    if bool(args.pkl) == bool(args.res_json):
        parser.error('give either --pkl or --res-json (with --config), or '
                     '--res-json with --gt-json')
    if bool(args.config) == bool(args.gt_json):
        parser.error('give the ground truth by either --config or --gt-json')
    if args.pkl and args.gt_json:
        parser.error('--pkl needs --config (a pickle has no GT)')
    try:
        check_iou_thrs(args.iou_thrs)
    except ValueError as err:
        parser.error(f'--iou-thrs: {err}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Evaluate as the command line says; returns the flat metrics."""
    args = parse_args(argv)
    if args.config:
        samples, classes, ignore_as = load_with_config(
            args.config, args.pkl, args.res_json, args.allow_missing)
        arrays = concat_samples(samples, len(classes))
    else:
        arrays, classes = load_coco_json(args.gt_json, args.res_json)
        ignore_as = 'difficult'
    metrics, summary, table = evaluate(arrays, classes, args.metric,
                                       args.iou_thrs, args.legacy_coords,
                                       ignore_as, args.match_ann_id_zero)
    print(table)
    for k, v in summary.items():
        print(f'{k}: {v:.4f}')
    if args.out:
        write_json(args.out, metrics, indent=1)
    if args.analyze:
        # the analyses and their plots load only when asked for: the
        # evaluation alone starts faster
        from mmext.evaluation.analysis import analyze_detections
        analyze_detections(arrays, classes, args.analyze,
                           score_thr=args.analyze_score_thr)
        print(f'error analysis written to {args.analyze}')
    return metrics


def exit_without_teardown() -> None:
    """End the process once everything is written and flushed, skipping
    the interpreter's teardown of the loaded modules and arrays (about 30
    ms of CPU at 500k detections, some 5% of a run from the json files):
    nothing is left to clean up that the exit does not (the files are
    closed, the forked children reaped)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if 'logging' in sys.modules:  # the --config route's mmengine loggers
        sys.modules['logging'].shutdown()
    os._exit(0)


if __name__ == '__main__':
    try:
        main()
    except (ValueError, OSError) as error:  # bad input: no traceback
        sys.exit(f'error: {error}')
    exit_without_teardown()
