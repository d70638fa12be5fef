"""``model="auto"``: what it picks from the data, and that it leaves the user's settings alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfit import Regressor
from deepfit.estimator.auto import (
    AUTO_TIME_LIMIT,
    LARGE_DATA_CLIP,
    LARGE_DATA_ROWS,
    PIECEWISE_BINS,
    auto_settings,
    ensemble_size,
)
from tests.support.tables import make_table

QUICK = {"max_epochs": 2, "time_limit": 30.0, "random_state": 0}


def test_auto_is_the_default_and_picks_tabm_over_piecewise_embeddings() -> None:
    assert Regressor().model == "auto"
    large, small = auto_settings(20_000), auto_settings(500)
    assert large["model"] == small["model"] == "ensemble"
    assert large["numeric_embedding"] == "piecewise"
    assert (large["hidden_layers"], large["model_options"]) == (
        (256, 256, 256),
        {"k": 16, "n_bins": PIECEWISE_BINS},
    )
    assert (small["hidden_layers"], small["model_options"]) == ((128, 128), {"k": 8})
    assert large["schedule"] == "anneal"
    assert large["time_limit"] == AUTO_TIME_LIMIT
    without_numeric = auto_settings(20_000, has_numeric=False)
    assert without_numeric["numeric_embedding"] is None
    assert without_numeric["model_options"] == {"k": 16}  # no embedding, so no bins
    assert large["target_transform"] == "none"
    assert auto_settings(20_000, skewed_target=True)["target_transform"] == "log_link"


def test_auto_trades_members_for_epochs_and_widens_the_clip_on_large_tables() -> None:
    assert [ensemble_size(n) for n in (1_999, 2_000, 37_500, 37_501, 75_001, 600_001)] == [
        8, 16, 16, 8, 4, 1
    ]  # fmt: skip
    flights, diamonds = auto_settings(209_502), auto_settings(34_500)
    assert (flights["model_options"]["k"], flights["clip"]) == (2, LARGE_DATA_CLIP)
    assert (diamonds["model_options"]["k"], diamonds["clip"]) == (16, 3.0)
    assert (
        flights["model_options"]["n_bins"] == diamonds["model_options"]["n_bins"] == PIECEWISE_BINS
    )
    assert auto_settings(LARGE_DATA_ROWS - 1)["clip"] == 3.0
    assert auto_settings(LARGE_DATA_ROWS)["clip"] == LARGE_DATA_CLIP


def test_an_auto_fit_records_its_choices_and_learns() -> None:
    frame = make_table(400, seed=0)
    X, y = frame.drop(columns="y"), frame["y"]
    model = Regressor(max_epochs=60, random_state=0).fit(X, y)
    chosen = model.training_summary_["auto"]
    assert chosen["model"] == "ensemble"
    assert chosen["numeric_embedding"] == "piecewise"
    assert chosen["schedule"] == "anneal"
    assert "max_epochs" not in chosen  # set by the user, so auto left it
    assert model.settings_["model"] == "ensemble"
    assert model.settings_["model_options"] == {"k": 8}  # 400 rows: a small table's bins
    assert model.training_summary_["epochs"] <= 60
    residual = np.asarray(y) - model.predict(X)
    assert residual.std() < 0.5 * np.asarray(y).std()  # well beyond predicting the mean


def test_auto_keeps_every_setting_the_user_chose() -> None:
    frame = make_table(200, seed=1)
    X, y = frame.drop(columns="y"), frame["y"]
    model = Regressor(
        hidden_layers=(16,), learning_rate=0.01, schedule="plateau", model_options={"k": 2}, **QUICK
    ).fit(X, y)
    chosen = model.training_summary_["auto"]
    for name in ("hidden_layers", "learning_rate", "schedule", "model_options", "max_epochs"):
        assert name not in chosen
    assert list(model.settings_["hidden_layers"]) == [16]
    assert model.settings_["model_options"] == {"k": 2}
    assert model.get_params()["schedule"] == "plateau"
    assert model.get_params()["model"] == "auto"  # the estimator keeps what it was given


def test_auto_without_numeric_features_has_no_numeric_embedding() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], 120)})
    y = X["colour"].map({"red": 1.0, "green": 2.0, "blue": 3.0}) + rng.normal(0, 0.1, 120)
    model = Regressor(**QUICK).fit(X, y)
    assert model.training_summary_["auto"]["numeric_embedding"] is None
    assert model.settings_["numeric_embedding"] is None
