"""The registered MultiLabelMetric: registry, data samples, difficult labels,
distributed collection."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.structures import DataSample

from mmext.evaluation.functional.multilabel import multilabel_metrics
from tests.dist_utils import run_distributed

ALL_ITEMS = ('CP', 'CR', 'CF1', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP',
             'best-F1')


def make_samples(num: int = 101, num_classes: int = 6, seed: int = 0):
    """Data samples as mmpretrain's VOC pipeline gives them (label indices
    plus ``gt_label_difficult`` in the metainfo), converted to dicts the
    way mmengine's Evaluator does."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(num):
        labels = rng.choice(num_classes, rng.integers(1, 3), replace=False)
        difficult = rng.choice(num_classes, rng.integers(0, 2))
        sample = DataSample().set_pred_score(torch.rand(
            num_classes, generator=torch.Generator().manual_seed(
                int(rng.integers(1 << 30))))).set_gt_label(labels.tolist())
        sample.set_metainfo(dict(gt_label_difficult=difficult.tolist()))
        samples.append(sample.to_dict())
    return samples


def expected_targets(samples, num_classes: int = 6) -> np.ndarray:
    targets = np.zeros((len(samples), num_classes), dtype=int)
    for i, s in enumerate(samples):
        for d in s['gt_label_difficult']:
            targets[i, d] = -1
        targets[i, s['gt_label'].numpy()] = 1  # positive wins
    return targets


def build(**kwargs):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MMPRETRAIN_METRICS.build(
            dict(type='mmext.MultiLabelMetric', **kwargs))


def test_build_from_mmpretrain_registry_and_values():
    metric = build(items=ALL_ITEMS)
    assert type(metric).__module__.startswith('mmext.')
    samples = make_samples()
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(6)])
    metric.process(None, samples)
    res = metric.evaluate(len(samples))
    scores = torch.stack([s['pred_score'] for s in samples]).numpy()
    ref = multilabel_metrics(scores, expected_targets(samples))
    for item in ALL_ITEMS[:-1]:
        assert res[f'multi-label/{item}'] == pytest.approx(100 * ref[item])
    assert res['multi-label/best-F1'] >= res['multi-label/macro-F1']


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
    with pytest.raises(ValueError, match='either thr or topk'):
        build(thr=0.5, topk=2)
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


def test_distributed_collection_equals_single_process():
    samples = make_samples(num=101, seed=2)
    single = build(items=ALL_ITEMS)
    single.process(None, samples)
    expected = single.evaluate(len(samples))
    results = run_distributed(_dist_evaluate, 2, samples)
    assert results[0] == expected
    assert results[1] == expected
