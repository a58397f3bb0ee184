"""The registered MultiLabelMetric against sklearn and mmpretrain (never
against its own functional core): registry, data samples, difficult labels,
per-class thresholds, curves, distributed collection."""
import json
import logging
import re

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.evaluation import MultiLabelMetric as MMPretrainMetric

from tests.helpers.distributed import run_distributed
from tests.helpers.multilabel import (build_metric, expected_targets,
                                      make_samples, sklearn_items)

ALL_ITEMS = ('CP', 'CR', 'CF1', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP', 'AUC',
             'micro-AUC', 'best-F1')
CLASSES = [f'c{i}' for i in range(6)]

build = build_metric


def scores_of(samples) -> np.ndarray:
    return torch.stack([s['pred_score'] for s in samples]).numpy()


def test_build_from_mmpretrain_registry_and_values():
    metric = build(items=ALL_ITEMS)
    assert type(metric).__module__.startswith('mmext.')
    samples = make_samples()
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(None, samples)
    res = metric.evaluate(len(samples))
    expect = sklearn_items(scores_of(samples), expected_targets(samples, 6),
                           thr=0.5)
    for item in ALL_ITEMS:  # percent, AUC included
        # AUC: exact pair counts on the same float32 scores (1e-9 as a
        # fraction); the other items: float32 sums
        tol = 1e-7 if 'AUC' in item else 1e-4
        assert res[f'multi-label/{item}'] == pytest.approx(
            expect[item], abs=tol), item


def test_auc_leaves_out_classes_without_negatives_and_logs_the_count():
    samples = make_samples(num=40, seed=8, difficult=False)
    for s in samples:  # class 5 positive everywhere: no AUC
        s['gt_label'] = torch.cat([s['gt_label'], torch.tensor([5])])
    metric = build(items=('AUC', ))
    metric.process(None, samples)
    res, messages = logged(lambda: metric.evaluate(len(samples)),
                           logging.INFO)
    expect = sklearn_items(scores_of(samples), expected_targets(samples, 6),
                           thr=0.5)
    assert res['multi-label/AUC'] == pytest.approx(expect['AUC'], abs=1e-7)
    assert any('1 classes without AUC' in m for m in messages)


def test_per_class_thresholds_from_list_and_json(tmp_path):
    samples = make_samples(seed=9)
    targets = expected_targets(samples, 6)
    thr = np.array([0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
    expect = sklearn_items(scores_of(samples), targets, thr=thr)
    items = ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'macro-F1')
    # the JSON lists the classes in another order than the dataset
    order = [3, 0, 5, 1, 4, 2]
    path = tmp_path / 'thr.json'
    path.write_text(json.dumps(dict(
        classes=[CLASSES[i] for i in order],
        thresholds=[float(thr[i]) for i in order])))
    for given in (thr.tolist(), str(path)):
        metric = build(thr=given, items=items)
        metric.dataset_meta = dict(classes=CLASSES)
        metric.process(None, samples)
        res = metric.evaluate(len(samples))
        for item in items:
            assert res[f'multi-label/{item}_thr-per-class'] == \
                pytest.approx(expect[item], abs=1e-4), (given, item)
    # and they differ from one global threshold
    metric = build(items=items)
    metric.process(None, samples)
    assert metric.evaluate(len(samples))['multi-label/CP'] != \
        pytest.approx(expect['CP'], abs=1e-3)


def test_threshold_file_with_other_classes_names_the_file(tmp_path):
    path = tmp_path / 'thr.json'
    path.write_text(json.dumps(dict(classes=CLASSES[:5] + ['dog'],
                                    thresholds=[0.5] * 6)))
    metric = build(thr=str(path))
    metric.dataset_meta = dict(classes=CLASSES)
    samples = make_samples(num=10, seed=10)
    metric.process(None, samples)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} does not "
                       r"match the dataset classes: missing \['c5'\], not "
                       r"in the dataset \['dog'\]"):
        metric.evaluate(len(samples))
    path.write_text('{"classes": ["a"]}')
    with pytest.raises(ValueError, match=re.escape(str(path))):
        build(thr=str(path))


def test_curve_dir_under_the_work_dir(tmp_path):
    metric = build(items=('AUC', ), curve_dir='curves')
    metric.dataset_meta = dict(classes=CLASSES)
    metric.work_dir = str(tmp_path)  # what MetricWorkDirHook sets
    samples = make_samples(num=30, seed=11)
    metric.process(None, samples)
    metric.evaluate(len(samples))
    for name in ('multilabel_roc.png', 'multilabel_pr.png'):
        png = tmp_path / 'curves' / name
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(p.name for p in (tmp_path / 'curves').iterdir()) == [
        'multilabel_pr.png', 'multilabel_roc.png']  # no temporary left


