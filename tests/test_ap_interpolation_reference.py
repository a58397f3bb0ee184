"""VOC AP interpolations against the reference formulas: the VOC devkit's
``voc_ap`` (Python port of ``VOCevaldet.m``, as in py-faster-rcnn and
Detectron) and mmdet's ``average_precision``, on PR curves built the way
an evaluator builds them (repeated recalls after false positives)."""
import numpy as np
import pytest

from mmext.evaluation.functional import (ap_11point, ap_area,
                                         average_precision)


def devkit_voc_ap(rec, prec, use_07_metric=False):
    """``voc_ap`` of the VOC devkit's Python port, verbatim."""
    if use_07_metric:
        ap = 0.
        for t in np.arange(0., 1.1, 0.1):
            if np.sum(rec >= t) == 0:
                p = 0
            else:
                p = np.max(prec[rec >= t])
            ap = ap + p / 11.
    else:
        mrec = np.concatenate(([0.], rec, [1.]))
        mpre = np.concatenate(([0.], prec, [0.]))
        for i in range(mpre.size - 1, 0, -1):
            mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
        i = np.where(mrec[1:] != mrec[:-1])[0]
        ap = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
    return ap


def ranked_curve(rng):
    """Recall and precision of a random ranking of TPs and FPs (runs of
    FPs repeat a recall value), sometimes not reaching recall 1."""
    n = int(rng.integers(1, 80))
    tp = rng.random(n) < rng.uniform(0.2, 0.8)
    num_gts = max(int(tp.sum()) + int(rng.integers(0, 4)), 1)
    tp_cum = np.cumsum(tp).astype(np.float64)
    fp_cum = np.cumsum(~tp).astype(np.float64)
    return tp_cum / num_gts, tp_cum / (tp_cum + fp_cum)


def test_area_ap_is_the_devkit_formula_bit_for_bit():
    """Zero-width recall steps (FP runs) must be skipped as the devkit
    skips them: the sum is then grouped identically, so the result is the
    same float, not only the same number up to rounding."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        rec, prec = ranked_curve(rng)
        ref = devkit_voc_ap(rec, prec)
        assert ap_area(rec, prec) == ref
        # 'area' is the default mode
        assert average_precision(rec, prec) == ref
        assert average_precision(rec, prec, 'area') == ref


def test_11point_ap_equals_the_devkit():
    rng = np.random.default_rng(1)
    for _ in range(200):
        rec, prec = ranked_curve(rng)
        ref = devkit_voc_ap(rec, prec, use_07_metric=True)
        assert ap_11point(rec, prec) == pytest.approx(ref, abs=1e-12)
        assert average_precision(rec, prec, '11points') == pytest.approx(
            ref, abs=1e-12)


def test_both_modes_equal_mmdet_average_precision():
    # mmdet keeps AP in float32; imported here so that the reference tests
    # above stay quick to rerun on a mutant
    from mmdet.evaluation.functional import average_precision as mmdet_ap
    rng = np.random.default_rng(2)
    for _ in range(100):
        rec, prec = ranked_curve(rng)
        for mode in ('area', '11points'):
            assert abs(average_precision(rec, prec, mode) -
                       mmdet_ap(rec, prec, mode)) < 1e-6


def test_default_mode_is_area_on_a_hand_worked_curve():
    # ranked TP, FP, TP with 2 GTs: recall .5 .5 1, precision 1 .5 2/3
    rec, prec = np.array([.5, .5, 1.]), np.array([1., .5, 2 / 3])
    # area: .5 * 1 + .5 * 2/3 = 5/6; 11 points: 6 thresholds 0...0.5 at
    # precision 1 and 5 thresholds .6...1 at 2/3: (6 + 10/3) / 11 = 28/33
    assert average_precision(rec, prec) == pytest.approx(5 / 6, abs=1e-15)
    assert average_precision(rec, prec, '11points') == pytest.approx(
        28 / 33, abs=1e-15)


@pytest.mark.parametrize('mode', ['voc', 'AREA', '11point'])
def test_unknown_mode_is_named_with_the_choices(mode):
    with pytest.raises(ValueError) as err:
        average_precision([.5, 1.], [1., 1.], mode)
    assert str(err.value) == (
        f"mode must be one of ['11points', 'area'], got {mode!r}")
