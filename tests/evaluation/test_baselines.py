"""Baselines fit on the training split only and see what the network sees."""

import numpy as np
import pytest

from deepfit.evaluation.baselines import BASELINES, BaselineData, design_matrix, fit_baselines
from tests.support.tables import make_table


def _data(n_train=300, n_val=100, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n_train + n_val), rng.integers(0, 3, n_train + n_val)])
    y = 2 * X[:, 0] + np.array([0.0, 5.0, -5.0])[X[:, 1].astype(int)]
    return BaselineData(
        train=(X[:n_train], y[:n_train]),
        validation=(X[n_train:], y[n_train:]),
        n_numeric=1,
        n_categorical=1,
    )


def test_mean_baseline_predicts_the_training_mean():
    data = _data()
    predict = fit_baselines(data, names=("mean",))["mean"]
    np.testing.assert_allclose(predict(data.validation[0]), data.train[1].mean())


@pytest.mark.parametrize("name", ["ridge", "tree", "lightgbm"])
def test_each_baseline_learns_numeric_and_categorical_effects(name):
    data = _data()
    predict = fit_baselines(data, names=(name,))[name]
    X_val, y_val = data.validation
    error = np.sqrt(np.mean((predict(X_val) - y_val) ** 2))
    assert error < 0.3 * y_val.std()


def test_all_baselines_run_without_a_validation_split():
    data = _data()
    data.validation = (np.zeros((0, 2)), np.zeros(0))
    predictors = fit_baselines(data)
    assert set(predictors) == set(BASELINES)
    assert all(predict(data.train[0]).shape == (300,) for predict in predictors.values())


def test_design_matrix_is_the_networks_view_of_the_numbers(fitted):
    features = fitted.preprocessor_.transform(make_table(10).drop(columns="y"))
    matrix = design_matrix(fitted.network_, features)
    n_numeric = fitted.network_.numeric_input.d_out
    assert matrix.shape == (10, n_numeric + features.categorical.shape[1])
    assert np.isfinite(matrix).all()  # missing values are imputed, as in the network
    np.testing.assert_array_equal(matrix[:, n_numeric:], features.categorical)
