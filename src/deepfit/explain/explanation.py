"""``explain``: permutation importance, per-prediction attributions and partial dependence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.preprocess import check_columns
from deepfit.errors import ConfigError, DataError
from deepfit.explain.attributions import integrated_gradients
from deepfit.explain.columns import feature_roles, sample_rows
from deepfit.explain.dependence import partial_dependence
from deepfit.explain.importance import permutation_importances
from deepfit.explain.plots import (
    attributions_figure,
    dependence_figure,
    importance_figure,
    png_bytes,
)
from deepfit.files import atomic_writer, check_output_folder

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator

# Predictions permutation importance may make (columns x repeats x rows): about 30 s for
# auto's TabM over 45 columns on two cores; past it the rows are sampled, never below
# MIN_SHUFFLED_ROWS (the spread over the repeats is shown beside each importance).
SHUFFLED_ROWS = 250_000
MIN_SHUFFLED_ROWS = 1_000


@dataclass
class Explanation:
    """What drives a model's predictions, globally and per row.

    Attributes:
        importance: one row per raw feature column, most important first: ``feature``,
            ``role``, ``importance_mean`` and ``importance_std`` (increase in the task's error,
            RMSE in target units or log-loss, when the column is shuffled) and
            ``mean_abs_attribution`` (mean |IG| over the explained rows).
        attributions: integrated-gradients attributions, one row per explained row and one
            column per raw feature; the index holds the rows' positions in the data. A
            regression's are in target units, a classifier's in probability of the class
            predicted for the row.
        predictions: the explained quantity for each row (prediction, or probability of the
            predicted class).
        baseline_prediction: the same for the baseline row (training medians, nothing
            missing, unknown categories); each row's attributions add up to its prediction
            minus this (one value per row for a classifier).
        partial_dependence: ``feature``, ``role``, ``value``, ``average_prediction`` for the
            top features.
        rows: the explained rows' raw feature values (same index as ``attributions``).
        target: the target's name; metric and score: the task's primary metric (``rmse``,
            ``log_loss``) and its value on all the labelled rows given.
    """

    importance: pd.DataFrame
    attributions: pd.DataFrame
    predictions: np.ndarray
    baseline_prediction: float | np.ndarray
    partial_dependence: pd.DataFrame
    rows: pd.DataFrame
    target: str
    metric: str
    score: float
    labelled_rows: int
    importance_rows: int = 0  # the rows shuffled for permutation importance (0: all of them)

    def save(self, folder: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Write CSVs and PNG charts into ``folder``, each file atomically; return the paths.

        ``folder`` must be new or empty unless ``overwrite`` (then files there are replaced).
        Files: ``importance.csv``, ``attributions.csv``, ``partial_dependence.csv``,
        ``importance.png``, ``attributions.png`` and ``pdp_<feature>.png`` per top feature.

        Example:
            >>> explain(model, X, y).save("explain")  # doctest: +SKIP
        """
        directory = Path(folder)
        check_folder(directory, overwrite=overwrite)
        roles = dict(zip(self.importance["feature"], self.importance["role"], strict=True))
        attributions = self.attributions.copy()
        attributions.insert(0, "row", attributions.index)
        attributions["prediction"] = self.predictions
        attributions["baseline_prediction"] = self.baseline_prediction
        written: list[Path] = []

        def write(name: str, content: str | bytes) -> None:
            path = directory / name
            mode = "wb" if isinstance(content, bytes) else "w"
            with atomic_writer(path, overwrite=overwrite, mode=mode) as handle:
                handle.write(content)
            written.append(path)

        write("importance.csv", self.importance.to_csv(index=False))
        write("attributions.csv", attributions.to_csv(index=False))
        write("partial_dependence.csv", self.partial_dependence.to_csv(index=False))
        write("importance.png", png_bytes(importance_figure(self.importance, target=self.target)))
        write(
            "attributions.png",
            png_bytes(attributions_figure(self.attributions, self.rows, roles, target=self.target)),
        )
        for feature, name in plot_names(self.partial_dependence["feature"].unique()).items():
            curve = self.partial_dependence[self.partial_dependence["feature"] == feature]
            figure = dependence_figure(
                curve, feature=feature, role=roles[feature], target=self.target
            )
            write(name, png_bytes(figure))
        return written


