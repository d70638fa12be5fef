"""Search spaces: the default settings are a point of the space; unknown models are refused."""

from __future__ import annotations

import optuna
import pytest

from deepfit import ConfigError
from deepfit.estimator.auto import DataShape, resolve
from deepfit.tuning.space import SPACES, base_settings, choices, search_space


def test_default_point_gives_back_the_base_settings() -> None:
    base = base_settings({"hidden_layers": (32, 32), "learning_rate": 3e-3, "batch_size": 32})
    space = search_space("mlp")
    drawn = space.suggest(optuna.trial.FixedTrial(space.default(base)), base)
    assert drawn["hidden_layers"] == (32, 32)
    assert drawn["learning_rate"] == pytest.approx(3e-3)
    assert drawn["batch_size"] == 32  # not among the usual choices, so added to them
    assert {key: drawn[key] for key in ("activation", "dropout", "norm", "weight_decay")} == {
        key: base[key] for key in ("activation", "dropout", "norm", "weight_decay")
    }


def test_out_of_range_defaults_are_clamped_into_the_space() -> None:
    point = SPACES["mlp"].default(base_settings({"hidden_layers": (4096,), "weight_decay": 0.0}))
    assert point["width"] == 1024
    assert point["weight_decay"] > 0  # a log-scale parameter cannot hold 0


def test_choices_keep_their_order_and_add_the_base_value_last() -> None:
    assert choices(("a", "b"), "b") == ("a", "b")
    assert choices(("a", "b"), "c") == ("a", "b", "c")


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="no search space for model 'ft_transformer'"):
        search_space("ft_transformer")


def test_the_ensemble_space_draws_members_and_embeddings_and_its_default_is_the_base() -> None:
    base = base_settings({"model": "ensemble", "model_options": {"k": 4}, "hidden_layers": (64,)})
    point = SPACES["ensemble"].default(base)
    assert point["k"] == 4
    assert point["numeric_embedding"] is None
    drawn = SPACES["ensemble"].suggest(optuna.trial.FixedTrial(point), base)
    assert drawn["model_options"] == {"k": 4}
    assert drawn["hidden_layers"] == (64,)
    assert "norm" not in drawn
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {
        str(SPACES["ensemble"].suggest(study.ask(), base)["numeric_embedding"]) for _ in range(30)
    }
    assert seen == {"None", "piecewise", "periodic"}


def test_without_a_model_the_base_is_the_model_train_gives() -> None:
    shape = DataShape(20_000)
    base = base_settings({}, "regression", shape)
    auto = resolve({"model": "auto"}, shape, "regression").settings
    assert base["model"] == "ensemble"
    assert {k: v for k, v in base.items() if k != "batch_size"} == {
        k: v for k, v in auto.items() if k != "batch_size"
    }
    point = search_space(base["model"]).default(base)
    drawn = search_space(base["model"]).suggest(optuna.trial.FixedTrial(point), base)
    assert drawn["model_options"] == auto["model_options"]
    assert drawn["hidden_layers"] == auto["hidden_layers"]
    assert drawn["numeric_embedding"] == "piecewise"
    assert drawn["learning_rate"] == pytest.approx(auto["learning_rate"])
