"""Classification: a label per row, softmax outputs, cross-entropy, calibrated probabilities.

Labels may be strings, integers, booleans or whole floats; ``classes`` keeps them sorted and
in their own type, and predictions come back as those labels. The network has one output per
class (binary included: two logits, so one softmax path serves every class count).

Example:
    >>> task = ClassificationTask()
    >>> task.fit(task.check_target(["no", "yes", "no", "yes"], "churned"))
    >>> task.classes.tolist(), task.encode(np.array(["yes", "no"])).tolist()
    (['no', 'yes'], [1, 0])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.utils.multiclass import type_of_target
from torch import nn

from deepfit.data.target import as_target_series
from deepfit.errors import DataError, DeepfitWarning
from deepfit.evaluation.baselines import BaselineData
from deepfit.evaluation.classification_baselines import (
    CLASSIFICATION_BASELINES,
    fit_classification_baselines,
)
from deepfit.evaluation.classification_metrics import CLASSIFICATION_METRICS, classification_metrics
from deepfit.evaluation.prediction_sets import SetCalibration
from deepfit.evaluation.temperature import MIN_TEMPERATURE, fit_temperature
from deepfit.models.heads import Probabilities
from deepfit.tasks.base import Predictor, Task

LABEL_TYPES = {"str": str, "int": int, "bool": bool, "float": float}


class ClassificationTask(Task):
    """Predict a label: the loss reads class codes, the head gives calibrated probabilities."""

    name: ClassVar[str] = "classification"
    shown_metrics: ClassVar[dict[str, str]] = {
        name: label for name, (label, _) in CLASSIFICATION_METRICS.items()
    }
    primary_metric: ClassVar[str] = "log_loss"
    higher_is_better: ClassVar[frozenset[str]] = frozenset(
        name for name, (_, higher) in CLASSIFICATION_METRICS.items() if higher
    )
    baseline_names: ClassVar[tuple[str, ...]] = CLASSIFICATION_BASELINES
    importance_scorer: ClassVar[str] = "neg_log_loss"
    answer_name: ClassVar[str] = "probabilities"
    member_average: ClassVar[str] = "probabilities"

    def __init__(
        self,
        classes: np.ndarray | None = None,
        *,
        counts: list[int] | None = None,
        temperature: float = 1.0,
    ) -> None:
        self.classes = np.asarray([] if classes is None else classes)
        self.counts = list(counts or [])
        self.temperature = float(temperature)

    # ------------------------------------------------------------------------- the target
    def check_target(self, y: Any, name: str = "target") -> np.ndarray:
        series = as_target_series(y, name)
        missing = np.flatnonzero(series.isna().to_numpy())
        if len(missing):
            rows = ", ".join(str(int(r) + 1) for r in missing[:5])
            raise DataError(
                f"target '{name}' is missing in {len(missing)} row(s) (first: {rows}); drop "
                "those rows or fill in the label"
            )
        values = _labels(series)
        kind = type_of_target(values)
        if kind not in ("binary", "multiclass"):
            shown = next((v for v in values if not _whole(v)), values[0])
            raise DataError(
                f"Unknown label type: target '{name}' holds {kind} values (e.g. {shown!r}), "
                "not labels; predict numbers with Regressor (--task regression)"
            )
        return values

    def check_learnable(self, y: np.ndarray) -> None:
        """Refuse a single class, or a label that only one row has (it cannot be both learned
        and checked, nor stratified)."""
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise DataError(
                f"the target has only one class ({_shown(classes[0])}); a classifier needs at "
                "least two: check the target column, or predict numbers with --task regression"
            )
        single = [label for label, count in zip(classes, counts, strict=True) if count < 2]
        if _names_or_ids(len(single), len(y)):
            raise DataError(
                f"the target has {len(classes):,} labels in {len(y):,} rows, and {len(single):,} "
                "of them appear only once, as names or ids do: no class can be learned from one "
                "row; choose another target column (or, if it holds numbers, --task regression)"
            )
        if single:
            raise DataError(
                f"class {_shown(single[0])} appears in only one row; a classifier needs at "
                "least two rows of each class: drop or relabel that row, or add examples"
            )

    def learnable_rows(self, y: np.ndarray) -> np.ndarray | None:
        """All rows but those whose label no other row has (a class needs two rows to be
        learned and checked), with a warning naming them; None when every label repeats, or
        when so many are single that the target is a name or id (:meth:`check_learnable`
        refuses it then)."""
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        once = counts[inverse] == 1
        if not once.any() or _names_or_ids(int(once.sum()), len(y)):
            return None
        single = classes[counts == 1]
        shown = ", ".join(_shown(label) for label in single[:5]) + (
            ", ..." if len(single) > 5 else ""
        )
        warnings.warn(
            f"left out {len(single):,} row{'s' if len(single) > 1 else ''} whose class appears "
            f"in no other row ({shown}): a class needs two rows to be learned and checked",
            DeepfitWarning,
            stacklevel=2,
        )
        return ~once

    def fit(self, y: np.ndarray, *, every: np.ndarray | None = None) -> None:
        """The classes are every label of ``every`` (all the rows the fit was given) and of
        ``y`` (its training rows, whose counts weigh ``class_weight="balanced"``)."""
        labels = y if every is None else np.concatenate([np.asarray(every), np.asarray(y)])
        classes = np.unique(labels)
        if len(classes) < 2:
            self.check_learnable(labels)
        present, counts = np.unique(y, return_counts=True)
        found = dict(zip(present.tolist(), counts.tolist(), strict=True))
        _warn_of_near_duplicates(classes)
        self.classes = classes
        self.counts = [int(found.get(label, 0)) for label in classes.tolist()]

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    def codes(self, y: np.ndarray) -> np.ndarray:
        """Each label's position in ``classes``; a DataError names a label never trained on."""
        values = np.asarray(y)
        try:
            positions = np.searchsorted(self.classes, values)
        except TypeError:  # labels of another type than the classes
            positions = np.zeros(len(values), dtype=np.int64)
        positions = np.clip(positions, 0, len(self.classes) - 1)
        unknown = self.classes[positions] != values
        if np.any(unknown):
            label = values[int(np.argmax(unknown))]
            raise DataError(
                f"label {_shown(label)} was not among the classes the model was trained on "
                f"({', '.join(_shown(c) for c in self.classes[:10])}); drop those rows or "
                "retrain with them"
            )
        return positions.astype(np.int64)

    def encode(self, y: np.ndarray) -> torch.Tensor:
        return torch.tensor(self.codes(y))

    def split_labels(self, y: np.ndarray) -> np.ndarray | None:
        return np.asarray(y)

    def focus(self, answers: np.ndarray) -> int | None:
        """The positive (second) class of a binary target; else the most often predicted."""
        if self.n_outputs == 2:
            return 1
        predicted = np.argmax(np.asarray(answers), axis=1)
        return int(np.bincount(predicted, minlength=self.n_outputs).argmax())

    def explained(self, answers: np.ndarray, focus: int | np.ndarray | None) -> np.ndarray:
        values = np.asarray(answers, dtype=np.float64)
        if focus is None:
            focus = np.argmax(values, axis=1)
        if isinstance(focus, np.ndarray):
            return values[np.arange(len(values)), focus]
        return values[:, focus]

    def explained_name(self, focus: int | None) -> str:
        if focus is None:
            return "probability of the predicted class"
        return f"probability of {_shown(self.classes[focus])}"

    def attribution_targets(self, answers: np.ndarray) -> np.ndarray | None:
        return np.argmax(np.asarray(answers), axis=1)

    # ------------------------------------------------------------------- model and answers
    def head(self) -> nn.Module:
        return Probabilities(temperature=self.temperature)

    def loss_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {
            "loss": "cross_entropy",
            "label_smoothing": float(settings["label_smoothing"]),
            "class_weights": self.class_weights(settings["class_weight"]),
        }

    def class_weights(self, class_weight: Any) -> tuple[float, ...]:
        """One weight per class: ``"balanced"`` is ``rows / (classes * class rows)``."""
        if class_weight is None:
            return ()
        if class_weight == "balanced":
            total = sum(self.counts)
            return tuple(total / (len(self.counts) * max(count, 1)) for count in self.counts)
        return tuple(float(class_weight.get(_plain(label), 1.0)) for label in self.classes)

    def predictions(self, answers: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(np.asarray(answers), axis=1)]

    def metrics(self, y: np.ndarray, answers: np.ndarray) -> dict[str, float]:
        return classification_metrics(self.codes(y), answers)

    def target_values(self, y: np.ndarray) -> np.ndarray:
        return self.codes(y)

    def baselines(
        self, data: BaselineData, *, seed: int, names: tuple[str, ...] | None = None
    ) -> dict[str, Predictor]:
        return fit_classification_baselines(
            data, n_classes=self.n_outputs, seed=seed, names=names or CLASSIFICATION_BASELINES
        )

    def calibrate(
        self, raw: np.ndarray, y: np.ndarray, settings: Mapping[str, Any]
    ) -> SetCalibration | None:
        """Temperature scaling on the held-out rows, then their conformal set scores.

        The temperature only softens (T >= 1) unless the network was trained with label
        smoothing, which makes it under-confident on purpose: the held-out rows also chose the
        best epoch, so they flatter it, and a sharpening fitted on them does not carry to new
        rows (measured on penguins, breast_cancer, and 1,500-row samples of hpc and wa_churn,
        3 seeds each: never sharpening gave the lowest test log-loss on all four)."""
        logits = np.asarray(raw, dtype=np.float64)
        if not np.isfinite(logits).all():
            warnings.warn(
                "some validation outputs are not finite, so the probabilities are not "
                "calibrated and the model has no prediction sets",
                DeepfitWarning,
                stacklevel=3,
            )
            return None
        codes = self.codes(y)
        smoothed = float(settings.get("label_smoothing") or 0.0) > 0
        lowest = MIN_TEMPERATURE if smoothed else 1.0
        self.temperature = fit_temperature(logits, codes, lowest=lowest)
        answers = self.head()(torch.as_tensor(logits)).numpy()
        return SetCalibration.from_probabilities(answers, codes, settings["interval_method"])

    def calibration_from_dict(self, document: Any) -> SetCalibration:
        return SetCalibration.from_dict(document)

    # ------------------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        kind = _label_type(self.classes)
        return {
            "task": self.name,
            "classes": [LABEL_TYPES[kind](_plain(label)) for label in self.classes],
            "label_type": kind,
            "counts": self.counts,
            "temperature": self.temperature,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ClassificationTask:
        kind = document["label_type"]
        if kind not in LABEL_TYPES:
            raise ValueError(f"unknown label type {kind!r}")
        labels = [LABEL_TYPES[kind](label) for label in document["classes"]]
        classes = np.asarray(labels, dtype=object if kind == "str" else None)
        counts = [int(count) for count in document["counts"]]
        if any(count < 0 for count in counts):
            raise ValueError("class counts must not be negative")
        temperature = float(document["temperature"])
        if len(classes) < 2 or len(counts) != len(classes) or not temperature > 0:
            raise ValueError("classes, counts and temperature do not fit together")
        if len(set(labels)) != len(labels) or list(np.sort(classes)) != list(classes):
            raise ValueError("the classes are not sorted and distinct")
        return cls(classes, counts=counts, temperature=temperature)


def _warn_of_near_duplicates(classes: np.ndarray) -> None:
    """Warn of text labels that differ only in spaces or letter case ('no' and 'no '): kept
    apart, as written, but most likely one class typed two ways."""
    if classes.dtype.kind != "O":
        return
    spellings: dict[str, list[str]] = {}
    for label in classes.tolist():
        spellings.setdefault(str(label).strip().casefold(), []).append(str(label))
    alike = [names for names in spellings.values() if len(names) > 1]
    if alike:
        shown = " and ".join(repr(name) for name in alike[0][:3])
        more = f" (and {len(alike) - 1} more such group(s))" if len(alike) > 1 else ""
        warnings.warn(
            f"labels {shown}{more} differ only in spaces or letter case and are kept as "
            "separate classes; clean the target column if they are one class",
            DeepfitWarning,
            stacklevel=2,
        )


def _labels(series: pd.Series) -> np.ndarray:
    """Labels as a numpy array in their own type: text as object, whole floats as floats."""
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(series):
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(series):
        return series.to_numpy(dtype=np.float64)
    values = series.to_numpy(dtype=object)
    if all(isinstance(value, str) for value in values):
        return values
    return np.asarray([str(value) for value in values], dtype=object)


def _whole(value: Any) -> bool:
    return not isinstance(value, float) or float(value).is_integer()


def _plain(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def _label_type(classes: np.ndarray) -> str:
    if classes.dtype.kind == "b":
        return "bool"
    if classes.dtype.kind in "iu":
        return "int"
    if classes.dtype.kind == "f":
        return "float"
    return "str"


def _names_or_ids(seen_once: int, rows: int) -> bool:
    """Whether so many labels appear only once that the target names rows, not classes."""
    return seen_once > rows / 4


def _shown(label: Any) -> str:
    return repr(_plain(label))
