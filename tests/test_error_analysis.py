"""Error analysis (issue 13): confusion matrix against mmdet 3.3's
``calculate_confusion_matrix``, TIDE against ``tidecv``, confidence curves
against tidecv's per-detection true positives, and the files of
``analyze_detections``. Each documented difference from the references has
a worked example here."""
import dataclasses
import json

import numpy as np
import pytest

from mmext.evaluation.functional.confidence import confidence_curves
from mmext.evaluation.functional.confusion import (confusion_matrix,
                                                   confusion_matrix_mmdet,
                                                   normalize_rows)
from mmext.evaluation.functional.records import DetectionArrays
from mmext.evaluation.functional.tide import (TIDE_COCO_THRS,
                                              TIDE_ERROR_TYPES,
                                              TIDE_SPECIAL_TYPES, tide_errors)
from tests.helpers.analysis import (mmdet_confusion_matrix,
                                    mmdet_confusion_module, random_arrays,
                                    tidecv_data, tidecv_run)


def assert_tide_equal(ours: dict, ref: dict, tol: float = 1e-6) -> None:
    assert ours['ap'] == pytest.approx(ref['ap'], abs=tol)
    for k in TIDE_ERROR_TYPES:
        assert ours['dap'][k] == pytest.approx(ref['dap'][k], abs=tol), k
    for k in TIDE_SPECIAL_TYPES:
        assert ours['special'][k] == pytest.approx(ref['special'][k],
                                                   abs=tol), k
    assert ours['counts'] == ref['counts']


def arrays_of(gt, dets, num_classes, num_images=1):
    """A record from ``[(img, label, x1, y1, x2, y2)]`` GT and
    ``[(img, label, score, x1, y1, x2, y2)]`` detections."""
    gt = np.asarray(gt, np.float64).reshape(-1, 6)
    dets = np.asarray(dets, np.float64).reshape(-1, 7)
    return DetectionArrays(
        det_boxes=dets[:, 3:], det_scores=dets[:, 2],
        det_labels=dets[:, 1].astype(np.int64),
        det_imgs=dets[:, 0].astype(np.int64), gt_boxes=gt[:, 2:],
        gt_labels=gt[:, 1].astype(np.int64),
        gt_imgs=gt[:, 0].astype(np.int64),
        gt_ignore=np.zeros(len(gt), bool), gt_crowd=np.zeros(len(gt), bool),
        num_classes=num_classes, img_ids=list(range(num_images)))


@pytest.fixture(scope='module')
def tiny_arrays():
    """The tiny VOC test set with jittered-GT predictions (difficult boxes
    as ignored GTs), the dataset and the data samples."""
    from mmext.evaluation.samples import concat_samples, sample_to_arrays
    from tests.helpers.voc_samples import predicted_samples, voc_test_dataset
    dataset = voc_test_dataset()
    samples = predicted_samples(dataset, seed=3)
    arrays = concat_samples([sample_to_arrays(s) for s in samples],
                            len(dataset.metainfo['classes']))
    return arrays, dataset, samples


# ---------------------------------------------------------------- TIDE


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('pos_thr', [0.5, 0.75])
def test_tide_matches_tidecv_on_random_sets(seed, pos_thr):
    arrays = random_arrays(seed, crowd_frac=0.1 * (seed % 2),
                           box_format=('xywh', 'xyxy')[seed % 3 > 0])
    ours = tide_errors(arrays, pos_thr=pos_thr, iou_thrs=())
    assert_tide_equal(ours, tidecv_run(arrays, pos_thr))


def test_tide_coco_variant_is_the_mean_of_tidecv_runs():
    arrays = random_arrays(11, crowd_frac=0.05)
    ours = tide_errors(arrays)['coco']
    refs = [tidecv_run(arrays, t) for t in TIDE_COCO_THRS]
    # dense enough to produce every error type
    assert min(refs[0]['counts'].values()) > 0
    for run, ref in zip(ours['per_threshold'], refs):
        assert_tide_equal(run, ref)
    assert ours['ap'] == pytest.approx(np.mean([r['ap'] for r in refs]),
                                       abs=1e-6)
    for k in TIDE_ERROR_TYPES:
        assert ours['dap'][k] == pytest.approx(
            np.mean([r['dap'][k] for r in refs]), abs=1e-6)


