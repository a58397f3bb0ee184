"""Edges of the numeric core that the parity tests do not reach: exact
error messages, defaults, input dtypes and boundaries. Each test here kills
mutants that survived ``make mutation`` (see tests/MUTATION.md); expected
values are worked by hand."""
import re

import numpy as np
import pytest

from mmext.datasets.functional.repeat_factors import (
    active_slots, check_oversample_thr, compute_repeat_factors,
    expected_repeats, repeat_counts, unique_image_categories)

# repeat factors


@pytest.mark.parametrize('thr', [0, 1.5, True, '0.5'])
def test_oversample_thr_error_names_the_value(thr):
    with pytest.raises(ValueError) as err:
        check_oversample_thr(thr)
    assert str(err.value) == ('oversample_thr must be a number in (0, 1], '
                              f'got {thr!r}')


def test_category_lists_of_floats_become_int64_pairs():
    images, categories = unique_image_categories(
        np.array([1.0, 0.0, 1.0], np.float32), [2.0, 1.0], 2)
    assert images.dtype == categories.dtype == np.int64
    assert images.tolist() == [0, 0, 1] and categories.tolist() == [0, 1, 1]


def test_category_list_errors_name_what_is_wrong():
    with pytest.raises(ValueError) as err:
        unique_image_categories([0, 1, 1], [2], 2)
    assert str(err.value) == '3 labels but lengths sum to 2'
    # the id C itself is outside [0, C)
    with pytest.raises(ValueError) as err:
        unique_image_categories([0, 1, 2], [1, 2], 2)
    assert str(err.value) == ('image 1 has category id 2, outside the 2 '
                              'classes')


def test_no_images_refused_with_a_message():
    with pytest.raises(ValueError) as err:
        compute_repeat_factors(np.zeros(0), np.zeros(0), 3, 0.5)
    assert str(err.value) == 'cannot compute repeat factors of 0 images'


def test_repeat_counts_defaults_and_dtypes():
    r = np.array([1.5, 2.25, 1.0, 3.0])
    ceil = repeat_counts(r)  # rounding='ceil' by default
    assert ceil.dtype == np.int64 and ceil.tolist() == [2, 3, 1, 3]
    # stochastic: seed 0 and epoch 0 by default; 200 coin flips tell them
    # apart from any other seed or epoch
    many = np.full(200, 1.5)
    drawn = repeat_counts(many, 'stochastic')
    assert drawn.dtype == np.int64
    assert np.array_equal(drawn, repeat_counts(many, 'stochastic', 0, 0))
    assert not np.array_equal(drawn, repeat_counts(many, 'stochastic', 1, 0))
    assert not np.array_equal(drawn, repeat_counts(many, 'stochastic', 0, 1))
    assert set(drawn.tolist()) == {1, 2}
    # integer factors are never rounded up
    assert repeat_counts(np.array([1.0, 2.0]), 'stochastic').tolist() == [1, 2]


def test_expected_repeats_by_rounding():
    r = np.array([1, 2, 3])  # integer input
    assert expected_repeats(np.array([1.5, 2.25]), 'ceil').tolist() == [2, 3]
    stochastic = expected_repeats(r, 'stochastic')
    assert stochastic.dtype == np.float64 and stochastic.tolist() == [1, 2, 3]
    for bad in ('Stochastic', 'floor'):
        with pytest.raises(ValueError, match=re.escape(
                f"rounding must be one of ('ceil', 'stochastic'), got "
                f"'{bad}'")):
            expected_repeats(r, bad)


def test_active_slots_refuses_more_than_the_slots():
    with pytest.raises(ValueError) as err:
        active_slots(np.array([2, 1]), np.array([1, 2]))
    assert str(err.value) == 'counts exceed the slots of their images'
    assert active_slots(np.array([2, 3]), np.array([1, 2])).tolist() == [
        0, 2, 3]
