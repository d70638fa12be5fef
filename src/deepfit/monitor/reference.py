"""A compact picture of the training data, kept in the model file to notice drift later.

The reference is taken in the representation the server already has: the preprocessor's
prepared rows (:class:`~deepfit.data.preprocess.PreparedFeatures`), whose numeric columns are
still in the user's units (scaling happens inside the network) and whose categories are codes
of the model's vocabulary. So ``deepfit monitor`` (a DataFrame, prepared) and the server (an
:class:`~deepfit.serve.features.EncodedBatch`) count rows into the same bins.

* **numeric and boolean features**: bin edges from the training minimum, deciles and maximum
  (deduplicated, so a yes/no column has two edges), the training share of each bin, of the
  rows below the minimum and above the maximum (0 in training), and the missing share;
* **categorical features**: the shares of the (at most 50) most frequent categories of the
  vocabulary, of the other categories of the vocabulary, and of values outside it (rare in
  training, or never seen); missing values are the ``<missing>`` category when the training
  data had enough of them, else they fall outside the vocabulary as the model does;
* **predictions** on the validation rows (with the training rows when there are fewer than
  2,000 of them, whose bins would be noisy): bins of the numbers (regression) or the share of
  each predicted class (classification).

Dates are not kept: every batch of new rows covers a later span by construction, so a date's
drift would always read "drifted" and tell nothing.

Example:
    >>> import pandas as pd
    >>> from deepfit.data.schema import infer_schema
    >>> from deepfit.data.preprocess import TabularPreprocessor
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "a"]})
    >>> prep = TabularPreprocessor(infer_schema(frame), min_category_count=1).fit(frame)
    >>> ref = build_reference(prep, prep.transform(frame))
    >>> ref.categorical[0].categories, ref.categorical[0].shares
    (('a', 'b'), (0.75, 0.25))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor
from deepfit.errors import ArtifactError

VERSION = 1
QUANTILES = np.linspace(0.1, 0.9, 9)  # deciles; with the minimum and maximum: 10 inner bins
TOP_CATEGORIES = 50  # categories kept by name when building; the rest are "other"
MAX_EDGES = 100  # what a file may hold, per feature (a hostile file is refused)
MAX_CATEGORIES = 1_000
MAX_SAMPLE = 250_000  # rows the reference is computed from, evenly spaced
SHARE_TOLERANCE = 1e-3  # shares must add up to 1 within this
VALUES, CLASSES = "values", "classes"
SPLITS = ("validation", "training", "training and validation")  # the predictions' rows


@dataclass(frozen=True)
class NumericReference:
    """One numeric (or boolean) input: bins by ``edges`` (training minimum ... maximum).

    The value bins are: below the minimum, one per pair of edges (the last one includes the
    maximum), above the maximum; ``shares`` holds one per value bin, ``missing`` the rest.
    """

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    missing: float

    def boundaries(self) -> np.ndarray:
        """Where the value bins start, for ``np.searchsorted(..., side="right")``."""
        return value_boundaries(self.edges)


@dataclass(frozen=True)
class CategoricalReference:
    """One categorical input: the shares of its most frequent categories, of the rest of the
    vocabulary (``other``) and of values outside the vocabulary (``unseen``)."""

    name: str
    categories: tuple[str, ...]
    shares: tuple[float, ...]
    other: float
    unseen: float


@dataclass(frozen=True)
class PredictionReference:
    """The model's answers on ``split``: bins of numbers (``kind="values"``, ``edges`` as
    for a numeric input) or the share of each predicted class (``kind="classes"``)."""

    kind: str
    split: str
    rows: int
    shares: tuple[float, ...]
    edges: tuple[float, ...] = ()
    classes: tuple[str, ...] = ()

    def boundaries(self) -> np.ndarray:
        return value_boundaries(self.edges)


@dataclass(frozen=True)
class Reference:
    """The training data's reference: what :mod:`deepfit.monitor.drift` compares against."""

    rows: int
    numeric: tuple[NumericReference, ...]
    categorical: tuple[CategoricalReference, ...]
    prediction: PredictionReference | None = None

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON for the model's metadata."""
        document: dict[str, Any] = {
            "version": VERSION,
            "rows": self.rows,
            "numeric": [
                {
                    "name": n.name,
                    "edges": list(n.edges),
                    "shares": list(n.shares),
                    "missing": n.missing,
                }
                for n in self.numeric
            ],
            "categorical": [
                {
                    "name": c.name,
                    "categories": list(c.categories),
                    "shares": list(c.shares),
                    "other": c.other,
                    "unseen": c.unseen,
                }
                for c in self.categorical
            ],
            "prediction": None,
        }
        p = self.prediction
        if p is not None:
            document["prediction"] = {
                "kind": p.kind,
                "split": p.split,
                "rows": p.rows,
                "shares": list(p.shares),
                "edges": list(p.edges),
                "classes": list(p.classes),
            }
        return document

    @classmethod
    def from_dict(
        cls,
        document: Any,
        *,
        numeric_names: Sequence[str],
        vocabularies: dict[str, list[str]],
        outputs: int,
    ) -> Reference:
        """A reference read from a (possibly hostile) file, checked against the model it
        came with: its features (``numeric_names``, the categorical ``vocabularies``) and its
        number of ``outputs``. Raises :class:`ArtifactError` naming what is wrong."""
        try:
            return _parse(document, list(numeric_names), vocabularies, outputs)
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"reference: {error}") from error


