"""ROC-AUC, fitted thresholds and curves of the multi-label core against
sklearn (``roc_auc_score``, ``roc_curve``, ``precision_recall_curve``) and
against brute force over every threshold.

sklearn's multi-label ``roc_auc_score`` has no "ignore" label and raises on
a class with one label value, so cases with ignored labels or degenerate
classes are compared per class over the non-ignored labels, which is what
the documented convention says.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from mmext.evaluation.functional.multilabel import (
    multilabel_best_f1_thresholds, multilabel_confusion, multilabel_metrics,
    multilabel_micro_roc_auc, multilabel_precision_thresholds,
    multilabel_roc_auc)
from mmext.evaluation.functional.multilabel_curves import (mean_pr_curve,
                                                           mean_roc_curve,
                                                           multilabel_curves)

AUC_TOL = 1e-9


def tied_case(seed: int, num: int = 300, num_classes: int = 7,
              decimals: int = 1, ignore: float = 0.1):
    """Scores rounded to ``decimals`` (ties everywhere, positives tied with
    negatives), ignored labels, a class without positives (1) and one
    without negatives (2, after ignoring)."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((num, num_classes)) <
               rng.uniform(0.05, 0.6, num_classes)).astype(np.int64)
    scores = np.round(rng.random((num, num_classes)) * 0.7 + 0.3 * targets,
                      decimals)
    targets[rng.random((num, num_classes)) < ignore] = -1
    targets[:, 1] = np.minimum(targets[:, 1], 0)
    targets[:, 2] = np.where(targets[:, 2] == 0, -1, targets[:, 2])
    return scores, targets


def sklearn_auc_per_class(scores, targets):
    out = []
    for c in range(scores.shape[1]):
        valid = targets[:, c] >= 0
        y = targets[valid, c]
        out.append(roc_auc_score(y, scores[valid, c])
                   if 0 < y.sum() < len(y) else np.nan)
    return np.array(out)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('decimals', [1, 2, 12])
def test_auc_per_class_with_ties_ignored_and_degenerate(seed, decimals):
    scores, targets = tied_case(seed, decimals=decimals)
    ours = multilabel_roc_auc(scores, targets)
    expect = sklearn_auc_per_class(scores, targets)
    assert np.isnan(ours[1]) and np.isnan(ours[2])  # no pos / no neg
    np.testing.assert_allclose(ours, expect, atol=AUC_TOL, rtol=0)
    res = multilabel_metrics(scores, targets)
    assert res['AUC-undefined'] == 2
    assert res['macro-AUC'] == pytest.approx(np.nanmean(expect),
                                             abs=AUC_TOL)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('decimals', [1, 3])
def test_auc_sklearn_averages_without_ignored_labels(seed, decimals):
    """sklearn's own multi-label averaging: macro, micro and None."""
    scores, targets = tied_case(seed, decimals=decimals, ignore=0)
    targets = targets[:, 3:]  # classes with both labels: sklearn's domain
    scores = scores[:, 3:]
    res = multilabel_metrics(scores, targets, with_micro_auc=True)
    np.testing.assert_allclose(
        res['AUC'], roc_auc_score(targets, scores, average=None),
        atol=AUC_TOL, rtol=0)
    assert res['macro-AUC'] == pytest.approx(
        roc_auc_score(targets, scores, average='macro'), abs=AUC_TOL)
    assert res['micro-AUC'] == pytest.approx(
        roc_auc_score(targets, scores, average='micro'), abs=AUC_TOL)
    assert res['AUC-undefined'] == 0


def test_micro_auc_ignores_labels_and_spans_chunks(monkeypatch):
    """Ignored labels leave the pooled set; the pooled pass reads the
    labels in chunks (shrunk here so that several are needed)."""
    from mmext.evaluation.functional import multilabel_ranking
    monkeypatch.setattr(multilabel_ranking, '_BLOCK_ELEMS', 97)
    scores, targets = tied_case(5, decimals=2)
    valid = targets >= 0
    expect = roc_auc_score(targets[valid], scores[valid])
    assert multilabel_micro_roc_auc(scores, targets) == pytest.approx(
        expect, abs=AUC_TOL)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 60), st.integers(1, 4),
       st.sampled_from([0, 1, 3]))
def test_auc_random_sets_full_of_ties(seed, num, num_classes, decimals):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((num, num_classes)), decimals)
    targets = rng.integers(-1, 2, (num, num_classes))
    np.testing.assert_allclose(multilabel_roc_auc(scores, targets),
                               sklearn_auc_per_class(scores, targets),
                               atol=AUC_TOL, rtol=0)


