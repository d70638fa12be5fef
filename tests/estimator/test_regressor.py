"""Regressor as a user meets it: fit, predict, score, inside scikit-learn's tools."""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepfit import ConfigError, DataError, DeepfitWarning, NotFittedError, Regressor
from deepfit.estimator.params import auto_batch_size
from tests.support.tables import FAST, TABLE_ROLES, make_table


def _features_target(frame):
    return frame.drop(columns="y"), frame["y"]


def test_learns_a_mixed_table_and_predicts_in_the_targets_units(fitted):
    X, y = _features_target(make_table(200, seed=1))  # rows it never saw
    prediction = fitted.predict(X)
    assert prediction.dtype == np.float64
    assert prediction.shape == (200,)
    assert fitted.score(X, y) > 0.9
    assert abs(prediction.mean() - y.mean()) < 0.2 * y.std()  # target units, not standardised


def test_roles_are_inferred_from_the_frame(fitted):
    roles = {c.name: c.role for c in fitted.preprocessor_.schema.columns}
    assert roles == TABLE_ROLES
    assert fitted.target_name_ == "y"
    assert list(fitted.feature_names_in_) == ["x1", "x2", "colour", "flag", "day"]


def test_same_seed_same_model_and_another_seed_another():
    X, y = _features_target(make_table(150))
    first = Regressor(**FAST, random_state=3).fit(X, y).predict(X)
    again = Regressor(**FAST, random_state=3).fit(X, y).predict(X)
    other = Regressor(**FAST, random_state=4).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_numpy_and_polars_inputs_work():
    X, y = _features_target(make_table(150))
    numeric = X[["x1", "x2"]]
    from_numpy = Regressor(**FAST).fit(numeric.to_numpy(), y.to_numpy())
    assert from_numpy.predict(numeric.to_numpy()).shape == (150,)
    from_polars = Regressor(**FAST).fit(pl.from_pandas(X), y)
    np.testing.assert_allclose(from_polars.predict(pl.from_pandas(X)), from_polars.predict(X))


def test_a_given_validation_set_is_used_for_early_stopping():
    X, y = _features_target(make_table(200))
    X_val, y_val = _features_target(make_table(50, seed=2))
    model = Regressor(**FAST).fit(X, y, X_val=X_val, y_val=y_val)
    assert model.training_summary_["validation_rows"] == 50
    assert model.training_summary_["train_rows"] == 200
    with pytest.raises(ConfigError, match="both X_val and y_val"):
        Regressor(**FAST).fit(X, y, X_val=X_val)


def test_early_stopping_keeps_the_best_epoch_and_patience_none_runs_to_the_end():
    X, y = _features_target(make_table(200))
    stopped = Regressor(
        model="mlp", hidden_layers=(32,), max_epochs=500, patience=3, learning_rate=0.01
    )
    stopped.fit(X, y)
    summary = stopped.training_summary_
    assert summary["epochs"] < 500
    assert summary["epochs"] - summary["best_epoch"] == 3
    losses = [r["validation_loss"] for r in stopped.history_]
    assert summary["best_validation_loss"] == pytest.approx(min(losses))
    full = Regressor(model="mlp", hidden_layers=(8,), max_epochs=7, patience=None).fit(X, y)
    assert full.training_summary_["epochs"] == 7
    assert full.training_summary_["validation_rows"] == 0


def test_unseen_categories_use_the_unknown_slot_and_are_counted(fitted):
    X, _ = _features_target(make_table(20, seed=5))
    X.loc[:4, "colour"] = "violet"
    result = fitted.predict_with_details(X)
    assert result.unseen_categories == 5
    assert np.isfinite(result.values).all()


def test_missing_values_where_training_had_none_are_imputed(fitted):
    X, _ = _features_target(make_table(20, seed=5))
    X["x1"] = np.nan
    assert np.isfinite(fitted.predict(X)).all()


def test_a_column_that_was_numeric_but_holds_text_is_a_clear_error(fitted):
    X, _ = _features_target(make_table(20, seed=5))
    X["x1"] = X["x1"].astype(object)
    X.loc[3, "x1"] = "lots"
    with pytest.raises(DataError, match=r"column 'x1' is numeric but holds text.*'lots'"):
        fitted.predict(X)


def test_missing_feature_columns_are_named(fitted):
    X, _ = _features_target(make_table(20, seed=5))
    with pytest.raises(DataError, match=r"lacks feature column\(s\) 'colour'"):
        fitted.predict(X.drop(columns="colour"))