@pytest.mark.slow  # builds the tiny VOC test set
def test_tide_matches_tidecv_on_tiny_data(tiny_arrays):
    arrays = tiny_arrays[0]
    assert arrays.gt_ignore.any()  # difficult boxes: tidecv ignore regions
    # tidecv is right where every detected class has GT: keep those classes
    with_gt = np.bincount(arrays.gt_labels[~arrays.gt_ignore],
                          minlength=arrays.num_classes) > 0
    keep = with_gt[arrays.det_labels]
    assert not keep.all()
    subset = dataclasses.replace(
        arrays, det_boxes=arrays.det_boxes[keep],
        det_scores=arrays.det_scores[keep],
        det_labels=arrays.det_labels[keep], det_imgs=arrays.det_imgs[keep])
    assert_tide_equal(tide_errors(subset, iou_thrs=()), tidecv_run(subset))
    # on the whole set tidecv also averages the detected classes without
    # GT, as AP 0: its mAP is ours scaled by the class counts
    detected = np.bincount(arrays.det_labels,
                           minlength=arrays.num_classes) > 0
    assert tidecv_run(arrays)['ap'] == pytest.approx(
        tide_errors(arrays, iou_thrs=())['ap'] * with_gt.sum() /
        (with_gt | detected).sum(), abs=1e-6)


def test_tide_keeps_max_dets_per_image_like_tidecv():
    arrays = random_arrays(5, max_dets=160, num_images=4)
    assert np.bincount(arrays.det_imgs).max() > 100
    assert_tide_equal(tide_errors(arrays, iou_thrs=()), tidecv_run(arrays))


