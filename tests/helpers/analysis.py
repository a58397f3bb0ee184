"""Builders and reference oracles for the error-analysis tests (confusion
matrix, TIDE, confidence curves).

The oracles run the upstream code itself: ``tidecv`` (installed) and
mmdet 3.3's ``calculate_confusion_matrix`` loaded from the file mmdet ships
(``mmdet/.mim/tools/analysis_tools/confusion_matrix.py``).
"""
import functools
import importlib.util
import io
import os.path as osp

import numpy as np

from mmext.evaluation.functional.records import DetectionArrays


def random_arrays(seed: int, num_images: int = 12, num_classes: int = 4,
                  max_gts: int = 8, max_dets: int = 40,
                  crowd_frac: float = 0.0, box_format: str = 'xyxy',
                  every_class: bool = True) -> DetectionArrays:
    """A dense random set that produces every TIDE error type: detections
    are jittered GTs (some relabelled, some loose, some duplicated) plus
    random boxes; scores are distinct; some images lack GT or detections.

    With ``every_class`` each class has at least one GT and one detection
    (where tidecv's class averaging equals pycocotools').
    """
    rng = np.random.default_rng(seed)

    def boxes(n, scale=200.0):
        wh = rng.uniform(8, scale, (n, 2))
        xy = rng.uniform(0, 300, (n, 2))
        return np.concatenate([xy, xy + wh], axis=1)

    gb, gl, gi, gc, db, dl, di = [], [], [], [], [], [], []
    for i in range(num_images):
        n = int(rng.integers(0, max_gts + 1)) if i % 6 != 1 else 0
        b = boxes(n)
        lab = rng.integers(0, num_classes, n)
        gb.append(b), gl.append(lab), gi.append(np.full(n, i))
        gc.append(rng.random(n) < crowd_frac)
        if i % 7 == 3:
            continue
        m = int(rng.integers(0, max_dets + 1))
        k = min(m // 2, 3 * n)
        j = rng.integers(0, max(n, 1), k)
        noise = rng.choice([2.0, 10.0, 30.0], k)[:, None]
        jit = b[j] + rng.normal(0, 1, (k, 4)) * noise if n else np.zeros(
            (0, 4))
        d = np.concatenate([jit, boxes(m - k)])
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        lb = np.concatenate([lab[j] if n else np.zeros(0, int),
                             rng.integers(0, num_classes, m - k)])
        flip = rng.random(m) < 0.15
        lb[flip] = rng.integers(0, num_classes, flip.sum())
        db.append(d), dl.append(lb), di.append(np.full(m, i))
    if every_class:  # one image holding a GT and a detection of each class
        b = boxes(num_classes, 50)
        gb.append(b), gl.append(np.arange(num_classes))
        gi.append(np.full(num_classes, num_images))
        gc.append(np.zeros(num_classes, bool))
        db.append(b + 1), dl.append(np.arange(num_classes))
        di.append(np.full(num_classes, num_images))
        num_images += 1
    det_boxes = np.concatenate(db)
    gt_boxes = np.concatenate(gb)
    if box_format == 'xywh':
        det_boxes[:, 2:] -= det_boxes[:, :2]
        gt_boxes[:, 2:] -= gt_boxes[:, :2]
    nd = len(det_boxes)
    return DetectionArrays(
        det_boxes=det_boxes,
        det_scores=(rng.permutation(nd) + 1) / (nd + 1),
        det_labels=np.concatenate(dl).astype(np.int64),
        det_imgs=np.concatenate(di).astype(np.int64),
        gt_boxes=gt_boxes,
        gt_labels=np.concatenate(gl).astype(np.int64),
        gt_imgs=np.concatenate(gi).astype(np.int64),
        gt_ignore=np.zeros(len(gt_boxes), bool),
        gt_crowd=np.concatenate(gc),
        num_classes=num_classes,
        img_ids=list(range(num_images)),
        box_format=box_format)


def _xywh(boxes: np.ndarray, box_format: str) -> np.ndarray:
    b = np.asarray(boxes, np.float64).copy()
    if box_format == 'xyxy':
        b[:, 2:] -= b[:, :2]
    return b


def tidecv_data(arrays: DetectionArrays):
    """``(gt, preds)`` tidecv ``Data`` objects holding ``arrays``: every
    image registered in order, crowd / ignored GTs as ignore regions."""
    from tidecv import Data
    gt, preds = Data('gt'), Data('preds')
    for i in range(arrays.num_images):
        gt.add_image(i, str(arrays.img_ids[i]))
    gxywh = _xywh(arrays.gt_boxes, arrays.box_format)
    for b, c, i, ign in zip(gxywh.tolist(), arrays.gt_labels.tolist(),
                            arrays.gt_imgs.tolist(),
                            (arrays.gt_crowd | arrays.gt_ignore).tolist()):
        if ign:
            gt.add_ignore_region(i, c, b)
        else:
            gt.add_ground_truth(i, c, b)
    dxywh = _xywh(arrays.det_boxes, arrays.box_format)
    for b, c, i, s in zip(dxywh.tolist(), arrays.det_labels.tolist(),
                          arrays.det_imgs.tolist(),
                          arrays.det_scores.tolist()):
        preds.add_detection(i, c, s, b)
    return gt, preds


def tidecv_run(arrays: DetectionArrays, pos_thr: float = 0.5,
               bg_thr: float = 0.1) -> dict:
    """tidecv's AP, main dAPs, special dAPs and error counts at one
    threshold, keyed by mmext's type names."""
    from tidecv import TIDE
    from tidecv.errors.main_errors import (BackgroundError, BoxError,
                                           ClassError, DuplicateError,
                                           FalseNegativeError,
                                           FalsePositiveError, MissedError,
                                           OtherError)
    names = {ClassError: 'cls', BoxError: 'loc', OtherError: 'both',
             DuplicateError: 'dupe', BackgroundError: 'bkg',
             MissedError: 'miss', FalsePositiveError: 'false_pos',
             FalseNegativeError: 'false_neg'}
    gt, preds = tidecv_data(arrays)
    run = TIDE().evaluate(gt, preds, pos_threshold=pos_thr,
                          background_threshold=bg_thr, mode=TIDE.BOX)
    return dict(
        ap=run.ap,
        dap={names[k]: v for k, v in run.fix_main_errors().items()},
        special={names[k]: v for k, v in run.fix_special_errors().items()},
        counts={names[k]: v for k, v in run.count_errors().items()})


def mmdet_confusion_module():
    """mmdet 3.3's ``tools/analysis_tools/confusion_matrix.py`` as shipped
    inside the installed package, loaded as a module."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                    'analysis_tools', 'confusion_matrix.py')
    spec = importlib.util.spec_from_file_location('mmdet_confusion', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # its progress bar writes to the real stdout: keep test and benchmark
    # output readable
    module.ProgressBar = functools.partial(module.ProgressBar,
                                           file=io.StringIO())
    return module


class _ListDataset:
    """The two things ``calculate_confusion_matrix`` reads of a dataset."""

    def __init__(self, infos, classes):
        self.infos = infos
        self.metainfo = dict(classes=tuple(classes))

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return self.infos[idx]


def mmdet_confusion_inputs(arrays: DetectionArrays):
    """The dataset (data-info instances) and results (``pred_instances``)
    that mmdet's ``calculate_confusion_matrix`` reads, from ``arrays``
    (xyxy boxes)."""
    import torch
    infos, results = [], []
    for i in range(arrays.num_images):
        g = arrays.gt_imgs == i
        infos.append(dict(instances=[
            dict(bbox=b.tolist(), bbox_label=int(c), ignore_flag=int(f))
            for b, c, f in zip(arrays.gt_boxes[g], arrays.gt_labels[g],
                               arrays.gt_ignore[g])]))
        d = arrays.det_imgs == i
        results.append(dict(pred_instances=dict(
            bboxes=torch.from_numpy(arrays.det_boxes[d]),
            scores=torch.from_numpy(arrays.det_scores[d]),
            labels=torch.from_numpy(arrays.det_labels[d]))))
    classes = [str(c) for c in range(arrays.num_classes)]
    return _ListDataset(infos, classes), results


def mmdet_confusion_matrix(arrays: DetectionArrays, score_thr: float,
                           iou_thr: float) -> np.ndarray:
    """mmdet's ``calculate_confusion_matrix`` on ``arrays``."""
    dataset, results = mmdet_confusion_inputs(arrays)
    return mmdet_confusion_module().calculate_confusion_matrix(
        dataset, results, score_thr, None, iou_thr)
