"""Classification baselines fit on the training split and return valid probabilities."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from deepfit.errors import ConfigError, DataError
from deepfit.evaluation.baselines import BaselineData
from deepfit.evaluation.classification_baselines import (
    CLASSIFICATION_BASELINES,
    fit_classification_baselines,
)
from deepfit.evaluation.classification_metrics import log_loss

Predictors = dict[str, Callable[[np.ndarray], np.ndarray]]
# Category effects on each class's logit: the categorical column matters.
EFFECTS = np.array([[0.0, 1.5, -1.5], [1.0, -1.0, 0.0], [-1.0, 0.0, 1.0]])


def _rows(n_rows: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two numeric columns (one is noise) and one categorical column of codes 0..2."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=(n_rows, 2)), rng.integers(0, 3, n_rows)])
    slopes = np.linspace(-2.0, 2.0, n_classes)
    logits = X[:, [0]] * slopes + EFFECTS[X[:, 2].astype(int)][:, :n_classes]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    codes = (rng.random((n_rows, 1)) > np.cumsum(proba, axis=1)).sum(axis=1)
    return X, np.minimum(codes, n_classes - 1).astype(np.int64)


def _data(n_classes: int, n_train: int = 600, n_val: int = 200, seed: int = 0) -> BaselineData:
    X, y = _rows(n_train + n_val, n_classes, seed)
    return BaselineData(
        train=(X[:n_train], y[:n_train]),
        validation=(X[n_train:], y[n_train:]),
        n_numeric=2,
        n_categorical=1,
    )


@pytest.fixture(scope="module", params=[2, 3], ids=["binary", "3-class"])
def fitted(request: pytest.FixtureRequest) -> tuple[int, BaselineData, Predictors]:
    n_classes = request.param
    data = _data(n_classes)
    return n_classes, data, fit_classification_baselines(data, n_classes=n_classes)


def _assert_probabilities(proba: np.ndarray, n_rows: int, n_classes: int) -> None:
    assert proba.shape == (n_rows, n_classes)
    assert proba.dtype == np.float64
    assert np.isfinite(proba).all()
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


# ----------------------------------------------------------------------------- learning
def test_every_baseline_gives_probabilities_for_every_class(
    fitted: tuple[int, BaselineData, Predictors],
) -> None:
    n_classes, _, predictors = fitted
    assert list(predictors) == list(CLASSIFICATION_BASELINES)
    X_new, _ = _rows(300, n_classes, seed=1)
    for predict in predictors.values():
        _assert_probabilities(predict(X_new), 300, n_classes)


def test_majority_predicts_the_training_class_frequencies(
    fitted: tuple[int, BaselineData, Predictors],
) -> None:
    n_classes, data, predictors = fitted
    prior = np.bincount(data.train[1], minlength=n_classes) / len(data.train[1])
    proba = predictors["majority"](data.validation[0])
    np.testing.assert_allclose(proba, np.tile(prior, (len(proba), 1)))
    entropy = -np.sum(prior * np.log(prior))
    assert log_loss(data.train[1], predictors["majority"](data.train[0])) == pytest.approx(entropy)


@pytest.mark.parametrize("name", ["logistic", "tree", "lightgbm"])
def test_learners_beat_the_prior_on_fresh_rows(
    fitted: tuple[int, BaselineData, Predictors], name: str
) -> None:
    n_classes, _, predictors = fitted
    X_new, y_new = _rows(2000, n_classes, seed=2)  # neither trained nor chose settings
    prior = log_loss(y_new, predictors["majority"](X_new))
    # the true model's log-loss is about 0.45 (binary) and 0.55 (3-class) of the prior's; a
    # tree's piecewise-constant probabilities get less of the way there
    assert log_loss(y_new, predictors[name](X_new)) < (0.85 if name == "tree" else 0.7) * prior


def test_the_tree_is_never_certain() -> None:
    data = _data(3)
    predict = fit_classification_baselines(data, n_classes=3, names=("tree",))["tree"]
    X_new, y_new = _rows(500, 3, seed=3)
    proba = predict(X_new)
    assert proba.min() > 5e-7  # pure leaves are smoothed: no infinite log-loss
    assert log_loss(y_new, proba) < 1.0


# ------------------------------------------------------------------------ awkward splits
@pytest.mark.parametrize("absent", [1, 2])
def test_a_class_absent_from_the_train_rows_gets_a_zero_column(absent: int) -> None:
    data = _data(3, n_train=800)
    X, y = data.train
    data.train = (X[y != absent], y[y != absent])  # the validation rows still have it
    predictors = fit_classification_baselines(data, n_classes=3)
    X_new, y_new = _rows(1000, 3, seed=4)
    seen = y_new != absent
    for name, predict in predictors.items():
        proba = predict(X_new)
        _assert_probabilities(proba, 1000, 3)
        assert (proba[:, absent] == 0).all(), name
        if name in ("logistic", "lightgbm"):  # the other classes' columns are in place
            prior = log_loss(y_new[seen], predictors["majority"](X_new[seen]))
            assert log_loss(y_new[seen], proba[seen]) < 0.8 * prior, name


def test_a_single_class_train_split_predicts_that_class() -> None:
    data = _data(3)
    X, y = data.train
    data.train = (X[y == 1], y[y == 1])
    predictors = fit_classification_baselines(data, n_classes=3)
    assert set(predictors) == set(CLASSIFICATION_BASELINES)
    expected = np.tile([0.0, 1.0, 0.0], (200, 1))
    for predict in predictors.values():
        np.testing.assert_array_equal(predict(data.validation[0]), expected)


def test_all_baselines_run_without_a_validation_split() -> None:
    data = _data(3)
    data.validation = (np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    predictors = fit_classification_baselines(data, n_classes=3)
    X_new, y_new = _rows(500, 3, seed=5)
    for predict in predictors.values():
        _assert_probabilities(predict(X_new), 500, 3)
    # sklearn's default C = 1 still learns; (LightGBM's 100 unstopped rounds over-fit 600 rows)
    prior = log_loss(y_new, predictors["majority"](X_new))
    assert log_loss(y_new, predictors["logistic"](X_new)) < 0.8 * prior


def test_numeric_only_data_works() -> None:
    data = _data(2)
    data.train = (data.train[0][:, :2], data.train[1])
    data.validation = (data.validation[0][:, :2], data.validation[1])
    data.n_categorical = 0
    for predict in fit_classification_baselines(data, n_classes=2).values():
        _assert_probabilities(predict(data.validation[0]), 200, 2)


# ---------------------------------------------------------------------------- bad input
def test_bad_settings_are_refused() -> None:
    data = _data(2)
    with pytest.raises(ConfigError, match="'ridge'"):
        fit_classification_baselines(data, n_classes=2, names=("ridge",))
    with pytest.raises(ConfigError, match="at least 2"):
        fit_classification_baselines(data, n_classes=1)
    with pytest.raises(DataError, match=r"0\.\.1"):
        fit_classification_baselines(_data(3), n_classes=2)