def explain(
    model: Estimator,
    X: Any,
    y: Any,
    *,
    n_repeats: int = 5,
    top: int = 3,
    rows: int = 200,
    seed: int = 0,
) -> Explanation:
    """Explain a fitted model on labelled data ``X, y``.

    * permutation importance (scikit-learn) of each raw column on the rows of ``X``, or on
      a sample drawn with ``seed`` when columns x repeats x rows would pass
      :data:`SHUFFLED_ROWS` predictions;
    * integrated-gradients attributions (Captum) of each prediction, on at most ``rows`` rows
      drawn with ``seed``;
    * partial dependence of the ``top`` most important columns, averaged over those rows.

    Example:
        >>> from deepfit.explain import explain
        >>> result = explain(model, X, y, top=2)  # doctest: +SKIP
        >>> result.importance[["feature", "importance_mean"]].head(2)  # doctest: +SKIP
        >>> result.save("explain")  # doctest: +SKIP
    """
    model.check_fitted()
    for name, value, least in (("n_repeats", n_repeats, 1), ("top", top, 0), ("rows", rows, 1)):
        if not isinstance(value, int | np.integer) or value < least:
            raise ConfigError(f"{name} must be a whole number >= {least}, however: {value!r}")
    frame = read_table(X)
    task = model.task_
    target = task.check_target(y, getattr(y, "name", None) or model.target_name_)
    if len(target) != len(frame):
        raise DataError(f"X has {len(frame)} rows but y has {len(target)} values; they must match")
    if len(frame) == 0:
        raise DataError("the data has 0 rows; explaining a model needs labelled rows")
    roles = feature_roles(model)
    check_columns(frame, list(roles))
    features = frame[list(roles)]

    shuffled = sample_rows(len(features), importance_rows(len(roles), n_repeats), seed)
    importance = permutation_importances(
        model, features.iloc[shuffled], target[shuffled], n_repeats=n_repeats, seed=seed
    )
    positions = sample_rows(len(features), rows, seed)
    explained = features.iloc[positions].set_axis(pd.Index(positions, name="row"), axis=0)
    result = integrated_gradients(model, explained)
    mean_abs = result.values.abs().mean()
    importance["mean_abs_attribution"] = importance["feature"].map(mean_abs).astype("float64")
    top_features = importance["feature"].head(top).tolist()
    dependence = partial_dependence(model, explained, top_features)
    return Explanation(
        importance=importance,
        attributions=result.values,
        predictions=result.predictions,
        baseline_prediction=result.baseline_prediction,
        partial_dependence=dependence,
        rows=explained,
        target=model.target_name_,
        metric=task.primary_metric,
        score=task.metrics(target, model.predict_answers(features))[task.primary_metric],
        labelled_rows=len(features),
        importance_rows=len(shuffled) if len(shuffled) < len(features) else 0,
    )


def importance_rows(columns: int, repeats: int) -> int:
    """How many rows permutation importance shuffles: as many as :data:`SHUFFLED_ROWS`
    predictions allow over every column and repeat, and at least :data:`MIN_SHUFFLED_ROWS`."""
    return max(MIN_SHUFFLED_ROWS, SHUFFLED_ROWS // max(1, columns * repeats))


def check_folder(folder: Path, *, overwrite: bool) -> None:
    """Refuse a path that is a file, or a non-empty folder unless ``overwrite``."""
    check_output_folder(folder, overwrite=overwrite, what="the explanation")


def plot_names(features: Any) -> dict[str, str]:
    """A safe, distinct file name ``pdp_<feature>.png`` for each feature."""
    names: dict[str, str] = {}
    for feature in features:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(feature)).strip("._") or "feature"
        name, count = f"pdp_{stem}.png", 1
        while name in names.values():
            count += 1
            name = f"pdp_{stem}_{count}.png"
        names[str(feature)] = name
    return names