def test_tidecv_averages_classes_without_gt_and_we_do_not():
    """Worked example of tidecv's class averaging (tidecv issue #28).

    One GT of class 0, found exactly; one detection of class 1, which has
    no GT. pycocotools' AP50 is 1.0 (class 1 has no GT, so no AP); tidecv
    averages class 1 in as 0 and reports 50 points. We report 100.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    arrays = arrays_of(gt=[(0, 0, 10, 10, 50, 50)],
                       dets=[(0, 0, 0.9, 10, 10, 50, 50),
                             (0, 1, 0.8, 100, 100, 150, 150)],
                       num_classes=2)
    assert tidecv_run(arrays)['ap'] == pytest.approx(50.0)
    assert tide_errors(arrays, iou_thrs=())['ap'] == pytest.approx(100.0)
    gt = COCO()
    gt.dataset = dict(
        images=[dict(id=1)], categories=[dict(id=1), dict(id=2)],
        annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0,
                          bbox=[10, 10, 40, 40], area=1600)])
    gt.createIndex()
    dt = gt.loadRes([
        dict(image_id=1, category_id=1, bbox=[10, 10, 40, 40], score=0.9),
        dict(image_id=1, category_id=2, bbox=[100, 100, 50, 50], score=0.8)
    ])
    ev = COCOeval(gt, dt, 'bbox')
    ev.evaluate()
    ev.accumulate()
    ap50 = ev.eval['precision'][0, :, :, 0, 2]
    assert np.mean(ap50[ap50 > -1]) == pytest.approx(1.0)


def test_tide_error_types_worked_example():
    """One image, two classes; each detection hand-typed at IoU 0.5 / 0.1."""
    gt = [(0, 0, 0, 0, 100, 100), (0, 1, 200, 0, 300, 100),
          (0, 0, 0, 200, 100, 300)]
    dets = [
        (0, 0, 0.95, 0, 0, 100, 100),    # TP of GT 0
        (0, 0, 0.90, 0, 0, 100, 98),     # duplicate of GT 0
        (0, 0, 0.85, 200, 0, 300, 100),  # classification (GT 1 is class 1)
        (0, 0, 0.80, 0, 200, 100, 230),  # localisation (IoU 0.3 with GT 2)
        (0, 1, 0.75, 0, 200, 100, 240),  # both: other class and IoU 0.4
        (0, 1, 0.70, 500, 500, 560, 560),  # background
    ]
    arrays = arrays_of(gt, dets, num_classes=2)
    result = tide_errors(arrays, iou_thrs=())
    assert result['counts'] == dict(cls=1, loc=1, both=1, dupe=1, bkg=1,
                                    miss=0)
    # GT 1 and GT 2 are pointed at by the cls / loc errors, so not missed
    assert_tide_equal(result, tidecv_run(arrays))


def test_tide_refuses_bad_thresholds():
    with pytest.raises(ValueError, match='bg_thr'):
        tide_errors(random_arrays(0), pos_thr=0.05, bg_thr=0.1)


# --------------------------------------------------------------- confusion


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('score_thr,iou_thr', [(0.0, 0.5), (0.3, 0.5),
                                                (0.5, 0.75)])
def test_confusion_mmdet_matches_mmdet(seed, score_thr, iou_thr):
    arrays = random_arrays(seed)
    arrays.gt_ignore[::4] = True  # mmdet counts ignored GTs as plain ones
    np.testing.assert_array_equal(
        confusion_matrix_mmdet(arrays, score_thr, iou_thr),
        mmdet_confusion_matrix(arrays, score_thr, iou_thr))


@pytest.mark.slow  # builds the tiny VOC test set
def test_confusion_mmdet_matches_mmdet_on_tiny_data(tiny_arrays):
    arrays, dataset, samples = tiny_arrays
    # mmdet's own inputs: the dataset's data infos and the data samples
    ref = mmdet_confusion_module().calculate_confusion_matrix(
        dataset, samples, 0.3, None, 0.5)
    np.testing.assert_array_equal(confusion_matrix_mmdet(arrays, 0.3, 0.5),
                                  ref)


@pytest.mark.parametrize('seed', range(4))
def test_confusion_one_to_one_counts_each_box_once(seed):
    arrays = random_arrays(seed, crowd_frac=0.1)
    arrays.gt_ignore[::5] = True
    m = confusion_matrix(arrays, 0.2, 0.5)
    regular = ~(arrays.gt_ignore | arrays.gt_crowd)
    np.testing.assert_array_equal(
        m[:-1].sum(axis=1),
        np.bincount(arrays.gt_labels[regular], minlength=arrays.num_classes))
    # every kept detection is counted once, except those on ignore regions
    kept = np.bincount(arrays.det_labels[arrays.det_scores >= 0.2],
                       minlength=arrays.num_classes)
    assert (m.sum(axis=0)[:-1] <= kept).all()
    arrays.gt_ignore[:] = arrays.gt_crowd[:] = False
    np.testing.assert_array_equal(
        confusion_matrix(arrays, 0.2, 0.5).sum(axis=0)[:-1], kept)


def test_confusion_agrees_with_mmdet_without_double_counts():
    """Boxes far apart, at most one right-class detection per GT: both
    definitions agree."""
    gt = [(0, i % 3, 100 * i, 0, 100 * i + 50, 50) for i in range(6)]
    dets = [(0, i % 3, 0.9 - 0.1 * i, 100 * i + 1, 0, 100 * i + 50, 50)
            for i in range(5)] + [(0, 2, 0.5, 900, 900, 950, 950)]
    arrays = arrays_of(gt, dets, num_classes=3)
    np.testing.assert_array_equal(confusion_matrix(arrays, 0.3, 0.5),
                                  mmdet_confusion_matrix(arrays, 0.3, 0.5))


def test_confusion_worked_example_where_mmdet_is_wrong():
    """One class, one GT, two detections on it (module docstring): mmdet
    counts two true positives and no false positive."""
    arrays = arrays_of(gt=[(0, 0, 0, 0, 10, 10)],
                       dets=[(0, 0, 0.9, 0, 0, 10, 10),
                             (0, 0, 0.8, 0, 0, 10, 9)], num_classes=1)
    mmdet = mmdet_confusion_matrix(arrays, 0.3, 0.5)
    np.testing.assert_array_equal(mmdet, [[2, 0], [0, 0]])
    np.testing.assert_array_equal(confusion_matrix_mmdet(arrays), mmdet)
    np.testing.assert_array_equal(confusion_matrix(arrays), [[1, 0], [1, 0]])
    # and a detection over two GTs of different classes counts twice
    arrays = arrays_of(gt=[(0, 0, 0, 0, 10, 10), (0, 1, 0, 0, 10, 11)],
                       dets=[(0, 0, 0.9, 0, 0, 10, 10)], num_classes=2)
    assert mmdet_confusion_matrix(arrays, 0.3, 0.5).sum(axis=0)[0] == 2
    np.testing.assert_array_equal(confusion_matrix(arrays),
                                  [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    # and a GT found only by a wrong-class detection counts twice in its row
    arrays = arrays_of(gt=[(0, 1, 0, 0, 10, 10)],
                       dets=[(0, 0, 0.9, 0, 0, 10, 10)], num_classes=2)
    np.testing.assert_array_equal(mmdet_confusion_matrix(arrays, 0.3, 0.5),
                                  [[0, 0, 0], [1, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(confusion_matrix(arrays),
                                  [[0, 0, 0], [1, 0, 0], [0, 0, 0]])


def test_normalize_rows_keeps_empty_rows_zero():
    np.testing.assert_allclose(normalize_rows([[1, 3], [0, 0]]),
                               [[0.25, 0.75], [0, 0]])


# ------------------------------------------------------------- confidence


def tidecv_points(arrays, pos_thr=0.5):
    """tidecv's (score, is_true) per counted detection, per class, and GT
    counts: an independent matching."""
    from tidecv import TIDE
    gt, preds = tidecv_data(arrays)
    run = TIDE().evaluate(gt, preds, pos_threshold=pos_thr, mode=TIDE.BOX)
    return {c: (np.array([p[0] for p in obj.data_points.values()]),
                np.array([p[1] for p in obj.data_points.values()]),
                obj.num_gt_positives)
            for c, obj in run.ap_data.objs.items()}


@pytest.mark.parametrize('seed', range(3))
def test_confidence_curves_match_tidecv_true_positives(seed):
    arrays = random_arrays(seed, crowd_frac=0.1)
    thresholds = np.linspace(0, 1, 41)
    curves = confidence_curves(arrays, 0.5, thresholds)
    points = tidecv_points(arrays)
    for c in range(arrays.num_classes):
        scores, true, num_gts = points[c]
        assert curves['num_gts'][c] == num_gts
        for i, x in enumerate(thresholds):
            kept = scores >= x
            p = true[kept].sum() / kept.sum() if kept.any() else 1.0
            r = true[kept].sum() / num_gts
            assert curves['precision'][c, i] == pytest.approx(p, abs=1e-12)
            assert curves['recall'][c, i] == pytest.approx(r, abs=1e-12)
    # the marked threshold is where the mean F1 peaks
    best = curves['mean']['best']
    assert best['f1'] == pytest.approx(curves['mean']['f1'].max())
    assert best['score_thr'] in thresholds


# ------------------------------------------------------------------ files


def test_analyze_detections_writes_all_files(tmp_path):
    from mmext.evaluation.analysis import ANALYSIS_FILES, analyze_detections
    arrays = random_arrays(1, num_classes=3)
    names = ['cat', 'dog', 'person']
    out = analyze_detections(arrays, names, str(tmp_path / 'analysis'))
    for name in ANALYSIS_FILES:
        path = tmp_path / 'analysis' / name
        data = path.read_bytes()
        if name.endswith('.png'):
            assert data[:8] == b'\x89PNG\r\n\x1a\n'
        else:
            json.loads(data)
    cm = json.loads((tmp_path / 'analysis' / 'confusion_matrix.json')
                    .read_text())
    assert cm['classes'] == names + ['background']
    assert cm['matrix'] == out['confusion_matrix'].tolist()
    tide = json.loads((tmp_path / 'analysis' / 'tide.json').read_text())
    assert tide['dap'] == pytest.approx(out['tide']['dap'])
    assert not list(tmp_path.glob('analysis/.*'))  # no temp files left


def test_analyze_detections_refuses_wrong_class_names(tmp_path):
    from mmext.evaluation.analysis import analyze_detections
    with pytest.raises(ValueError, match='2 class names for 4 classes'):
        analyze_detections(random_arrays(0), ['a', 'b'], str(tmp_path))


def test_eval_dets_analyze_writes_the_analysis(tmp_path):
    from mmext.evaluation.analysis import ANALYSIS_FILES
    from tests.helpers.coco_json import write_coco_jsons
    from tests.helpers.det_scenes import random_scene
    from tools.analysis import eval_dets
    gt, res = write_coco_jsons(random_scene(4), tmp_path)
    out = tmp_path / 'analysis'
    eval_dets.main(['--gt-json', gt, '--res-json', res, '--metric', 'coco',
                    '--analyze', str(out), '--analyze-score-thr', '0.2'])
    assert sorted(p.name for p in out.iterdir()) == sorted(ANALYSIS_FILES)
    arrays, classes = eval_dets.load_coco_json(gt, res)
    cm = json.loads((out / 'confusion_matrix.json').read_text())
    assert cm['classes'] == list(classes) + ['background']
    assert cm['score_thr'] == 0.2
    np.testing.assert_array_equal(cm['matrix'],
                                  confusion_matrix(arrays, 0.2, 0.5))


@pytest.mark.slow  # builds the tiny VOC test set
def test_detection_ap_analysis_dir_under_the_work_dir(tiny_arrays, tmp_path):
    """``analysis_dir`` from a config through mmdet's registry: a relative
    folder lands under the work dir (set by MetricWorkDirHook) and the log
    names it; the files hold the analysis of the evaluated samples."""
    import logging

    from mmdet.registry import METRICS
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import DefaultScope

    from mmext.evaluation.analysis import ANALYSIS_FILES
    arrays, dataset, samples = tiny_arrays
    cfg = Config(dict(test_evaluator=dict(
        type='mmext.DetectionAP', metric='voc07', analysis_dir='analysis',
        analysis_score_thr=0.25)))
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dataset.metainfo
    metric.work_dir = str(tmp_path)  # what MetricWorkDirHook sets
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        for i in range(0, len(samples), 8):
            metric.process({}, samples[i:i + 8])
        metric.evaluate(len(samples))
    finally:
        logger.removeHandler(handler)
    out = tmp_path / 'analysis'
    assert sorted(p.name for p in out.iterdir()) == sorted(ANALYSIS_FILES)
    assert any(str(out) in r.getMessage() for r in records)
    cm = json.loads((out / 'confusion_matrix.json').read_text())
    np.testing.assert_array_equal(cm['matrix'],
                                  confusion_matrix(arrays, 0.25, 0.5))
