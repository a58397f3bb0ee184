"""Parity of the multi-label functional core (threshold statistics and AP)
with mmpretrain and sklearn. ROC-AUC, thresholds and curves: see
test_multilabel_ranking.py.

mmpretrain computes in float32 and in percent, so its numbers are compared
after dividing by 100 (an absolute 1e-6 on fractions). On classes without
positives mmpretrain and sklearn (``zero_division=0``) agree: recall, F1 and
AP are 0; we follow them. They disagree only on ties (mmpretrain's AP
depends on its unstable sort, sklearn groups tied scores), so AP parity
uses tie-free scores. mmpretrain's AP raises IndexError on a class whose
labels are all ignored; there we check our own value (0) instead.
"""
import warnings

import numpy as np
import pytest
import torch
from mmpretrain.evaluation import AveragePrecision, MultiLabelMetric
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (average_precision_score, f1_score,
                             precision_score, recall_score)

from mmext.evaluation.functional.multilabel import (
    check_multilabel_inputs, multilabel_average_precision,
    multilabel_best_f1_thresholds, multilabel_confusion, multilabel_metrics)

ATOL = 1e-6


def random_case(seed: int, num: int = 257, num_classes: int = 9):
    """Tie-free scores; targets with ignored labels, a class without
    positives and rows that are entirely ignored."""
    rng = np.random.default_rng(seed)
    scores = rng.permutation(num * num_classes).reshape(num, num_classes)
    scores = scores / (num * num_classes)
    targets = (rng.random((num, num_classes)) <
               rng.uniform(0.05, 0.5, num_classes)).astype(np.int64)
    targets[rng.random((num, num_classes)) < 0.1] = -1
    targets[:, 1] = np.where(targets[:, 1] == 1, 0, targets[:, 1])
    targets[rng.choice(num, 5, replace=False)] = -1
    return scores, targets


def mmpretrain_prf(scores, targets, average, **kwargs):
    p, r, f, _ = MultiLabelMetric.calculate(
        torch.from_numpy(scores),
        torch.from_numpy(targets.copy()),
        average=average,
        **kwargs)
    return np.array([p.item(), r.item(), f.item()]) / 100


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('mode', [dict(thr=0.5), dict(thr=0.3),
                                  dict(thr=None, topk=2)])
def test_parity_mmpretrain_prf(seed, mode):
    scores, targets = random_case(seed)
    res = multilabel_metrics(scores, targets, with_ap=False, **mode)
    macro = mmpretrain_prf(scores, targets, 'macro', **mode)
    micro = mmpretrain_prf(scores, targets, 'micro', **mode)
    np.testing.assert_allclose([res['CP'], res['CR'], res['macro-F1']],
                               macro, atol=ATOL, rtol=0)
    np.testing.assert_allclose([res['OP'], res['OR'], res['OF1']],
                               micro, atol=ATOL, rtol=0)
    # CF1 is the harmonic mean of CP and CR, not mmpretrain's macro F1.
    cp, cr = macro[:2]
    assert res['CF1'] == pytest.approx(2 * cp * cr / (cp + cr), abs=ATOL)


@pytest.mark.parametrize('seed', range(6))
def test_parity_mmpretrain_ap(seed):
    scores, targets = random_case(seed)
    ours = multilabel_average_precision(scores, targets)
    theirs = AveragePrecision.calculate(
        torch.from_numpy(scores), torch.from_numpy(targets),
        average=None).numpy() / 100
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=0)
    assert ours[1] == 0  # class without positives
    mean = AveragePrecision.calculate(
        torch.from_numpy(scores), torch.from_numpy(targets)).item() / 100
    assert ours.mean() == pytest.approx(mean, abs=ATOL)


