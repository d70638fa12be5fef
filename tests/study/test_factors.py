"""Each factor's values map to the right estimator settings or data change (no training)."""

from __future__ import annotations

import pytest

from deepfit.errors import ConfigError
from deepfit.study.factors import REGULARIZATION, known_factors, parse_levels, parse_value
from deepfit.study.runner import combine, held_level

HELD = {"hidden_layers": (64, 64, 64)}


def settings(name: str, values: list[object], held: dict[str, object] = HELD) -> list[dict]:
    return [level.settings for level in parse_levels(name, values, held, task="regression")]


def test_learning_rate_is_a_float() -> None:
    assert settings("learning_rate", ["0.01", "10"]) == [
        {"learning_rate": 0.01},
        {"learning_rate": 10.0},
    ]


def test_width_keeps_the_held_depth_and_depth_keeps_the_held_width() -> None:
    assert settings("width", ["8", "32"]) == [
        {"hidden_layers": (8, 8, 8)},
        {"hidden_layers": (32, 32, 32)},
    ]
    assert settings("depth", ["1", "2"]) == [
        {"hidden_layers": (64,)},
        {"hidden_layers": (64, 64)},
    ]


def test_hidden_layers_are_whole_architectures() -> None:
    levels = parse_levels("hidden_layers", ["256x256", "512x512x512"], HELD, task="regression")
    assert [level.settings["hidden_layers"] for level in levels] == [(256, 256), (512, 512, 512)]
    assert [level.label for level in levels] == ["256x256", "512x512x512"]


def test_max_epochs_turns_early_stopping_off() -> None:
    assert settings("max_epochs", ["5"]) == [{"max_epochs": 5, "patience": None}]


def test_each_regularization_switches_the_others_off() -> None:
    found = settings("regularization", list(REGULARIZATION))
    assert found[0] == {"l1": 0.0, "l2": 0.0, "dropout": 0.0, "weight_decay": 0.0}
    assert found[1]["l1"] > 0
    assert found[1]["l2"] == 0
    assert found[1]["dropout"] == 0
    assert found[2]["l2"] > 0
    assert found[2]["l1"] == 0
    assert found[3]["l1"] > 0
    assert found[3]["l2"] > 0
    assert found[4]["dropout"] > 0
    assert found[4]["l1"] == found[4]["l2"] == 0


def test_activation_and_model_names() -> None:
    assert settings("activation", ["gelu", "tanh"]) == [
        {"activation": "gelu"},
        {"activation": "tanh"},
    ]
    assert settings("model", ["mlp"]) == [{"model": "mlp"}]


def test_train_size_is_a_fraction_or_a_row_count() -> None:
    levels = parse_levels("train_size", ["0.5", "1", "40"], HELD, task="regression")
    assert [level.train_size for level in levels] == [0.5, 1.0, 40]
    assert all(level.settings == {} for level in levels)


def test_features_keep_or_drop_columns() -> None:
    keep, drop, everything = parse_levels(
        "features", ["x1+x2", "drop:colour", "all"], HELD, task="regression"
    )
    assert keep.keep == ("x1", "x2")
    assert keep.drop == ()
    assert drop.keep is None
    assert drop.drop == ("colour",)
    assert everything.keep is None
    assert everything.drop == ()


def test_any_regressor_parameter_is_a_fallback_with_parsed_values() -> None:
    assert settings("batch_size", ["16", "auto"]) == [{"batch_size": 16}, {"batch_size": "auto"}]
    assert settings("norm", ["none", "layer"]) == [{"norm": None}, {"norm": "layer"}]
    assert settings("dropout", [0.0, 0.3]) == [{"dropout": 0.0}, {"dropout": 0.3}]
    assert parse_value("1e-3") == 0.001


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("colour_depth", ["1"], "known factors are: learning_rate"),
        ("learning_rate", ["fast"], "bad value 'fast'"),
        ("learning_rate", ["-1"], "bad value '-1'"),
        ("width", ["0"], "bad value '0'"),
        ("activation", ["bogus"], "choose from relu"),
        ("regularization", ["l3"], "choose from none, l1"),
        ("model", ["xgboost"], "choose from auto, mlp"),
        ("train_size", ["2.5"], "bad value '2.5'"),
        ("learning_rate", ["0.1", "0.1"], "repeated value"),
        ("random_state", ["1"], "unknown factor"),
    ],
)
def test_bad_factors_and_values_are_one_line_errors(
    name: str, values: list[object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_levels(name, values, HELD, task="regression")
    assert "\n" not in str(caught.value)


def test_held_settings_take_parameters_as_they_are_and_levels_win() -> None:
    held = held_level(
        {"max_epochs": "30", "hidden_layers": "16x16", "regularization": "l2"}, task="regression"
    )
    assert held.settings["max_epochs"] == 30
    assert "patience" not in held.settings
    assert held.settings["hidden_layers"] == (16, 16)
    assert held.settings["l2"] > 0
    (wide,) = parse_levels("width", ["32"], held.settings, task="regression")
    assert wide.settings == {"hidden_layers": (32, 32)}
    merged = combine(held, wide)
    assert merged.settings["hidden_layers"] == (32, 32)
    assert merged.settings["max_epochs"] == 30


def test_each_task_varies_its_own_estimator_parameters() -> None:
    levels = parse_levels("label_smoothing", ["0", "0.1"], HELD, task="classification")
    assert [level.settings for level in levels] == [
        {"label_smoothing": 0},
        {"label_smoothing": 0.1},
    ]
    assert settings("loss", ["huber"]) == [{"loss": "huber"}]
    assert "class_weight" in known_factors("classification")
    assert "loss" not in known_factors("classification")
    with pytest.raises(ConfigError, match="or any Classifier parameter") as caught:
        parse_levels("loss", ["huber"], HELD, task="classification")
    assert "label_smoothing" in str(caught.value)
    with pytest.raises(ConfigError, match="or any Regressor parameter"):
        parse_levels("label_smoothing", ["0.1"], HELD, task="regression")


def test_held_settings_are_checked_against_the_task() -> None:
    held = held_level({"class_weight": "balanced"}, task="classification")
    assert held.settings == {"class_weight": "balanced"}
    with pytest.raises(ConfigError, match="unknown factor 'huber_delta'"):
        held_level({"huber_delta": "2"}, task="classification")


def test_width_and_depth_vary_the_plain_default_when_no_architecture_is_held() -> None:
    widths = parse_levels("width", ["8"], {}, task="regression")
    depths = parse_levels("depth", ["2"], {}, task="regression")
    assert widths[0].settings == {"hidden_layers": (8, 8, 8)}
    assert depths[0].settings == {"hidden_layers": (256, 256)}
