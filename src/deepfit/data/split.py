"""Seeded train / validation / test splits by row index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepfit.errors import ConfigError, DataError


@dataclass(frozen=True)
class Split:
    """Row indices of each part of a dataset."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def train_validation_test_split(
    n_rows: int,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    min_rows: int = 2,
) -> Split:
    """Shuffle ``range(n_rows)`` with ``seed`` and cut it into train, validation and test.

    Each non-empty part gets at least ``min_rows`` rows, otherwise a DataError says how many
    rows the data needs.

    Example:
        >>> parts = train_validation_test_split(100, seed=0)
        >>> len(parts.train), len(parts.validation), len(parts.test)
        (70, 15, 15)
    """
    for label, fraction in (("validation", validation_fraction), ("test", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(f"{label} fraction must be in [0, 1), however: {fraction}")
    if validation_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"validation ({validation_fraction}) and test ({test_fraction}) fractions leave no "
            "rows to train on; make their sum smaller than 1"
        )
    n_validation = round(n_rows * validation_fraction)
    n_test = round(n_rows * test_fraction)
    n_train = n_rows - n_validation - n_test
    parts = [n_train] + [
        n for n, f in ((n_validation, validation_fraction), (n_test, test_fraction)) if f > 0
    ]
    if min(parts) < min_rows:
        raise DataError(
            f"{n_rows} row(s) are too few to split into train/validation/test "
            f"({1 - validation_fraction - test_fraction:.0%}/{validation_fraction:.0%}/"
            f"{test_fraction:.0%}); provide at least "
            f"{_rows_needed(validation_fraction, test_fraction, min_rows)} rows"
        )
    order = np.random.default_rng(seed).permutation(n_rows)
    return Split(
        train=np.sort(order[:n_train]),
        validation=np.sort(order[n_train : n_train + n_validation]),
        test=np.sort(order[n_train + n_validation :]),
    )


def _rows_needed(validation_fraction: float, test_fraction: float, min_rows: int) -> int:
    """The smallest row count that splits with ``min_rows`` in every non-empty part."""
    n_rows = min_rows
    while True:
        n_validation = round(n_rows * validation_fraction)
        n_test = round(n_rows * test_fraction)
        parts = [n_rows - n_validation - n_test]
        parts += [n for n, f in ((n_validation, validation_fraction), (n_test, test_fraction)) if f]
        if min(parts) >= min_rows:
            return n_rows
        n_rows += 1