@pytest.mark.parametrize('seed', range(6))
def test_parity_sklearn(seed):
    scores, targets = random_case(seed)
    res = multilabel_metrics(scores, targets, thr=0.5)
    pred = (scores >= 0.5).astype(int)
    valid = targets >= 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UndefinedMetricWarning)
        warnings.simplefilter('ignore', UserWarning)
        per_class = []
        for c in range(scores.shape[1]):
            y, p, w = targets[:, c], pred[:, c], valid[:, c]
            per_class.append([
                precision_score(y[w], p[w], zero_division=0),
                recall_score(y[w], p[w], zero_division=0),
                f1_score(y[w], p[w], zero_division=0),
                average_precision_score(y[w], scores[w, c]),
            ])
        per_class = np.array(per_class)
        # micro: every non-ignored (sample, class) pair is one decision
        micro = [
            fn(targets[valid], pred[valid], zero_division=0)
            for fn in (precision_score, recall_score, f1_score)
        ]
    np.testing.assert_allclose(res['precision'], per_class[:, 0], atol=ATOL)
    np.testing.assert_allclose(res['recall'], per_class[:, 1], atol=ATOL)
    np.testing.assert_allclose(res['f1'], per_class[:, 2], atol=ATOL)
    np.testing.assert_allclose(res['AP'], per_class[:, 3], atol=ATOL)
    assert res['CP'] == pytest.approx(per_class[:, 0].mean(), abs=ATOL)
    assert res['macro-F1'] == pytest.approx(per_class[:, 2].mean(), abs=ATOL)
    np.testing.assert_allclose([res['OP'], res['OR'], res['OF1']], micro,
                               atol=ATOL)


def test_sklearn_multilabel_without_ignore():
    """Without ignored labels sklearn's own multi-label averaging applies."""
    scores, targets = random_case(7)
    targets = np.abs(targets)
    pred = (scores >= 0.5).astype(int)
    res = multilabel_metrics(scores, targets)
    for avg, keys in (('macro', ('CP', 'CR', 'macro-F1')),
                      ('micro', ('OP', 'OR', 'OF1'))):
        expect = [
            fn(targets, pred, average=avg, zero_division=0)
            for fn in (precision_score, recall_score, f1_score)
        ]
        np.testing.assert_allclose([res[k] for k in keys], expect, atol=ATOL)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        expect_map = average_precision_score(targets, scores, average='macro')
    # sklearn scores the class without positives 0 (with a warning), as we do.
    assert res['mAP'] == pytest.approx(expect_map, abs=ATOL)


def test_all_ignored_class_and_float32():
    scores, targets = random_case(3)
    targets[:, 4] = -1
    ap = multilabel_average_precision(scores.astype(np.float32), targets)
    assert ap[4] == 0
    tp, fp, fn = multilabel_confusion(scores, targets)
    assert tp[4] == fp[4] == fn[4] == 0


def test_ties_are_ranked_by_sample_index():
    scores = np.array([[0.5], [0.5], [0.2]])
    # positive first among the tie: precision 1 at rank 1
    assert multilabel_average_precision(scores, [[1], [0], [0]])[0] == 1.0
    assert multilabel_average_precision(scores, [[0], [1], [0]])[0] == 0.5


def reference_ap(scores, targets):
    """AP by the module's documented rule, one full stable sort per class:
    descending score, tied scores in sample order, ignored labels out."""
    ap = np.zeros(scores.shape[1])
    for c in range(scores.shape[1]):
        valid = targets[:, c] >= 0
        order = np.argsort(-scores[valid, c], kind='stable')
        pos = targets[valid, c][order] == 1
        if pos.any():
            ranks = np.flatnonzero(pos) + 1
            ap[c] = np.mean(np.arange(1, len(ranks) + 1) / ranks)
    return ap


@pytest.mark.parametrize('kind', [
    'ties', 'clustered', 'infinite', 'one_positive', 'equal_positives',
    'float32'
])
def test_ap_matches_full_sort(kind):
    """The positives-only ranking equals a full stable sort, including
    ties between positives and negatives, crowded bins (many positives
    with nearly equal scores), infinite scores and degenerate ranges."""
    rng = np.random.default_rng(11)
    num, num_classes = 3000, 12
    scores = rng.random((num, num_classes))
    targets = (rng.random((num, num_classes)) < 0.2).astype(np.int8)
    targets[rng.random((num, num_classes)) < 0.05] = -1
    if kind == 'ties':
        scores = np.round(scores, 2)  # ties everywhere, some classes only
        scores[:, :6] = rng.random((num, 6))
    elif kind == 'clustered':
        scores = 0.5 + rng.standard_normal((num, num_classes)) * 1e-9
        scores[:, 0] = np.exp(rng.standard_normal(num) * 20)
    elif kind == 'infinite':
        scores[rng.random((num, num_classes)) < 0.01] = np.inf
        scores[rng.random((num, num_classes)) < 0.01] = -np.inf
        targets[:, 3] = np.where(np.isinf(scores[:, 3]), 1, 0)
        # infinite negatives around finite positives: no tie, no fallback
        scores[:, 5] = np.where(targets[:, 5] == 1, rng.random(num) / 2,
                                scores[:, 5])
    elif kind == 'one_positive':
        targets[:] = 0
        targets[rng.integers(0, num, num_classes), np.arange(num_classes)] = 1
    elif kind == 'equal_positives':
        scores[targets == 1] = 0.25
    elif kind == 'float32':
        scores = scores.astype(np.float32)
    ours = multilabel_average_precision(scores, targets)
    np.testing.assert_allclose(ours, reference_ap(scores, targets),
                               atol=1e-12, rtol=0)


