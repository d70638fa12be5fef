"""Seeded splits of a dataset's rows: one interface for every place that holds rows out.

``train`` (``deepfit train``), ``fit`` (its early-stopping share), cross-validation and the
studies all split through here, so a seed means the same rows everywhere. Given labels (a
classification target), the parts keep the labels' proportions (stratified); a label too
rare to stratify on falls back to a plain shuffle. A later kind adds a splitter by time.

Example:
    >>> parts = RowSplitter(0.15, 0.15).split(100, seed=0)
    >>> len(parts.train), len(parts.validation), len(parts.test)
    (70, 15, 15)
    >>> [len(fold.test) for fold in KFoldSplitter(4).folds(10, seed=0)]
    [3, 3, 2, 2]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from deepfit.errors import ConfigError, DataError

EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """Row indices of each part of a dataset (sorted)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


class Splitter(Protocol):
    """Anything that cuts ``n_rows`` rows into a :class:`Split` for a seed."""

    def split(self, n_rows: int, *, seed: int, labels: np.ndarray | None = None) -> Split: ...


@dataclass(frozen=True)
class RowSplitter:
    """Shuffle the rows with a seed and cut them into train, validation and test.

    Each non-empty part gets at least ``min_rows`` rows, otherwise :meth:`split` raises a
    DataError that says how many rows the data needs.
    """

    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    min_rows: int = 2

    def __post_init__(self) -> None:
        for label, fraction in (
            ("validation", self.validation_fraction),
            ("test", self.test_fraction),
        ):
            if not 0.0 <= fraction < 1.0:
                raise ConfigError(f"{label} fraction must be in [0, 1), however: {fraction}")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                f"validation ({self.validation_fraction}) and test ({self.test_fraction}) "
                "fractions leave no rows to train on; make their sum smaller than 1"
            )

    def sizes(self, n_rows: int) -> tuple[int, int, int]:
        """Rows in train, validation and test."""
        n_validation = round(n_rows * self.validation_fraction)
        n_test = round(n_rows * self.test_fraction)
        return n_rows - n_validation - n_test, n_validation, n_test

    def fits(self, n_rows: int) -> bool:
        """Whether ``n_rows`` rows give every non-empty part ``min_rows`` rows."""
        n_train, n_validation, n_test = self.sizes(n_rows)
        parts = [n_train] + [
            n
            for n, fraction in (
                (n_validation, self.validation_fraction),
                (n_test, self.test_fraction),
            )
            if fraction > 0
        ]
        return min(parts) >= self.min_rows

    def split(self, n_rows: int, *, seed: int, labels: np.ndarray | None = None) -> Split:
        if not self.fits(n_rows):
            needed = next(n for n in itertools.count(self.min_rows) if self.fits(n))
            raise DataError(
                f"{n_rows} row(s) are too few to split into train/validation/test "
                f"({1 - self.validation_fraction - self.test_fraction:.0%}/"
                f"{self.validation_fraction:.0%}/{self.test_fraction:.0%}); provide at least "
                f"{needed} rows"
            )
        return _cut(self.sizes(n_rows), seed, labels)

    def held_out(self, n_rows: int, *, seed: int, labels: np.ndarray | None = None) -> Split | None:
        """The split, or None when no validation row can be held out (too few rows)."""
        _, n_validation, _ = self.sizes(n_rows)
        if n_validation < 1 or not self.fits(n_rows):
            return None
        return self.split(n_rows, seed=seed, labels=labels)


@dataclass(frozen=True)
class KFoldSplitter:
    """Shuffled, seeded K folds; each :class:`Split` has a fold as ``test``, no validation."""

    n_folds: int

    def folds(self, n_rows: int, *, seed: int, labels: np.ndarray | None = None) -> Iterator[Split]:
        rows = np.arange(n_rows)
        pieces = None
        if labels is not None:
            stratified = StratifiedKFold(self.n_folds, shuffle=True, random_state=seed)
            try:
                pieces = list(stratified.split(rows, labels))
            except ValueError:  # a label with fewer rows than folds
                pieces = None
        if pieces is None:
            pieces = list(KFold(self.n_folds, shuffle=True, random_state=seed).split(rows))
        for train, test in pieces:
            yield Split(train=np.sort(train), validation=EMPTY, test=np.sort(test))


