"""Reference classifiers on the same split, so a user sees whether the network earns its keep.

The classification counterparts of :mod:`deepfit.evaluation.baselines`, on the same
:class:`~deepfit.evaluation.baselines.BaselineData` (numeric columns as the network sees
them, then ``n_categorical`` columns of category codes), with int64 class codes
``0..n_classes-1`` as targets. Each baseline returns a function from a design matrix to
probabilities ``[rows, n_classes]`` (float64, rows summing to 1); a class that no training
row has gets probability 0, and a training split with a single class gives that class
probability 1 everywhere.

Example:
    >>> X = np.arange(8.0).reshape(-1, 1)
    >>> data = BaselineData((X, np.array([0, 0, 0, 1, 0, 1, 1, 1])), (X[:0], X[:0, 0]), 1, 0)
    >>> fit_classification_baselines(data, n_classes=3, names=("majority",))["majority"](X[:1])
    array([[0.5, 0.5, 0. ]])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from deepfit.errors import ConfigError, DataError
from deepfit.evaluation.baselines import (
    LIGHTGBM_THREADED_ROWS,
    TREE_LEAF_SIZES,
    BaselineData,
    fit_lightgbm,
)
from deepfit.evaluation.classification_metrics import as_codes, log_loss

CLASSIFICATION_BASELINES = ("majority", "logistic", "tree", "lightgbm")
# Inverse regularisation strengths tried for the logistic regression (sklearn's default is 1).
LOGISTIC_CS = (0.01, 0.1, 1.0, 10.0, 100.0)
LOGISTIC_MAX_ITER = 1000
# Leaf probabilities are floored at this, so a pure leaf is not certain of its class.
TREE_PROBABILITY_FLOOR = 1e-6

Predict = Callable[[np.ndarray], np.ndarray]


def fit_classification_baselines(
    data: BaselineData,
    *,
    n_classes: int,
    seed: int = 0,
    names: tuple[str, ...] = CLASSIFICATION_BASELINES,
) -> dict[str, Predict]:
    """Fit each named baseline on the training split; return a probability function for each.

    Example:
        >>> predictors = fit_classification_baselines(data, n_classes=3)  # doctest: +SKIP
        >>> predictors["logistic"](X_test).shape  # doctest: +SKIP
        (rows, 3)
    """
    unknown = [name for name in names if name not in CLASSIFICATION_BASELINES]
    if unknown:
        raise ConfigError(
            f"classification baselines are {', '.join(CLASSIFICATION_BASELINES)}; got "
            f"{', '.join(map(repr, unknown))}; choose among those"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"n_classes must be an integer of at least 2; got {n_classes!r}")
    X, y = data.train
    codes = as_codes(y, n_classes, len(X))
    if len(codes) == 0:
        raise DataError("classification baselines need training rows; got none; add rows")
    X_val, y_val = data.validation
    split = BaselineData(
        train=(np.asarray(X, dtype=np.float64), codes),
        validation=(np.asarray(X_val, dtype=np.float64), as_codes(y_val, n_classes, len(X_val))),
        n_numeric=data.n_numeric,
        n_categorical=data.n_categorical,
    )
    if len(np.unique(codes)) == 1:  # nothing to learn: every baseline is the prior
        return {name: _majority(split, n_classes, seed) for name in names}
    fitters = {
        "majority": _majority,
        "logistic": _logistic,
        "tree": _tree,
        "lightgbm": _lightgbm,
    }
    return {name: fitters[name](split, n_classes, seed) for name in names}


def _full_columns(proba: Any, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """A fitted model's columns (for ``classes``) placed among all ``n_classes``."""
    out = np.zeros((len(proba), n_classes))
    out[:, np.asarray(classes, dtype=np.int64)] = np.asarray(proba, dtype=np.float64)
    return out / out.sum(axis=1, keepdims=True)


def _categorical(data: BaselineData) -> list[int]:
    return list(range(data.n_numeric, data.n_numeric + data.n_categorical))