def test_wrong_number_of_array_columns_is_refused():
    X = np.random.default_rng(0).normal(size=(60, 3))
    model = Regressor(**FAST).fit(X, X.sum(axis=1))
    with pytest.raises(ValueError, match="X has 2 features, but Regressor is expecting 3"):
        model.predict(X[:, :2])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([1.0, np.nan] * 30, "missing in 30 row"),
        ([1.0, np.inf] * 30, "infinite in 30 row"),
        (["cheap", "dear"] * 30, "must be numeric"),
    ],
)
def test_bad_targets_are_refused_with_the_reason(target, message):
    X = np.random.default_rng(0).normal(size=(60, 2))
    with pytest.raises(DataError, match=message):
        Regressor(**FAST).fit(X, target)


def test_constant_and_id_columns_are_dropped_with_a_warning():
    X, y = _features_target(make_table(100))
    X["constant"] = 7
    X["row"] = range(100)
    with pytest.warns(DeepfitWarning) as caught:
        model = Regressor(**FAST).fit(X, y)
    messages = " ".join(str(w.message) for w in caught)
    assert "'constant'" in messages
    assert "'row'" in messages
    assert set(model.preprocessor_.schema.names("drop")) == {"constant", "row"}


def test_column_roles_override_inference():
    X, y = _features_target(make_table(100))
    model = Regressor(**FAST, column_roles={"x1": "categorical", "day": "drop"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeepfitWarning)
        model.fit(X, y)
    assert "x1" in model.preprocessor_.categorical_names
    assert model.preprocessor_.schema.names("drop") == ["day"]


@pytest.mark.parametrize(
    "params",
    [
        {"loss": "mae"},
        {"loss": "huber"},
        {"optimizer": "sgd", "learning_rate": 0.01},
        {"optimizer": "rmsprop"},
        {"optimizer": "adam", "schedule": "plateau"},
        {"norm": "batch"},
        {"norm": "layer", "activation": "gelu"},
        {"l1": 1e-4, "l2": 1e-4},
    ],
)
def test_training_options_all_learn(params):
    X, y = _features_target(make_table(200))
    model = Regressor(**{**FAST, **params}).fit(X, y)
    assert model.score(X, y) > 0.8


def test_time_limit_stops_training():
    X, y = _features_target(make_table(200))
    model = Regressor(
        model="mlp", hidden_layers=(16,), max_epochs=100_000, patience=None, time_limit=0.5
    )
    model.fit(X, y)
    assert "time limit" in model.training_summary_["stop_reason"]


def test_verbose_shows_a_progress_bar_on_stderr(capsys):
    X, y = _features_target(make_table(60))
    Regressor(model="mlp", hidden_layers=(8,), max_epochs=3, verbose=1).fit(X, y)
    captured = capsys.readouterr()
    assert "epoch" in captured.err
    assert captured.out == ""


def test_bad_settings_are_config_errors():
    X, y = _features_target(make_table(60))
    with pytest.raises(ConfigError, match="batch_size"):
        Regressor(batch_size=0).fit(X, y)
    with pytest.raises(ConfigError, match="activation"):
        Regressor(activation="wobbly", max_epochs=1).fit(X, y)
    with pytest.raises(ConfigError, match="model must be 'auto' or one of mlp"):
        Regressor(model="forest", max_epochs=1).fit(X, y)


def test_unfitted_model_says_to_fit_first():
    with pytest.raises(NotFittedError, match="not fitted"):
        Regressor().predict(np.zeros((2, 2)))


def test_works_in_pipeline_grid_search_and_cross_validation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = X @ np.array([1.0, -1.0, 0.5, 2.0]) + 0.1 * rng.normal(size=150)
    pipeline = make_pipeline(StandardScaler(), Regressor(**FAST))
    assert pipeline.fit(X, y).score(X, y) > 0.9
    search = GridSearchCV(Regressor(**FAST), {"hidden_layers": [(8,), (32,)]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["hidden_layers"] in [(8,), (32,)]
    scores = cross_val_score(Regressor(**FAST), X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.8


def test_pandas_input_frame_is_left_untouched():
    X, y = _features_target(make_table(60))
    before = X.copy()
    Regressor(model="mlp", hidden_layers=(8,), max_epochs=2).fit(X, y)
    pd.testing.assert_frame_equal(X, before)


def test_auto_batch_size_grows_with_the_data():
    assert auto_batch_size(300) == 64
    assert auto_batch_size(14_448) == 256
    assert auto_batch_size(1_000_000) == 512
    X, y = _features_target(make_table(100))
    model = Regressor(model="mlp", hidden_layers=(8,), max_epochs=2).fit(X, y)
    assert model.training_summary_["batch_size"] == 64
    with pytest.raises(ConfigError, match="batch_size must be 'auto' or a positive integer"):
        Regressor(batch_size="big").fit(X, y)