def train_validation_test_split(
    n_rows: int,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    min_rows: int = 2,
    labels: np.ndarray | None = None,
) -> Split:
    """:meth:`RowSplitter.split` in one call.

    Example:
        >>> parts = train_validation_test_split(100, seed=0)
        >>> len(parts.train), len(parts.validation), len(parts.test)
        (70, 15, 15)
    """
    splitter = RowSplitter(validation_fraction, test_fraction, min_rows)
    return splitter.split(n_rows, seed=seed, labels=labels)


def _cut(sizes: tuple[int, int, int], seed: int, labels: np.ndarray | None) -> Split:
    n_train, n_validation, n_test = sizes
    if labels is not None:
        stratified = _stratified(sizes, seed, labels)
        if stratified is not None:
            return stratified
    order = np.random.default_rng(seed).permutation(n_train + n_validation + n_test)
    return Split(
        train=np.sort(order[:n_train]),
        validation=np.sort(order[n_train : n_train + n_validation]),
        test=np.sort(order[n_train + n_validation :]),
    )


def _stratified(sizes: tuple[int, int, int], seed: int, labels: np.ndarray) -> Split | None:
    """Parts that keep the labels' proportions, or None when a label is too rare for it."""
    n_train, n_validation, n_test = sizes
    rows = np.arange(n_train + n_validation + n_test)
    try:
        rest, test = (rows, EMPTY)
        if n_test:
            rest, test = train_test_split(
                rows, test_size=n_test, stratify=labels, random_state=seed
            )
        train, validation = (rest, EMPTY)
        if n_validation:
            train, validation = train_test_split(
                rest, test_size=n_validation, stratify=labels[rest], random_state=seed
            )
    except ValueError:
        return None
    return Split(train=np.sort(train), validation=np.sort(validation), test=np.sort(test))


TRAIN, VALIDATION, TEST = 0, 1, 2
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


@dataclass(frozen=True)
class HashSplitter:
    """Parts by a seeded hash of each row's number: the same rows on every pass over a file
    and in every process, without holding the file or a permutation of it.

    Each row lands in validation with probability ``validation_fraction`` and in test with
    ``test_fraction`` (so the sizes vary a little from run to run of different files).

    Example:
        >>> parts = HashSplitter(0.15, 0.15).parts(np.arange(100_000), seed=0)
        >>> [round(float(np.mean(parts == part)), 2) for part in (TRAIN, VALIDATION, TEST)]
        [0.7, 0.15, 0.15]
    """

    validation_fraction: float = 0.15
    test_fraction: float = 0.15

    def __post_init__(self) -> None:
        RowSplitter(self.validation_fraction, self.test_fraction)  # the same checks

    def parts(self, rows: np.ndarray, *, seed: int) -> np.ndarray:
        """:data:`TRAIN`, :data:`VALIDATION` or :data:`TEST` for each row number of ``rows``."""
        draw = row_uniforms(rows, seed)
        parts = np.full(len(draw), TRAIN, dtype=np.int8)
        parts[draw < self.validation_fraction + self.test_fraction] = VALIDATION
        parts[draw < self.test_fraction] = TEST
        return parts


def row_uniforms(rows: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) for each row number, fixed by the seed (SplitMix64).

    Example:
        >>> bool(np.all(row_uniforms(np.arange(3), 0) == row_uniforms(np.arange(3), 0)))
        True
    """
    state = np.asarray(rows, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA)
    with np.errstate(over="ignore"):
        z = state + np.uint64((seed * 0xBF58476D1CE4E5B9 + GOLDEN_GAMMA) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def even_rows(rows: int, most: int) -> np.ndarray:
    """At most ``most`` evenly spaced positions among ``rows`` rows (all of them when fewer),
    for a sample that covers the whole table without a seed.

    Example:
        >>> even_rows(10, 4).tolist(), even_rows(3, 4).tolist()
        ([0, 3, 6, 9], [0, 1, 2])
    """
    if rows <= most:
        return np.arange(rows)
    return np.linspace(0, rows - 1, most).astype(np.int64)