# --------------------------------------------------------------------------------- building
def build_reference(
    preprocessor: TabularPreprocessor,
    features: PreparedFeatures,
    answers: np.ndarray | None = None,
    *,
    classes: Sequence[str] | None = None,
    split: str = "validation",
) -> Reference:
    """The reference of prepared training rows ``features`` and the model's ``answers`` on
    ``split`` (numbers, or class probabilities with ``classes`` naming the columns).

    At most :data:`MAX_SAMPLE` rows (evenly spaced) are used; it costs a few ms per feature.
    """
    numeric = _sample(np.asarray(features.numeric))
    codes = _sample(np.asarray(features.categorical))
    names = preprocessor.numeric_names
    numeric_refs = tuple(
        numeric_reference(name, numeric[:, j])
        for j, name in enumerate(names)
        if not _is_date_part(preprocessor, name)
    )
    categorical_refs = tuple(
        categorical_reference(name, codes[:, j], preprocessor.vocabularies[name])
        for j, name in enumerate(preprocessor.categorical_names)
    )
    prediction = None
    if answers is not None:
        prediction = prediction_reference(answers, classes=classes, split=split)
    return Reference(len(numeric), numeric_refs, categorical_refs, prediction)


def numeric_reference(name: str, values: np.ndarray) -> NumericReference:
    """Bins of one numeric column from its minimum, deciles and maximum, and its shares."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    n_rows = max(len(values), 1)
    if len(present) == 0:
        return NumericReference(name, (), (0.0,), len(values) / n_rows if len(values) else 1.0)
    low, high = float(present.min()), float(present.max())
    inner = np.quantile(present, QUANTILES)
    edges = np.unique(np.concatenate([[low], inner[(inner > low) & (inner < high)], [high]]))
    boundaries = value_boundaries(tuple(edges.tolist()))
    counts = np.bincount(
        np.searchsorted(boundaries, present, side="right"), minlength=len(boundaries) + 1
    )
    shares = tuple(float(c) / n_rows for c in counts)
    return NumericReference(
        name, tuple(float(e) for e in edges), shares, (len(values) - len(present)) / n_rows
    )


def categorical_reference(
    name: str, codes: np.ndarray, vocabulary: Sequence[str]
) -> CategoricalReference:
    """The shares of one categorical column's most frequent categories (by its codes: 0 is
    outside the vocabulary), of the rest of the vocabulary and of values outside it."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(vocabulary) + 1)
    n_rows = max(int(counts.sum()), 1)
    known = counts[1:]
    order = np.argsort(-known, kind="stable")[:TOP_CATEGORIES]
    order = order[known[order] > 0]
    top = known[order]
    return CategoricalReference(
        name,
        tuple(str(vocabulary[i]) for i in order),
        tuple(float(c) / n_rows for c in top),
        float(known.sum() - top.sum()) / n_rows,
        float(counts[0]) / n_rows if counts.sum() else 1.0,
    )


