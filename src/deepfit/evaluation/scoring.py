"""Metrics of the network and of the baselines, on every split, as the model's task scores them.

Example:
    >>> prepared = prepare_parts(model, {"test": (X_test, y_test)})  # doctest: +SKIP
    >>> evaluate_model(model, prepared)["test"]["rmse"]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from deepfit.data.preprocess import PreparedFeatures
from deepfit.evaluation.baselines import BaselineData, design_matrix

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator

# model name -> split name -> metric name -> value
MetricsBySplit = dict[str, dict[str, dict[str, float]]]
Parts = dict[str, tuple[pd.DataFrame, np.ndarray]]
PreparedParts = dict[str, tuple[PreparedFeatures, np.ndarray]]


def prepare_parts(model: Estimator, parts: Parts) -> PreparedParts:
    """Each non-empty split prepared once by the model's preprocessor, for every scorer."""
    return {
        split: (model.preprocessor_.transform(X), y) for split, (X, y) in parts.items() if len(y)
    }


def evaluate_model(model: Estimator, prepared: PreparedParts) -> dict[str, dict[str, float]]:
    """The model's metrics on each prepared split."""
    return {
        split: model.task_.metrics(y, model.answers(features))
        for split, (features, y) in prepared.items()
    }


def evaluate_baselines(
    model: Estimator,
    prepared: PreparedParts,
    *,
    seed: int = 0,
    names: tuple[str, ...] | None = None,
) -> MetricsBySplit:
    """Fit the task's baselines on the training split with the model's own preprocessing;
    score each split."""
    task = model.task_
    matrices = {
        split: (design_matrix(model.network_, features), y)
        for split, (features, y) in prepared.items()
    }
    empty = (np.zeros((0, 1)), np.zeros(0))
    X_train, y_train = matrices["train"]
    X_val, y_val = matrices.get("validation", empty)
    data = BaselineData(
        train=(X_train, task.target_values(y_train)),
        validation=(X_val, task.target_values(y_val) if len(y_val) else y_val),
        n_numeric=model.network_.numeric_input.d_out,
        n_categorical=len(model.preprocessor_.categorical_names),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictors = task.baselines(data, seed=seed, names=names)
    return {
        name: {split: task.metrics(y, predict(X)) for split, (X, y) in matrices.items()}
        for name, predict in predictors.items()
    }
