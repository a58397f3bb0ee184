"""Error-analysis speed: mmext vs tidecv and mmdet's confusion matrix.

A synthetic COCO-val-scale set (``--images`` 5000, ``--classes`` 80, ~7.3 GT
per image, 1% crowd, 100 detections per image = 500k): detections are 40%
jittered GTs (tight, loose and very loose boxes, 15% relabelled, so every
TIDE error type occurs) and 60% random boxes; scores are distinct; classes
without GT in the set get no detections (tidecv would average them in).

Comparisons, each contender in its own process (``harness.py``):

* ``analysis_full``: mmext's whole analysis core (one-to-one and mmdet
  confusion matrices, TIDE at IoU 0.5 and at the 10 COCO thresholds,
  confidence curves) against tidecv's ``evaluate_range`` over the 10 COCO
  thresholds with its main and special errors. tidecv is pure Python, so
  it runs on the first ``--tide-images`` images (default 500, 50k
  detections) and mmext is timed on that same subset for the ratio (its
  full-size time is in ``ours_full_s``); ``max_abs_diff`` compares AP50,
  the six dAPs and the two special dAPs at IoU 0.5 (AP points).
* ``confusion_matrix``: mmext's mmdet-compatible counting against mmdet
  3.3's ``calculate_confusion_matrix`` (score 0.3, IoU 0.5) on the full
  set; ``max_abs_diff`` is over the counts.
* ``analysis_write``: the PNG + JSON writers of ``analyze_detections``
  (``peer`` none; reported for the 3 s budget).

The mmext runs also report their CPU seconds (``ours_full_cpu_s``,
``ours_cpu_s``): on a shared machine they say more than the wall clock.

Input building (tidecv ``Data``, mmdet's data-info lists and tensors) is
not timed. The last lines are one JSON object per comparison.

Usage: ``python benchmarks/bench_analysis.py [--images 5000]
[--tide-images 500] [--classes 80] [--rounds 3] [--contention]``. A smoke
run takes a few images and classes (the plots' time grows with the
classes), e.g. ``--images 60 --tide-images 20 --classes 10 --rounds 1``.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np

import harness

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # mmext, and the peers' adapters in tests/helpers


def make_scene(num_images: int, num_classes: int = 80, seed: int = 0):
    """The synthetic set as :class:`DetectionArrays` (xyxy)."""
    from mmext.evaluation.functional.records import DetectionArrays
    rng = np.random.default_rng(seed)
    ng = rng.poisson(7.3, num_images)
    gt_imgs = np.repeat(np.arange(num_images), ng)
    g = len(gt_imgs)

    def random_boxes(k):
        wh = np.exp(rng.uniform(np.log(8), np.log(400), (k, 2)))
        xy = rng.uniform(0, 640 - wh)
        return np.concatenate([xy, xy + wh], axis=1)

    gt_boxes = random_boxes(g)
    gt_labels = rng.integers(0, num_classes, g)
    n = num_images * 100
    det_imgs = np.repeat(np.arange(num_images), 100)
    det_boxes = random_boxes(n)
    det_labels = rng.integers(0, num_classes, n)
    start = np.cumsum(ng) - ng
    jit = (rng.random(n) < 0.4) & (ng[det_imgs] > 0)
    src = start[det_imgs[jit]] + (rng.random(jit.sum()) *
                                  ng[det_imgs[jit]]).astype(int)
    size = np.tile(gt_boxes[src, 2:] - gt_boxes[src, :2], 2)
    noise = rng.choice([0.03, 0.12, 0.35], len(src))[:, None]
    det_boxes[jit] = gt_boxes[src] + rng.normal(0, 1, (len(src), 4)) * (
        noise * size)
    det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 1)
    det_labels[jit] = np.where(rng.random(len(src)) < 0.85, gt_labels[src],
                               rng.integers(0, num_classes, len(src)))
    # matched-looking boxes score higher on average; ranks make them distinct
    raw = rng.random(n) + 0.6 * jit
    scores = (np.argsort(np.argsort(raw)) + 1) / (n + 1)
    # only classes with GT are detected: where tidecv's mAP is pycocotools'
    # (it averages detected classes without GT in as 0; small sets have some)
    keep = np.isin(det_labels, gt_labels)
    det_boxes, scores, det_labels, det_imgs = (det_boxes[keep], scores[keep],
                                               det_labels[keep],
                                               det_imgs[keep])
    return DetectionArrays(
        det_boxes=det_boxes, det_scores=scores, det_labels=det_labels,
        det_imgs=det_imgs, gt_boxes=gt_boxes, gt_labels=gt_labels,
        gt_imgs=gt_imgs, gt_ignore=np.zeros(g, bool),
        gt_crowd=rng.random(g) < 0.01, num_classes=num_classes,
        img_ids=list(range(num_images)))


def _tide_vector(tide: dict) -> np.ndarray:
    from mmext.evaluation.functional.tide import (TIDE_ERROR_TYPES,
                                                  TIDE_SPECIAL_TYPES)
    return np.array([tide['ap']] + [tide['dap'][k] for k in TIDE_ERROR_TYPES]
                    + [tide['special'][k] for k in TIDE_SPECIAL_TYPES])


def _analysis_core(arrays):
    from mmext.evaluation.functional.confidence import confidence_curves
    from mmext.evaluation.functional.confusion import (confusion_matrix,
                                                       confusion_matrix_mmdet)
    from mmext.evaluation.functional.greedy_match import pair_ious
    from mmext.evaluation.functional.tide import tide_errors
    pairs = pair_ious(arrays)
    confusion_matrix(arrays, 0.3, 0.5, pairs)
    confusion_matrix_mmdet(arrays, 0.3, 0.5, pairs)
    confidence_curves(arrays, 0.5, pairs=pairs)
    return tide_errors(arrays, pairs=pairs)


def _scene(case: str):
    """``case``: ``<kind>:<images>:<classes>`` -> ``(kind, scene)``."""
    kind, images, classes = case.split(':')
    return kind, make_scene(int(images), int(classes))


def run_ours(case: str) -> dict:
    """``case``: kind ``core``, ``mmdet_cm`` or ``write``, see
    :func:`_scene`."""
    kind, arrays = _scene(case)
    if kind == 'core':
        cpu = time.process_time()
        tide, seconds = harness.timed(_analysis_core, arrays)
        return dict(seconds=seconds, cpu_s=time.process_time() - cpu,
                    result=_tide_vector(tide))
    if kind == 'mmdet_cm':
        from mmext.evaluation.functional.confusion import \
            confusion_matrix_mmdet
        matrix, seconds = harness.timed(confusion_matrix_mmdet, arrays, 0.3,
                                        0.5)
        return dict(seconds=seconds, result=matrix)
    from mmext.evaluation.functional.confidence import confidence_curves
    from mmext.evaluation.functional.confusion import confusion_matrix
    from mmext.evaluation.functional.tide import tide_errors
    from mmext.visualization.confidence_plot import write_confidence_curves
    from mmext.visualization.confusion_plot import write_confusion_matrix
    from mmext.visualization.tide_plot import write_tide
    names = [f'class{c}' for c in range(arrays.num_classes)]
    matrix = confusion_matrix(arrays)
    tide = tide_errors(arrays)
    curves = confidence_curves(arrays)
    with tempfile.TemporaryDirectory() as out:
        # warm-up outside the clock: matplotlib's import and font cache
        write_confusion_matrix(osp.join(out, 'a.json'), osp.join(out, 'a.png'),
                               matrix, names)

        def write():
            write_confusion_matrix(osp.join(out, 'c.json'),
                                   osp.join(out, 'c.png'), matrix, names)
            write_tide(osp.join(out, 't.json'), osp.join(out, 't.png'), tide)
            write_confidence_curves(osp.join(out, 'f.json'),
                                    osp.join(out, 'f.png'), curves, names)

        cpu = time.process_time()
        _, seconds = harness.timed(write)
    return dict(seconds=seconds, cpu_s=time.process_time() - cpu)


def run_tidecv(case: str) -> dict:
    from tests.helpers.analysis import tidecv_data
    from tidecv import TIDE
    _, arrays = _scene(case)
    gt, preds = tidecv_data(arrays)

    def peer():
        tide = TIDE()
        tide.evaluate_range(gt, preds, mode=TIDE.BOX)
        run = tide.runs[preds.name]
        main = {e.__name__: v for e, v in run.fix_main_errors().items()}
        special = {e.__name__: v for e, v in run.fix_special_errors().items()}
        return run.ap, main, special

    (ap, main, special), seconds = harness.timed(peer)
    order = ('ClassError', 'BoxError', 'OtherError', 'DuplicateError',
             'BackgroundError', 'MissedError')
    return dict(seconds=seconds, result=np.array(
        [ap] + [main[k] for k in order] +
        [special['FalsePositiveError'], special['FalseNegativeError']]))


def run_mmdet(case: str) -> dict:
    from tests.helpers.analysis import (mmdet_confusion_inputs,
                                        mmdet_confusion_module)
    _, arrays = _scene(case)
    module = mmdet_confusion_module()
    dataset, results = mmdet_confusion_inputs(arrays)
    matrix, seconds = harness.timed(module.calculate_confusion_matrix,
                                    dataset, results, 0.3, None, 0.5)
    return dict(seconds=seconds, result=matrix)


WORKERS = {'mmext': run_ours, 'tidecv': run_tidecv, 'mmdet': run_mmdet}


def _diff(a: dict, b: dict):
    if 'error' in a or 'error' in b:
        return None
    return float(np.abs(np.asarray(a['result'], float) -
                        np.asarray(b['result'], float)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=5000,
                        help='images of the full set (default 5000)')
    parser.add_argument('--tide-images', type=int, default=500,
                        help='images for the tidecv comparison (default 500)')
    parser.add_argument('--classes', type=int, default=80,
                        help='classes of the synthetic set (default 80)')
    harness.add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        harness.serve(WORKERS, args)
        harness.end_worker()
    lines = []
    scene = f'{args.images}:{args.classes}'  # the full set, for the cases
    with harness.Session(args) as session:
        full = session.compare(__file__, ['mmext'],
                               case=f'core:{scene}')['mmext']
        comparisons = (
            ('analysis_full', 'tidecv', 'tidecv.TIDE.evaluate_range+errors',
             f'core:{args.tide_images}:{args.classes}',
             dict(images=args.tide_images, full_images=args.images,
                  ours_full_s=round(full.get('seconds', float('nan')), 4),
                  ours_full_cpu_s=round(full.get('cpu_s', float('nan')), 4))),
            ('confusion_matrix', 'mmdet', 'mmdet.calculate_confusion_matrix',
             f'mmdet_cm:{scene}', dict(images=args.images)))
        for bench, name, peer, case, extra in comparisons:
            runs = session.compare(__file__, ['mmext', name], case=case)
            lines.append(session.line(
                bench, runs['mmext'], runs[name], peer=peer,
                max_abs_diff=_diff(runs['mmext'], runs[name]), **extra))
        write = session.compare(__file__, ['mmext'],
                                case=f'write:{scene}')['mmext']
        lines.append(dict(bench='analysis_write', ours_s=round(
            write.get('seconds', float('nan')), 4), ours_cpu_s=round(
                write.get('cpu_s', float('nan')), 4), peer=None,
            images=args.images, load_avg=write.get('load_avg'),
            rounds=args.rounds, contention=bool(args.contention)))
    harness.emit(lines)


if __name__ == '__main__':
    main()
