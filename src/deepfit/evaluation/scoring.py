"""Metrics of the network and of the baselines, on every split, in the target's units."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from deepfit.data.preprocess import PreparedFeatures
from deepfit.evaluation.baselines import BASELINES, BaselineData, design_matrix, fit_baselines
from deepfit.evaluation.metrics import regression_metrics

if TYPE_CHECKING:
    from deepfit.estimator import Regressor

# model name -> split name -> metric name -> value
MetricsBySplit = dict[str, dict[str, dict[str, float]]]
Parts = dict[str, tuple[pd.DataFrame, np.ndarray]]
PreparedParts = dict[str, tuple[PreparedFeatures, np.ndarray]]


def prepare_parts(model: Regressor, parts: Parts) -> PreparedParts:
    """Each non-empty split prepared once by the model's preprocessor, for every scorer."""
    return {
        split: (model.preprocessor_.transform(X), y) for split, (X, y) in parts.items() if len(y)
    }


def evaluate_model(model: Regressor, prepared: PreparedParts) -> dict[str, dict[str, float]]:
    """The model's metrics on each prepared split."""
    return {
        split: regression_metrics(y, model.predict_features(features))
        for split, (features, y) in prepared.items()
    }


def evaluate_baselines(
    model: Regressor,
    prepared: PreparedParts,
    *,
    seed: int = 0,
    names: tuple[str, ...] = BASELINES,
) -> MetricsBySplit:
    """Fit baselines on the training split with the model's own preprocessing; score each split."""
    matrices = {
        split: (design_matrix(model.network_, features), y)
        for split, (features, y) in prepared.items()
    }
    empty = (np.zeros((0, 1)), np.zeros(0))
    data = BaselineData(
        train=matrices["train"],
        validation=matrices.get("validation", empty),
        n_numeric=model.network_.numeric_input.d_out,
        n_categorical=len(model.preprocessor_.categorical_names),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictors = fit_baselines(data, seed=seed, names=names)
    return {
        name: {split: regression_metrics(y, predict(X)) for split, (X, y) in matrices.items()}
        for name, predict in predictors.items()
    }
