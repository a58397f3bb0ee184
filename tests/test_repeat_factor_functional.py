"""Numbers of the repeat-factor core (mmext.datasets.functional)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.dataset import ClassBalancedDataset

from mmext.datasets.functional import (active_slots, balanced_class_frequency,
                                       compute_repeat_factors,
                                       expected_repeats, repeat_counts,
                                       repeat_indices)
from tests.helpers.repeat_factor import ListDataset


def csr(cat_lists):
    lengths = np.array([len(c) for c in cat_lists], dtype=np.int64)
    labels = np.array([x for c in cat_lists for x in c], dtype=np.int64)
    return labels, lengths


cat_lists_st = st.lists(
    st.lists(st.integers(0, 7), max_size=6), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(cat_lists_st, st.sampled_from([1e-3, 0.05, 0.3, 0.7, 1.0]))
def test_ceil_indices_equal_mmengine(cat_lists, thr):
    rf = compute_repeat_factors(*csr(cat_lists), 8, thr)
    ours = repeat_indices(repeat_counts(rf.image_repeat, 'ceil'))
    ref = ClassBalancedDataset(ListDataset(cat_lists), thr)
    assert ours.tolist() == ref.repeat_indices


def test_factors_by_hand():
    # 4 images; class 1 in one image: f = 1/4, r = sqrt(0.5 / 0.25).
    rf = compute_repeat_factors(*csr([[0], [0, 1, 1], [], [0]]), 3, 0.5)
    np.testing.assert_array_equal(rf.image_counts, [3, 1, 0])
    np.testing.assert_allclose(rf.category_freq, [0.75, 0.25, 0])
    np.testing.assert_allclose(rf.category_repeat, [1, math.sqrt(2), 1])
    np.testing.assert_allclose(rf.image_repeat, [1, math.sqrt(2), 1, 1])
    np.testing.assert_array_equal(
        repeat_indices(repeat_counts(rf.image_repeat)), [0, 1, 1, 2, 3])
    # After balancing class 1 is in 2 of 5 samples.
    after = balanced_class_frequency(rf, expected_repeats(rf.image_repeat,
                                                          'ceil'))
    np.testing.assert_allclose(after, [4 / 5, 2 / 5, 0])


def test_stochastic_mean_repeats_equal_r():
    rng = np.random.default_rng(1)
    r = 1 + 3 * rng.random(50)
    epochs = 4000
    counts = np.stack(
        [repeat_counts(r, 'stochastic', seed=7, epoch=e) for e in range(epochs)])
    # Each count is floor(r) or floor(r) + 1.
    assert np.all((counts == np.floor(r)) | (counts == np.floor(r) + 1))
    frac = r - np.floor(r)
    se = np.sqrt(frac * (1 - frac) / epochs) + 1e-12
    z = (counts.mean(0) - r) / se
    assert np.abs(z).max() < 5
    # The total is unbiased too.
    assert abs(counts.sum(1).mean() - r.sum()) < 0.1


def test_stochastic_draws_are_a_function_of_seed_and_epoch():
    r = np.linspace(1, 3, 200)
    a = repeat_counts(r, 'stochastic', seed=3, epoch=5)
    np.testing.assert_array_equal(a, repeat_counts(r, 'stochastic', 3, 5))
    assert not np.array_equal(a, repeat_counts(r, 'stochastic', 3, 6))
    assert not np.array_equal(a, repeat_counts(r, 'stochastic', 4, 5))
    # Integer factors are never rounded.
    np.testing.assert_array_equal(
        repeat_counts(np.array([1., 2., 3.]), 'stochastic', 0, 1), [1, 2, 3])


def test_active_slots():
    slots = active_slots(np.array([1, 3, 2]), np.array([1, 2, 0]))
    np.testing.assert_array_equal(slots, [0, 1, 2])
    with pytest.raises(ValueError, match='exceed'):
        active_slots(np.array([1]), np.array([2]))


@pytest.mark.parametrize('thr', [0, -0.1, 1.5, float('nan'), '0.1', None,
                                 True])
def test_bad_oversample_thr(thr):
    with pytest.raises(ValueError, match='oversample_thr'):
        compute_repeat_factors(*csr([[0]]), 1, thr)


def test_unknown_category_names_image():
    with pytest.raises(ValueError, match='image 1 has category id 5'):
        compute_repeat_factors(*csr([[0], [5]]), 3, 0.5)
    with pytest.raises(ValueError, match='category id -1'):
        compute_repeat_factors(*csr([[-1]]), 3, 0.5)


def test_bad_rounding():
    with pytest.raises(ValueError, match='rounding'):
        repeat_counts(np.ones(2), 'floor')