def test_ap_sklearn_large_tie_free():
    """Bigger than the other cases: several class blocks, sparse classes."""
    rng = np.random.default_rng(5)
    num, num_classes = 20000, 500
    scores = rng.random((num, num_classes))
    targets = (rng.random((num, num_classes)) <
               rng.uniform(0.0005, 0.1, num_classes)).astype(np.int8)
    ours = multilabel_average_precision(scores, targets)
    for c in rng.choice(num_classes, 20, replace=False):
        expect = average_precision_score(targets[:, c], scores[:, c]) \
            if targets[:, c].any() else 0.0
        assert ours[c] == pytest.approx(expect, abs=ATOL)


def test_topk_counts():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    targets = np.array([[1, 0, 1], [0, -1, 1]])
    tp, fp, fn = multilabel_confusion(scores, targets, thr=None, topk=2)
    # sample 0 predicts {0, 1}; sample 1 predicts {2, 1(ignored)}
    np.testing.assert_array_equal(tp, [1, 0, 1])
    np.testing.assert_array_equal(fp, [0, 1, 0])
    np.testing.assert_array_equal(fn, [0, 0, 1])


def test_topk_ties_go_to_the_lower_class_index():
    # 10 classes tie at the top: the 3 predicted are the first 3 of them,
    # whatever the row length (an unstable sort picks others from ~17 up)
    scores = np.full((1, 20), 0.5)
    scores[0, ::2] = 0.7
    targets = np.zeros((1, 20), dtype=int)
    targets[0, [4, 6]] = 1
    tp, fp, fn = multilabel_confusion(scores, targets, thr=None, topk=3)
    predicted = np.flatnonzero(tp + fp)
    np.testing.assert_array_equal(predicted, [0, 2, 4])
    assert tp[4] == 1 and fn[6] == 1 and tp.sum() == 1


def test_best_f1_thresholds_brute_force():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((120, 5)), 1)  # many ties
    targets = (rng.random((120, 5)) < 0.3).astype(int)
    targets[rng.random((120, 5)) < 0.1] = -1
    targets[:, 2] = np.minimum(targets[:, 2], 0)
    thrs, best = multilabel_best_f1_thresholds(scores, targets)
    for c in range(5):
        f1s = {}
        for u in np.unique(scores[:, c]):
            res = multilabel_metrics(
                scores[:, c:c + 1], targets[:, c:c + 1], thr=u,
                with_ap=False)
            f1s[u] = res['f1'][0]
        assert best[c] == pytest.approx(max(f1s.values()))
        if c == 2:
            assert thrs[c] == np.inf and best[c] == 0
        else:
            assert f1s[thrs[c]] == pytest.approx(best[c])


@pytest.mark.parametrize('scores, targets, match', [
    (np.zeros((3, 2)), np.zeros((3, 3)), 'shape mismatch'),
    (np.zeros(3), np.zeros(3), r'shape \(N, C\)'),
    (np.full((2, 2), np.nan), np.zeros((2, 2)), 'NaN'),
    (np.zeros((2, 2)), np.array([[0, 2], [1, 0]]), r'\{-1, 0, 1\}'),
    (np.zeros((2, 2)), np.array([[0, 0.5], [1, 0]]), r'\{-1, 0, 1\}'),
    (np.zeros((0, 4)), np.zeros((0, 4)), 'empty'),
])
def test_bad_input(scores, targets, match):
    with pytest.raises(ValueError, match=match):
        check_multilabel_inputs(scores, targets)
    with pytest.raises(ValueError, match=match):
        multilabel_metrics(scores, targets)


def test_bad_topk():
    with pytest.raises(ValueError, match='topk'):
        multilabel_confusion(np.zeros((2, 3)), np.zeros((2, 3)), thr=None,
                             topk=4)