def prediction_reference(
    answers: np.ndarray, *, classes: Sequence[str] | None = None, split: str = "validation"
) -> PredictionReference:
    """Bins of numeric answers, or the share of each predicted class of probabilities."""
    answers = _sample(np.asarray(answers))
    if classes is not None:
        predicted = np.argmax(answers.reshape(len(answers), -1), axis=1)
        counts = np.bincount(predicted, minlength=len(classes))
        n_rows = max(len(answers), 1)
        shares = tuple(float(c) / n_rows for c in counts)
        return PredictionReference(
            CLASSES, split, len(answers), shares, classes=tuple(map(str, classes))
        )
    values = answers.reshape(len(answers), -1)[:, 0] if answers.ndim > 1 else answers
    numeric = numeric_reference("prediction", values)
    shares = (*numeric.shares[:-1], numeric.shares[-1] + numeric.missing)
    return PredictionReference(VALUES, split, len(answers), shares, edges=numeric.edges)


def value_boundaries(edges: Sequence[float]) -> np.ndarray:
    """Bin starts for edges ``min ... max``: below the minimum is bin 0; the maximum belongs
    to the last inner bin; above it is the last bin. One edge (a constant) gives three bins:
    below, equal, above."""
    if not edges:
        return np.zeros(0)
    array = np.asarray(edges, dtype=np.float64)
    if len(array) == 1:
        array = np.concatenate([array, array])
    array[-1] = np.nextafter(array[-1], np.inf)
    return array


def _sample(array: np.ndarray) -> np.ndarray:
    if len(array) <= MAX_SAMPLE:
        return array
    return array[np.linspace(0, len(array) - 1, MAX_SAMPLE).astype(np.int64)]


def _is_date_part(preprocessor: TabularPreprocessor, name: str) -> bool:
    return any(name.startswith(f"{date}.") for date in preprocessor.date_parts)


# ---------------------------------------------------------------------------------- reading
def _parse(
    document: Any, numeric_names: list[str], vocabularies: dict[str, list[str]], outputs: int
) -> Reference:
    if not isinstance(document, dict):
        raise TypeError("not an object")
    if document.get("version") != VERSION:
        raise ValueError(f"version {document.get('version')!r} is not {VERSION}")
    rows = _count(document["rows"], "rows")
    numeric = _items(document["numeric"], "numeric", len(numeric_names))
    categorical = _items(document["categorical"], "categorical", len(vocabularies))
    numeric_refs = tuple(_numeric(item, set(numeric_names)) for item in numeric)
    categorical_refs = tuple(_categorical(item, vocabularies) for item in categorical)
    names = [r.name for r in numeric_refs] + [r.name for r in categorical_refs]
    if len(set(names)) != len(names):
        raise ValueError("a feature is named twice")
    prediction = document.get("prediction")
    return Reference(
        rows,
        numeric_refs,
        categorical_refs,
        None if prediction is None else _prediction(prediction, outputs),
    )


def _numeric(item: Any, names: set[str]) -> NumericReference:
    name = _name(item, names)
    edges = _numbers(item["edges"], f"{name} edges", MAX_EDGES)
    if any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"{name}: the edges are not strictly increasing")
    shares = _shares(item["shares"], f"{name} shares", len(value_boundaries(edges)) + 1)
    missing = _share(item["missing"], f"{name} missing")
    _adds_up((*shares, missing), name)
    return NumericReference(name, edges, shares, missing)


