"""Reference models on the same split, so a user sees whether the network earns its keep.

Each baseline sees what the network sees: the numeric features after the same imputation,
robust scaling and missing indicators (computed by the network's own input layer), and the
same category codes (one-hot for ridge, native categories for LightGBM, codes for the tree).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deepfit.data.preprocess import PreparedFeatures
from deepfit.models.network import TabularNetwork

BASELINES = ("mean", "ridge", "tree", "lightgbm")
TREE_LEAF_SIZES = (1, 5, 20, 50)
LIGHTGBM_THREADED_ROWS = 50_000


@dataclass
class BaselineData:
    """A design matrix and target for each split."""

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    n_numeric: int
    n_categorical: int


def design_matrix(network: TabularNetwork, features: PreparedFeatures) -> np.ndarray:
    """Prepared numeric columns (as the network sees them) followed by raw category codes."""
    with torch.no_grad():
        numeric = network.numeric_input(torch.tensor(features.numeric))
    return np.hstack(
        [numeric.cpu().numpy().astype(np.float64), features.categorical.astype(np.float64)]
    )


def fit_baselines(
    data: BaselineData, *, seed: int = 0, names: tuple[str, ...] = BASELINES
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Fit each named baseline on the training split; return a predict function for each."""
    fitters = {"mean": _mean, "ridge": _ridge, "tree": _tree, "lightgbm": _lightgbm}
    return {name: fitters[name](data, seed) for name in names}


def _mean(data: BaselineData, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    value = float(np.mean(data.train[1]))
    return lambda X: np.full(len(X), value)


def _ridge(data: BaselineData, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    categorical = list(range(data.n_numeric, data.n_numeric + data.n_categorical))
    encode = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), categorical)],
        remainder="passthrough",
    )
    model = make_pipeline(encode, RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(*data.train)
    return lambda X: np.asarray(model.predict(X), dtype=np.float64)


def _tree(data: BaselineData, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A decision tree whose minimum leaf size is picked on the validation split."""
    from sklearn.tree import DecisionTreeRegressor

    best, best_error = None, np.inf
    for leaf in TREE_LEAF_SIZES:
        tree = DecisionTreeRegressor(min_samples_leaf=leaf, random_state=seed).fit(*data.train)
        X_val, y_val = data.validation
        error = float(np.mean((tree.predict(X_val) - y_val) ** 2)) if len(y_val) else 0.0
        if error < best_error:
            best, best_error = tree, error
    assert best is not None
    return lambda X: np.asarray(best.predict(X), dtype=np.float64)


def _lightgbm(data: BaselineData, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """LightGBM with its defaults, stopped at the best iteration on the validation split."""
    import lightgbm

    categorical = list(range(data.n_numeric, data.n_numeric + data.n_categorical))
    # OpenMP threads only pay off on larger data; on small data they mostly wait on each other.
    threads = 1 if len(data.train[1]) < LIGHTGBM_THREADED_ROWS else None
    model = lightgbm.LGBMRegressor(n_estimators=1000, random_state=seed, verbose=-1, n_jobs=threads)
    fit_lightgbm(model, data.train, data.validation, categorical)
    return lambda X: np.asarray(model.predict(X), dtype=np.float64)


def fit_lightgbm(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    categorical: list[int],
) -> None:
    """Fit a LightGBM model, stopped after 50 rounds without progress on ``validation``; with
    no validation rows, 100 rounds."""
    import lightgbm

    X_val, y_val = validation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(y_val):
            model.fit(
                *train,
                eval_X=(X_val,),
                eval_y=(y_val,),
                categorical_feature=categorical or "auto",
                callbacks=[lightgbm.early_stopping(50, verbose=False)],
            )
        else:
            model.set_params(n_estimators=100)
            model.fit(*train, categorical_feature=categorical or "auto")
