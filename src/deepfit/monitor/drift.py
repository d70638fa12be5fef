"""How far new rows have moved from the training data: one population stability index
(PSI) per feature and for the predictions, with a reading a person can act on.

PSI sums ``(new - training) * ln(new / training)`` over the bins of
:mod:`deepfit.monitor.reference` (shares below :data:`EPSILON` count as it). The usual reading:
below 0.1 fine, 0.1 to 0.25 watch, above 0.25 drifted.

:class:`DriftBins` counts prepared rows into all bins at once (one ``searchsorted`` per
numeric feature, one lookup per categorical one, one ``bincount``), so ``deepfit monitor``
and the server's :class:`~deepfit.serve.drift.DriftTracker` share it.

Example:
    >>> round(psi(np.array([0.5, 0.5]), np.array([0.9, 0.1])), 3)
    0.879
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.preprocess import MISSING_CATEGORY, PreparedFeatures, TabularPreprocessor
from deepfit.monitor.reference import (
    CLASSES,
    CategoricalReference,
    NumericReference,
    PredictionReference,
    Reference,
)

EPSILON = 1e-4  # the least share a bin counts as, so that an empty bin costs a finite amount
WATCH = 0.1
DRIFTED = 0.25
FINE, WATCHING, DRIFT = "fine", "watch", "drifted"
STATUS_ORDER = {FINE: 0, WATCHING: 1, DRIFT: 2}
NUMERIC, CATEGORICAL, PREDICTION = "numeric", "categorical", "prediction"
MEASURE = "psi"
BROADCAST_CELLS = 2**16  # comparisons done at once when binning numbers; more: searchsorted


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's (or the predictions') drift: the measure, its status and a reading,
    with the shares per bin it came from (``labels``, ``expected`` in training, ``actual``
    in the new rows)."""

    feature: str
    kind: str  # numeric, categorical or prediction
    value: float
    status: str
    reading: str
    labels: tuple[str, ...]
    expected: tuple[float, ...]
    actual: tuple[float, ...]
    rows: int
    unseen: float | None = None  # categorical: the new rows' share outside the vocabulary
    detail: str = ""  # the reading after the status: what moved most, and unseen categories
    measure: str = MEASURE
    threshold: float = DRIFTED

    def to_dict(self, *, bins: bool = False) -> dict[str, Any]:
        """As JSON; the shares per bin only with ``bins``."""
        document = asdict(self)
        if not bins:
            for key in ("labels", "expected", "actual"):
                del document[key]
        return document


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """The population stability index of shares ``actual`` against ``expected``."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def status_of(value: float) -> str:
    """fine, watch or drifted, by the usual PSI thresholds."""
    if value > DRIFTED:
        return DRIFT
    return WATCHING if value >= WATCH else FINE


class DriftBins:
    """Counts prepared rows and answers into the reference's bins, as one flat array.

    Example:
        >>> bins = DriftBins(reference, preprocessor)  # doctest: +SKIP
        >>> counts = bins.count(features.numeric, features.categorical, answers)  # doctest: +SKIP
        >>> bins.drifts(counts)[0].reading  # doctest: +SKIP
        'x1: PSI 0.41, drifted: 38% of rows above the training maximum 3.2'
    """

    def __init__(self, reference: Reference, preprocessor: TabularPreprocessor) -> None:
        self.reference = reference
        positions = {name: j for j, name in enumerate(preprocessor.numeric_names)}
        codes = {name: j for j, name in enumerate(preprocessor.categorical_names)}
        self._slices: list[slice] = []
        offset = 0
        # numeric: one row of bin starts per feature, padded with +inf, compared at once
        starts = [ref.boundaries() for ref in reference.numeric]
        self._columns = np.asarray([positions[r.name] for r in reference.numeric], dtype=np.intp)
        self._starts = np.full((len(starts), max(map(len, starts), default=0)), np.inf)
        self._missing = np.asarray([len(b) + 1 for b in starts], dtype=np.int64)
        offsets = []
        for j, boundaries in enumerate(starts):
            self._starts[j, : len(boundaries)] = boundaries
            offsets.append(offset)
            self._slices.append(slice(offset, offset + len(boundaries) + 2))  # and missing
            offset += len(boundaries) + 2
        self._offsets = np.asarray(offsets, dtype=np.int64)
        # categorical: one lookup from (code + the feature's start) to the bin
        lookups, code_starts, start = [], [], 0
        for cat in reference.categorical:
            vocabulary = preprocessor.vocabularies[cat.name]
            lookups.append(_category_lookup(cat, vocabulary) + offset)
            code_starts.append(start)
            start += len(vocabulary) + 1
            self._slices.append(slice(offset, offset + len(cat.categories) + 2))
            offset += len(cat.categories) + 2
        self._code_columns = np.asarray(
            [codes[cat.name] for cat in reference.categorical], dtype=np.intp
        )
        self._code_starts = np.asarray(code_starts, dtype=np.int64)
        self._lookup = np.concatenate(lookups) if lookups else np.zeros(0, dtype=np.int64)
        self._prediction: tuple[PredictionReference, np.ndarray, int] | None = None
        if reference.prediction is not None:
            prediction = reference.prediction
            self._prediction = (prediction, prediction.boundaries(), offset)
            self._slices.append(slice(offset, offset + len(prediction.shares)))
            offset += len(prediction.shares)
        self.size = offset

    def count(
        self, numeric: np.ndarray, codes: np.ndarray, answers: np.ndarray | None = None
    ) -> np.ndarray:
        """How many of the rows fall in each bin (prepared ``numeric`` values and category
        ``codes``, and the model's ``answers`` for them, when there are)."""
        n_rows = len(numeric)
        parts = []
        if len(self._columns):
            parts.append(self._numeric_bins(numeric[:, self._columns]).ravel())
        if len(self._code_columns):
            parts.append(self._lookup[codes[:, self._code_columns] + self._code_starts].ravel())
        if self._prediction is not None and answers is not None:
            prediction, boundaries, offset = self._prediction
            parts.append(_answer_bins(prediction, boundaries, np.asarray(answers), n_rows) + offset)
        if not parts:
            return np.zeros(self.size, dtype=np.int64)
        return np.bincount(np.concatenate(parts), minlength=self.size)

    def _numeric_bins(self, values: np.ndarray) -> np.ndarray:
        """Each value's bin (``[rows, features]``): how many bin starts it reaches, or the
        missing bin."""
        if values.size * self._starts.shape[1] <= BROADCAST_CELLS:
            bins = (values[:, :, None] >= self._starts[None, :, :]).sum(axis=2)
        else:  # a large batch: one search per feature instead of a large temporary
            bins = np.column_stack(
                [
                    np.searchsorted(starts[np.isfinite(starts)], values[:, j], side="right")
                    for j, starts in enumerate(self._starts)
                ]
            )
        return np.where(np.isnan(values), self._missing, bins) + self._offsets

    def count_rows(
        self, features: PreparedFeatures, answers: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`count` for prepared rows."""
        return self.count(features.numeric, features.categorical, answers)

    def drifts(self, counts: np.ndarray) -> list[FeatureDrift]:
        """Each feature's drift (and the predictions', when counted), worst first."""
        found: list[FeatureDrift] = []
        refs: list[NumericReference | CategoricalReference | PredictionReference] = [
            *self.reference.numeric,
            *self.reference.categorical,
        ]
        if self.reference.prediction is not None:
            refs.append(self.reference.prediction)
        for ref, where in zip(refs, self._slices, strict=True):
            part = np.asarray(counts[where], dtype=np.float64)
            total = float(part.sum())
            if total <= 0:
                continue  # the predictions were not counted
            found.append(_drift(ref, part / total, int(total)))
        return sorted(found, key=lambda d: (-d.value, d.feature))


def measure_drift(
    reference: Reference,
    preprocessor: TabularPreprocessor,
    rows: pd.DataFrame | PreparedFeatures,
    answers: np.ndarray | None = None,
) -> list[FeatureDrift]:
    """The drift of new ``rows`` (a table with the model's feature columns, or rows already
    prepared) and of the model's ``answers`` for them, against ``reference``; worst first.

    Example:
        >>> answers = model.predict_answers(new_rows)  # doctest: +SKIP
        >>> drifts = measure_drift(ref, model.preprocessor_, new_rows, answers)  # doctest: +SKIP
        >>> drifts[0].status  # doctest: +SKIP
        'drifted'
    """
    features = preprocessor.transform(rows) if isinstance(rows, pd.DataFrame) else rows
    bins = DriftBins(reference, preprocessor)
    return bins.drifts(bins.count_rows(features, answers))


def worst_status(drifts: Sequence[FeatureDrift]) -> str:
    """The worst status among ``drifts`` (fine when there are none)."""
    return max((d.status for d in drifts), key=STATUS_ORDER.__getitem__, default=FINE)


# ---------------------------------------------------------------------------------- details
def _category_lookup(ref: CategoricalReference, vocabulary: Sequence[str]) -> np.ndarray:
    """Each code's bin: a kept category's own, "other" for the rest of the vocabulary, and
    "unseen" for code 0 (outside the vocabulary)."""
    other, unseen = len(ref.categories), len(ref.categories) + 1
    lookup = np.full(len(vocabulary) + 1, other, dtype=np.int64)
    lookup[0] = unseen
    where = {text: code + 1 for code, text in enumerate(vocabulary)}
    for i, text in enumerate(ref.categories):
        lookup[where[text]] = i
    return lookup


def _answer_bins(
    prediction: PredictionReference, boundaries: np.ndarray, answers: np.ndarray, n_rows: int
) -> np.ndarray:
    if len(answers) != n_rows:
        raise ValueError(f"{len(answers)} answers for {n_rows} rows")
    if prediction.kind == CLASSES:
        return np.argmax(answers.reshape(n_rows, -1), axis=1)
    values = answers.reshape(n_rows, -1)[:, 0]
    bins = np.searchsorted(boundaries, values, side="right")
    return np.minimum(bins, len(prediction.shares) - 1)  # NaN, never expected: the last bin


def _drift(
    ref: NumericReference | CategoricalReference | PredictionReference,
    actual: np.ndarray,
    rows: int,
) -> FeatureDrift:
    if isinstance(ref, NumericReference):
        kind, name = NUMERIC, ref.name
        labels = (*_value_labels(ref.edges), "missing")
        expected = np.asarray([*ref.shares, ref.missing])
    elif isinstance(ref, CategoricalReference):
        kind, name = CATEGORICAL, ref.name
        shown = tuple("missing" if c == MISSING_CATEGORY else c for c in ref.categories)
        labels = (*shown, "other categories", "unseen categories")
        expected = np.asarray([*ref.shares, ref.other, ref.unseen])
    else:
        kind, name = PREDICTION, PREDICTION
        labels = ref.classes if ref.kind == CLASSES else _value_labels(ref.edges)
        expected = np.asarray(ref.shares)
    value = psi(expected, actual)
    status = status_of(value)
    details = [] if status == FINE else [_detail(ref, labels, expected, actual)]
    unseen = float(actual[-1]) if kind == CATEGORICAL else None
    if unseen is not None and unseen >= 0.01 and "unseen" not in "".join(details):
        details.append(f"{_percent(unseen)} of rows have categories unseen in training")
    detail = "; ".join(details)
    reading = f"{name}: PSI {value:.2f}, {status}" + (f": {detail}" if detail else "")
    return FeatureDrift(
        name,
        kind,
        round(value, 6),
        status,
        reading,
        tuple(labels),
        tuple(float(e) for e in expected),
        tuple(float(a) for a in actual),
        rows,
        unseen,
        detail,
    )


def _detail(
    ref: NumericReference | CategoricalReference | PredictionReference,
    labels: Sequence[str],
    expected: np.ndarray,
    actual: np.ndarray,
) -> str:
    """The bin that moved most, in words."""
    e, a = np.maximum(expected, EPSILON), np.maximum(actual, EPSILON)
    worst = int(np.argmax((a - e) * np.log(a / e)))
    new, old = _percent(float(actual[worst])), _percent(float(expected[worst]))
    rows = "predictions" if isinstance(ref, PredictionReference) else "rows"
    if isinstance(ref, CategoricalReference):
        if worst == len(labels) - 1:
            return f"{new} of rows have categories unseen in training (against {old})"
        if worst == len(labels) - 2:
            return f"{new} of rows in less frequent categories, against {old} in training"
        return f"'{labels[worst]}' in {new} of rows, against {old} in training"
    if isinstance(ref, PredictionReference) and ref.kind == CLASSES:
        return (
            f"'{labels[worst]}' predicted for {new} of rows, against {old} on the {ref.split} rows"
        )
    edges = ref.edges
    n_values = len(_value_labels(edges))
    if edges and worst == 0:
        return f"{new} of {rows} below the training minimum {_number(edges[0])}"
    if edges and worst == n_values - 1:
        return f"{new} of {rows} above the training maximum {_number(edges[-1])}"
    if worst == n_values:
        return f"{new} missing, against {old} in training"
    return f"{new} of {rows} in {labels[worst]}, against {old} in training"


def _value_labels(edges: Sequence[float]) -> tuple[str, ...]:
    if not edges:
        return ("present",)
    shown = [_number(e) for e in edges]
    below, above = f"below {shown[0]}", f"above {shown[-1]}"
    if len(edges) == 1:
        return (below, f"= {shown[0]}", above)
    inner = [f"[{lo}, {hi})" for lo, hi in pairwise(shown[:-1])]
    return (below, *inner, f"[{shown[-2]}, {shown[-1]}]", above)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share:.1%}"