def _majority(data: BaselineData, n_classes: int, seed: int) -> Predict:
    """The training class frequencies for every row: the prior."""
    prior = np.bincount(data.train[1], minlength=n_classes) / len(data.train[1])
    return lambda X: np.tile(prior, (len(X), 1))


def _logistic(data: BaselineData, n_classes: int, seed: int) -> Predict:
    """One-hot categories, scaled numbers, and a logistic regression whose C is picked on the
    validation split's log-loss."""
    from sklearn.compose import ColumnTransformer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = _categorical(data)
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numbers", StandardScaler(), list(range(data.n_numeric))),
        ]
    )
    X_train = encode.fit_transform(data.train[0])
    X_val, y_val = data.validation
    X_val = encode.transform(X_val) if len(y_val) else X_val
    # A sweep on the validation split rather than LogisticRegressionCV: the split is already
    # held out for choosing settings (as the tree's leaf size and LightGBM's rounds are), so
    # each C is fitted once instead of once per fold; without it, sklearn's default C = 1.
    best, best_loss = None, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in LOGISTIC_CS if len(y_val) else (1.0,):
            model = LogisticRegression(C=C, max_iter=LOGISTIC_MAX_ITER).fit(X_train, data.train[1])
            loss = _validation_loss(model.predict_proba, model.classes_, data, X_val, n_classes)
            if loss < best_loss:
                best, best_loss = model, loss
    assert best is not None
    return lambda X: _full_columns(
        best.predict_proba(encode.transform(X)), best.classes_, n_classes
    )


def _validation_loss(
    predict_proba: Callable[[Any], Any],
    classes: np.ndarray,
    data: BaselineData,
    X_val: Any,
    n_classes: int,
) -> float:
    """Log-loss on the validation split (0.0 without one)."""
    y_val = data.validation[1]
    if len(y_val) == 0:
        return 0.0
    return log_loss(y_val, _full_columns(predict_proba(X_val), classes, n_classes))


def _tree(data: BaselineData, n_classes: int, seed: int) -> Predict:
    """A decision tree whose minimum leaf size is picked on the validation split's log-loss."""
    from sklearn.tree import DecisionTreeClassifier

    def smoothed(tree: DecisionTreeClassifier) -> Callable[[np.ndarray], np.ndarray]:
        def predict_proba(X: np.ndarray) -> np.ndarray:
            proba = np.clip(tree.predict_proba(X), TREE_PROBABILITY_FLOOR, 1.0)
            return proba / proba.sum(axis=1, keepdims=True)

        return predict_proba

    best, best_loss = None, np.inf
    for leaf in TREE_LEAF_SIZES:
        tree = DecisionTreeClassifier(min_samples_leaf=leaf, random_state=seed).fit(*data.train)
        X_val = data.validation[0]
        loss = _validation_loss(smoothed(tree), tree.classes_, data, X_val, n_classes)
        if loss < best_loss:
            best, best_loss = tree, loss
    assert best is not None
    predict = smoothed(best)
    return lambda X: _full_columns(predict(X), best.classes_, n_classes)


def _lightgbm(data: BaselineData, n_classes: int, seed: int) -> Predict:
    """LightGBM with its defaults, stopped at the best iteration on the validation split."""
    import lightgbm

    categorical = _categorical(data)
    threads = 1 if len(data.train[1]) < LIGHTGBM_THREADED_ROWS else None
    model = lightgbm.LGBMClassifier(
        n_estimators=1000, random_state=seed, verbose=-1, n_jobs=threads
    )
    X_val, y_val = data.validation
    # LightGBM cannot score a class it never trained on: early stopping uses the other rows.
    known = np.isin(y_val, np.unique(data.train[1]))
    fit_lightgbm(model, data.train, (X_val[known], y_val[known]), categorical)

    def predict(X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "X does not have valid feature names"
            return _full_columns(model.predict_proba(X), model.classes_, n_classes)

    return predict


__all__ = ["CLASSIFICATION_BASELINES", "fit_classification_baselines"]