def test_matches_mmpretrain_voc_metrics():
    samples = make_samples(seed=1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        evaluator = Evaluator([
            dict(type='mmext.MultiLabelMetric',
                 items=('CP', 'CR', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP')),
            dict(type='VOCMultiLabelMetric', prefix='macro'),
            dict(type='VOCMultiLabelMetric', average='micro',
                 prefix='micro'),
            dict(type='VOCAveragePrecision', prefix='ap'),
        ])
    evaluator.process(samples)
    res = evaluator.evaluate(len(samples))
    pairs = [('CP', 'macro/precision'), ('CR', 'macro/recall'),
             ('macro-F1', 'macro/f1-score'), ('OP', 'micro/precision_micro'),
             ('OR', 'micro/recall_micro'), ('OF1', 'micro/f1-score_micro'),
             ('mAP', 'ap/mAP')]
    for ours, theirs in pairs:
        assert res[f'multi-label/{ours}'] == pytest.approx(
            res[theirs], abs=1e-4)  # mmpretrain: float32 percent


def test_gt_score_and_key_suffixes():
    samples = [
        dict(pred_score=torch.tensor([0.9, 0.2, 0.6]),
             gt_score=torch.tensor([1., 0., -1.])),
        dict(pred_score=torch.tensor([0.1, 0.8, 0.4]),
             gt_score=torch.tensor([0., 1., 1.])),
    ]
    metric = build(thr=0.3, items=('OP', 'OR', 'mAP'))
    metric.process(None, samples)
    res = metric.evaluate(2)
    # thr 0.3 predicts {0, 2(ignored)} and {1, 2}: tp 3, fp 0, fn 0
    assert res == {
        'multi-label/OP_thr-0.30': 100.0,
        'multi-label/OR_thr-0.30': 100.0,
        'multi-label/mAP': 100.0,
    }
    metric = build(topk=1, items=('OR', ))
    metric.process(None, samples)
    assert metric.evaluate(2) == {'multi-label/OR_top1': 2 / 3 * 100}


def test_bad_arguments_and_input():
    with pytest.raises(ValueError, match='unknown items'):
        build(items=('precision', ))
    metric = build()
    metric.process(None, [
        dict(pred_score=torch.tensor([float('nan'), 0.1]),
             gt_score=torch.tensor([1., 0.]))
    ])
    with pytest.raises(ValueError, match='NaN'):
        metric.evaluate(1)


def _dist_evaluate(rank: int, world_size: int, samples: list) -> dict:
    # DefaultSampler pads the index list to a multiple of the world size
    # and deals it out round-robin; collect_results undoes that.
    indices = list(range(len(samples)))
    indices += indices[:(-len(indices)) % world_size]
    metric = build(items=ALL_ITEMS)
    metric.process(None, [samples[i] for i in indices[rank::world_size]])
    return metric.evaluate(len(samples))


@pytest.mark.slow
def test_distributed_collection_equals_single_process():
    samples = make_samples(num=101, seed=2)
    single = build(items=ALL_ITEMS)
    single.process(None, samples)
    expected = single.evaluate(len(samples))
    results = run_distributed(_dist_evaluate, 2, samples)
    assert results[0] == expected
    assert results[1] == expected


class _Records(logging.Handler):

    def __init__(self, level):
        super().__init__(level)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def logged(fn, level=logging.WARNING):
    """``fn()`` and the messages (``level`` and above) it logged through
    mmengine's logger."""
    logger = MMLogger.get_current_instance()
    records = _Records(level)
    logger.addHandler(records)
    try:
        return fn(), records.messages
    finally:
        logger.removeHandler(records)


def evaluate_both(samples, ours_kwargs, theirs_kwargs):
    """Our metric and mmpretrain's macro + micro MultiLabelMetric."""
    ours = build(items=('CP', 'CR', 'macro-F1', 'OP', 'OR', 'OF1'),
                 **ours_kwargs)
    ours.process(None, samples)
    theirs = {}
    for average in ('macro', 'micro'):
        metric = MMPretrainMetric(average=average, **theirs_kwargs)
        metric.process(None, samples)
        theirs.update(metric.evaluate(len(samples)))
    return ours.evaluate(len(samples)), theirs


def assert_pairs(ours, theirs, ours_suffix, theirs_suffix):
    pairs = [('CP', 'precision'), ('CR', 'recall'), ('macro-F1', 'f1-score'),
             ('OP', 'precision_micro'), ('OR', 'recall_micro'),
             ('OF1', 'f1-score_micro')]
    for a, b in pairs:
        if b.endswith('_micro'):
            b = b[:-6] + theirs_suffix + '_micro'
        else:
            b = b + theirs_suffix
        assert ours[f'multi-label/{a}{ours_suffix}'] == pytest.approx(
            theirs[f'multi-label/{b}'], abs=1e-4)


@pytest.mark.parametrize('thr, topk', [(0.3, 2), (0.5, 1), (0.7, 3)])
def test_thr_and_topk_as_mmpretrain(thr, topk):
    samples = make_samples(seed=3, difficult=False)
    kwargs = dict(thr=thr, topk=topk)
    (ours, theirs), messages = logged(
        lambda: evaluate_both(samples, kwargs, kwargs))
    # thr wins, with mmpretrain's warning (once from ours, twice from theirs)
    expected = 'Both thr and topk are given, use threshold in favor of top-k.'
    assert messages.count(expected) == 3
    suffix = '' if thr == 0.5 else f'_thr-{thr:.2f}'
    assert_pairs(ours, theirs, suffix, suffix)
    # and the numbers are those of thr alone, not of top-k
    thr_only, _ = evaluate_both(samples, dict(thr=thr), dict(thr=thr))
    top_only, _ = evaluate_both(samples, dict(topk=topk), dict(topk=topk))
    assert ours == thr_only and ours != {
        k.replace(f'_top{topk}', suffix): v
        for k, v in top_only.items()
    }


@pytest.mark.parametrize('topk', [None, 2])
def test_thr_zero_is_honoured(topk):
    samples = make_samples(seed=4, difficult=False)
    ours, theirs = evaluate_both(samples, dict(thr=0.0, topk=topk),
                                 dict(thr=0.0, topk=topk))
    # mmpretrain computes at 0.0 but names the keys after top-k
    assert_pairs(ours, theirs, '_thr-0.00', f'_top{topk}')
    # every label predicted: precision is the positive rate, recall 100
    assert ours['multi-label/OR_thr-0.00'] == 100.0
    at_half, _ = evaluate_both(samples, dict(thr=0.5), dict(thr=0.5))
    assert ours['multi-label/OP_thr-0.00'] < at_half['multi-label/OP']


@pytest.mark.parametrize('kwargs, msg', [
    (dict(thr=float('nan')), 'thr must be a number'),
    (dict(thr=True), 'thr must be a number'),
    (dict(thr='no/such/thresholds.json'),
     'cannot read thresholds file no/such/thresholds.json'),
    (dict(thr=[0.5, float('nan')]), 'per-class thr must be'),
    (dict(topk=0), 'topk must be an int >= 1'),
    (dict(topk=1.5), 'topk must be an int >= 1'),
])
def test_bad_thr_topk(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        build(**kwargs)


def test_nan_thr_gives_zeros_in_mmpretrain():
    # why NaN is refused: mmpretrain predicts nothing and reports zeros
    samples = make_samples(num=20, seed=5, difficult=False)
    metric = MMPretrainMetric(thr=float('nan'))
    metric.process(None, samples)
    assert set(metric.evaluate(len(samples)).values()) == {0.0}


@pytest.mark.parametrize('label, named', [(-1, '-1'), (6, '6'), (9, '9')])
@pytest.mark.parametrize('meta', [
    dict(img_path='VOC2007/JPEGImages/000005.jpg'),
    dict(sample_idx=17), dict()])
def test_gt_label_outside_classes(label, named, meta):
    samples = make_samples(num=3, seed=6, difficult=False)
    bad = dict(samples[2], gt_label=torch.tensor([1, label]), **meta)
    # mmpretrain refuses it too, with a bare RuntimeError from one_hot
    with pytest.raises(RuntimeError):
        MMPretrainMetric().process(None, [bad])
    where = (repr(meta['img_path']) if 'img_path' in meta else
             str(meta['sample_idx']) if meta else '#1 of the batch')
    metric = build()
    with pytest.raises(ValueError,
                       match=rf'sample {re.escape(where)}: gt_label {named} '
                       r'is outside the 6 classes \[0, 5\]'):
        metric.process(None, [samples[0], bad])


def test_non_integer_gt_label_and_score_shape():
    samples = make_samples(num=2, seed=7, difficult=False)
    metric = build()
    with pytest.raises(ValueError, match='gt_label must hold class indices'):
        metric.process(None, [dict(samples[0],
                                   gt_label=torch.tensor([0.5, 2.0]))])
    with pytest.raises(ValueError, match=r'gt_score has shape \(5,\) but '
                       r'pred_score \(6,\)'):
        metric.process(None, [dict(samples[0], gt_score=torch.zeros(5))])


def test_no_samples_is_a_clear_error():
    """An empty val loader (or every sample lost before ``process``): an
    mmengine ``Evaluator`` warns that results are empty, then calls
    ``compute_metrics([])``; mmpretrain's metric fails there with torch's
    "stack expects a non-empty TensorList", ours names itself and the
    cause."""
    with pytest.raises(RuntimeError, match='non-empty TensorList'):
        MMPretrainMetric(thr=0.5).compute_metrics([])
    metric = build(thr=0.5)
    metric.dataset_meta = dict(classes=CLASSES)
    with pytest.raises(ValueError,
                       match=r'MultiLabelMetric got no samples.*empty '
                       r'val/test dataloader'):
        Evaluator(metric).evaluate(0)