def _categorical(item: Any, vocabularies: dict[str, list[str]]) -> CategoricalReference:
    name = _name(item, set(vocabularies))
    categories = item["categories"]
    if not isinstance(categories, list) or len(categories) > MAX_CATEGORIES:
        raise ValueError(f"{name}: categories must be a list of at most {MAX_CATEGORIES}")
    if not all(isinstance(c, str) for c in categories) or len(set(categories)) != len(categories):
        raise ValueError(f"{name}: categories must be distinct strings")
    if not set(categories) <= set(vocabularies[name]):
        raise ValueError(f"{name}: categories outside the model's vocabulary")
    shares = _shares(item["shares"], f"{name} shares", len(categories))
    other = _share(item["other"], f"{name} other")
    unseen = _share(item["unseen"], f"{name} unseen")
    _adds_up((*shares, other, unseen), name)
    return CategoricalReference(name, tuple(categories), shares, other, unseen)


def _prediction(item: Any, outputs: int) -> PredictionReference:
    if not isinstance(item, dict):
        raise TypeError("prediction is not an object")
    kind, split = item["kind"], item["split"]
    if kind not in (VALUES, CLASSES) or split not in SPLITS:
        raise ValueError("prediction kind or split is unknown")
    rows = _count(item["rows"], "prediction rows")
    if kind == CLASSES:
        classes = item["classes"]
        if not isinstance(classes, list) or len(classes) != outputs:
            raise ValueError(f"prediction classes must be a list of the model's {outputs}")
        if not all(isinstance(c, str) for c in classes):
            raise ValueError("prediction classes must be strings")
        shares = _shares(item["shares"], "prediction shares", len(classes))
        _adds_up(shares, "prediction")
        return PredictionReference(kind, split, rows, shares, classes=tuple(classes))
    if outputs != 1:
        raise ValueError("bins of numeric predictions for a model with several outputs")
    edges = _numbers(item["edges"], "prediction edges", MAX_EDGES)
    if any(b <= a for a, b in pairwise(edges)):
        raise ValueError("prediction: the edges are not strictly increasing")
    shares = _shares(item["shares"], "prediction shares", len(value_boundaries(edges)) + 1)
    _adds_up(shares, "prediction")
    return PredictionReference(kind, split, rows, shares, edges=edges)


def _items(value: Any, what: str, most: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > most:
        raise ValueError(f"{what} must be a list of at most the model's {most} features")
    return value


def _name(item: Any, names: set[str]) -> str:
    if not isinstance(item, dict):
        raise TypeError("a feature is not an object")
    name = item["name"]
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"feature {str(name)[:80]!r} is not one of the model's")
    return name


def _count(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0")
    return value


def _numbers(value: Any, what: str, most: int) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) > most:
        raise ValueError(f"{what} must be a list of at most {most} numbers")
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise TypeError(f"{what} must be numbers")
        number = float(item)
        if not math.isfinite(number):
            raise ValueError(f"{what} must be finite")
        numbers.append(number)
    return tuple(numbers)


def _shares(value: Any, what: str, length: int) -> tuple[float, ...]:
    shares = _numbers(value, what, length)
    if len(shares) != length:
        raise ValueError(f"{what} must hold {length} numbers")
    if any(not 0.0 <= share <= 1.0 for share in shares):
        raise ValueError(f"{what} must be between 0 and 1")
    return shares


def _share(value: Any, what: str) -> float:
    return _shares([value], what, 1)[0]


def _adds_up(shares: tuple[float, ...], name: str) -> None:
    if abs(sum(shares) - 1.0) > SHARE_TOLERANCE:
        raise ValueError(f"{name}: the shares add up to {sum(shares):.4g}, not 1")


def model_reference(
    document: Any, preprocessor: TabularPreprocessor, outputs: int
) -> Reference | None:
    """The :class:`Reference` a model file's metadata holds (``SavedModel.reference``, an
    estimator's ``reference_``), checked against its ``preprocessor`` and number of
    ``outputs``; None for a model saved before deepfit kept one."""
    if document is None:
        return None
    return Reference.from_dict(
        document,
        numeric_names=preprocessor.numeric_names,
        vocabularies=preprocessor.vocabularies,
        outputs=outputs,
    )
