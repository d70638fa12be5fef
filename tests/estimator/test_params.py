"""The parameter table: the estimators' signatures, the checks at fit, and auto's resolution."""

from __future__ import annotations

import inspect

import pytest

from deepfit import Classifier, ConfigError, Regressor
from deepfit.estimator.auto import PIECEWISE_BINS, DataShape, resolve
from deepfit.estimator.params import AUTO, check_params, defaults, params_for


@pytest.mark.parametrize("front", [Regressor, Classifier])
def test_each_front_takes_exactly_its_task_s_parameters_with_the_table_s_defaults(
    front: type,
) -> None:
    signature = inspect.signature(front.__init__)
    given = {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if name != "self"
    }
    assert given == defaults(front.task_name)
    assert list(given) == list(params_for(front.task_name))


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("loss", "cross_entropy", "loss must be one of mse, mae, huber"),
        ("optimizer", "adagrad", "optimizer must be one of"),
        ("schedule", "linear", "schedule must be 'auto' or one of"),
        ("activation", "swish", "activation must be one of"),
        ("learning_rate", 0.0, "learning_rate must be 'auto' or a positive number"),
        ("hidden_layers", (0,), "hidden_layers must be 'auto' or positive widths"),
        ("patience", -1, "patience must be 'auto' or a non-negative integer or None"),
        ("class_weight", "heavy", "not a parameter of the regression estimator"),
    ],
)
def test_a_bad_value_is_named_at_once(name: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_params({name: value}, "regression")


def test_the_classifier_has_its_own_parameters() -> None:
    check_params({"class_weight": "balanced", "label_smoothing": 0.1}, "classification")
    with pytest.raises(ConfigError, match="interval_method must be one of lac, aps"):
        check_params({"interval_method": "quantile"}, "classification")
    with pytest.raises(ConfigError, match="not a parameter of the classification"):
        check_params({"loss": "mse"}, "classification")


def test_auto_decides_only_what_is_left_at_auto() -> None:
    resolved = resolve({"model": AUTO, "time_limit": None, "learning_rate": 1e-3},
                       DataShape(20_000), "regression")  # fmt: skip
    settings, chosen = resolved.settings, resolved.chosen
    assert settings["time_limit"] is None  # given, though None: never replaced
    assert settings["learning_rate"] == 1e-3  # given, though it equals the plain default
    assert settings["model"] == "ensemble"
    assert settings["schedule"] == "anneal"
    assert "time_limit" not in chosen
    assert "learning_rate" not in chosen
    assert settings["batch_size"] == 256  # grows with the rows under any model


def test_another_model_takes_the_plain_fallbacks() -> None:
    settings = resolve({"model": "mlp"}, DataShape(500), "classification").settings
    assert settings["hidden_layers"] == (256, 256, 256)
    assert settings["learning_rate"] == 1e-3
    assert settings["schedule"] == "cosine"
    assert settings["time_limit"] is None
    assert settings["interval_method"] == "lac"


def test_model_options_given_under_auto_are_added_to_auto_s() -> None:
    settings = resolve({"model_options": {"k": 4}}, DataShape(20_000), "regression").settings
    assert settings["model_options"] == {"k": 4, "n_bins": PIECEWISE_BINS}
    merged = resolve({"model_options": {"n_bins": 16}}, DataShape(20_000), "regression")
    assert merged.settings["model_options"] == {"k": 16, "n_bins": 16}
