"""train_validation_test_split: seeded, disjoint parts of the right sizes."""

import re

import numpy as np
import pytest

from deepfit.data.split import train_validation_test_split
from deepfit.errors import ConfigError, DataError


def test_default_sizes_for_100_rows():
    parts = train_validation_test_split(100, seed=0)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (70, 15, 15)


@pytest.mark.parametrize("n_rows", [20, 100, 257])
def test_parts_are_disjoint_and_cover_every_row(n_rows):
    parts = train_validation_test_split(n_rows, seed=3)
    together = np.concatenate([parts.train, parts.validation, parts.test])
    assert len(together) == n_rows
    np.testing.assert_array_equal(np.sort(together), np.arange(n_rows))


def test_rows_are_shuffled_not_cut_in_order():
    parts = train_validation_test_split(100, seed=0)
    assert not np.array_equal(parts.train, np.arange(70))


def test_same_seed_same_split():
    first = train_validation_test_split(100, seed=7)
    second = train_validation_test_split(100, seed=7)
    np.testing.assert_array_equal(first.train, second.train)
    np.testing.assert_array_equal(first.validation, second.validation)
    np.testing.assert_array_equal(first.test, second.test)


def test_different_seed_different_split():
    first = train_validation_test_split(100, seed=0)
    second = train_validation_test_split(100, seed=1)
    assert not np.array_equal(first.validation, second.validation)


def test_no_test_part():
    parts = train_validation_test_split(100, test_fraction=0.0, seed=0)
    assert len(parts.test) == 0
    assert (len(parts.train), len(parts.validation)) == (85, 15)


def test_custom_fractions():
    parts = train_validation_test_split(200, validation_fraction=0.1, test_fraction=0.2)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (140, 20, 40)


def test_too_few_rows_says_how_many_are_needed():
    with pytest.raises(DataError, match=r"3 row\(s\) are too few.*at least (\d+) rows") as caught:
        train_validation_test_split(3)
    needed = int(re.search(r"at least (\d+) rows", str(caught.value)).group(1))
    parts = train_validation_test_split(needed)
    assert min(len(parts.train), len(parts.validation), len(parts.test)) >= 2
    with pytest.raises(DataError):
        train_validation_test_split(needed - 1)


def test_too_few_rows_without_test_part():
    with pytest.raises(DataError, match=r"at least \d+ rows"):
        train_validation_test_split(5, test_fraction=0.0)


def test_suggested_row_count_is_enough():
    fractions = {"validation_fraction": 0.46, "test_fraction": 0.46}
    with pytest.raises(DataError, match=r"at least (\d+) rows") as caught:
        train_validation_test_split(3, **fractions)
    needed = int(re.search(r"at least (\d+) rows", str(caught.value)).group(1))
    parts = train_validation_test_split(needed, **fractions)
    assert len(parts.train) >= 2


@pytest.mark.parametrize(
    ("validation", "test"),
    [(-0.1, 0.15), (0.15, 1.0), (1.5, 0.0), (0.15, float("nan"))],
)
def test_fraction_out_of_range(validation, test):
    with pytest.raises(ConfigError, match="fraction must be in"):
        train_validation_test_split(100, validation_fraction=validation, test_fraction=test)


def test_fractions_leaving_no_training_rows():
    with pytest.raises(ConfigError, match="no rows to train on"):
        train_validation_test_split(100, validation_fraction=0.5, test_fraction=0.5)