def test_auc_infinite_and_float32_scores():
    scores, targets = tied_case(9, decimals=2)
    scores[::7, 0] = np.inf
    scores[::11, 3] = -np.inf
    # sklearn refuses infinities; the same order with finite stand-ins
    finite = np.clip(scores, -1.0, 2.0)
    np.testing.assert_allclose(multilabel_roc_auc(scores, targets),
                               sklearn_auc_per_class(finite, targets),
                               atol=AUC_TOL, rtol=0)
    f32 = finite.astype(np.float32)
    np.testing.assert_allclose(multilabel_roc_auc(f32, targets),
                               sklearn_auc_per_class(f32, targets),
                               atol=AUC_TOL, rtol=0)


def brute_force(scores, targets, c):
    """(threshold, precision, recall, F1) at every distinct score of class
    ``c``, predicting ``score >= threshold`` over non-ignored labels."""
    out = []
    for thr in np.unique(scores[:, c]):
        tp, fp, fn = multilabel_confusion(scores[:, c:c + 1],
                                          targets[:, c:c + 1], thr=thr)
        tp, fp, fn = tp[0], fp[0], fn[0]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out.append((thr, p, r, 2 * p * r / (p + r) if p + r else 0.0))
    return out


@pytest.mark.parametrize('decimals', [1, 12])
def test_best_f1_is_the_best_threshold(decimals):
    scores, targets = tied_case(3, num=150, decimals=decimals)
    thrs, best = multilabel_best_f1_thresholds(scores, targets)
    for c in range(scores.shape[1]):
        points = brute_force(scores, targets, c)
        top = max(f for *_, f in points)
        assert best[c] == pytest.approx(top, abs=1e-12)
        if c == 1:  # no positives: never predicted
            assert thrs[c] == np.inf and best[c] == 0
        else:  # the highest threshold among the best
            assert thrs[c] == max(t for t, *_, f in points
                                  if f == pytest.approx(top, abs=1e-12))


@pytest.mark.parametrize('target', [0.5, 0.8, 0.95, 1.0])
def test_precision_thresholds_keep_the_most_recall(target):
    scores, targets = tied_case(4, num=150, decimals=2)
    thrs, recall = multilabel_precision_thresholds(scores, targets, target)
    for c in range(scores.shape[1]):
        ok = [(t, r) for t, p, r, _ in brute_force(scores, targets, c)
              if p >= target and r > 0]
        if not ok:
            assert thrs[c] == np.inf and recall[c] == 0
            continue
        best_recall = max(r for _, r in ok)
        assert recall[c] == pytest.approx(best_recall, abs=1e-12)
        assert thrs[c] == max(t for t, r in ok if r == best_recall)


def test_precision_target_out_of_range():
    with pytest.raises(ValueError, match=r'in \(0, 1\]'):
        multilabel_precision_thresholds(np.zeros((2, 1)), [[1], [0]], 0)


def test_per_class_thresholds_and_topk_ties():
    scores = np.array([[0.4, 0.6, 0.6], [0.9, 0.2, 0.3]])
    targets = np.array([[1, 1, 0], [1, 0, 1]])
    tp, fp, fn = multilabel_confusion(scores, targets, thr=[0.3, 0.7, 0.3])
    np.testing.assert_array_equal(tp, [2, 0, 1])
    np.testing.assert_array_equal(fp, [0, 0, 1])
    np.testing.assert_array_equal(fn, [0, 1, 0])
    # a tie on the k-th score: the lower class index is predicted
    tp, fp, _ = multilabel_confusion(scores, targets, thr=None, topk=1)
    np.testing.assert_array_equal(tp + fp, [1, 1, 0])
    with pytest.raises(ValueError, match='2 per-class thresholds for 3'):
        multilabel_confusion(scores, targets, thr=[0.5, 0.5])


def test_curves_match_sklearn():
    scores, targets = tied_case(6, decimals=2)
    curves = multilabel_curves(scores, targets)
    assert curves[1] is None  # no positives
    assert curves[2]['fpr'] is None  # no negatives: no ROC, a PR curve
    for c in (0, 3, 4, 5, 6):
        valid = targets[:, c] >= 0
        y, s = targets[valid, c], scores[valid, c]
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        np.testing.assert_allclose(curves[c]['fpr'], fpr, atol=1e-12)
        np.testing.assert_allclose(curves[c]['tpr'], tpr, atol=1e-12)
        precision, recall, _ = precision_recall_curve(y, s)
        # sklearn: recall descending and ending at (recall 0, precision 1)
        np.testing.assert_allclose(curves[c]['recall'], recall[::-1],
                                   atol=1e-12)
        np.testing.assert_allclose(curves[c]['precision'], precision[::-1],
                                   atol=1e-12)
    roc = mean_roc_curve(curves)
    assert roc['tpr'][0] == 0 and roc['tpr'][-1] == 1
    assert np.all(np.diff(roc['tpr']) >= 0)
    pr = mean_pr_curve(curves)
    assert np.all(np.diff(pr['precision']) <= 1e-12)  # interpolated
