"""``deepfit retrain``: the saved model (champion) against one retrained on new data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deepfit import Classifier, Regressor, load
from tests.support.cli import assert_one_line_error, invoke
from tests.support.tables import make_label_table, make_table

# A champion trained briefly, so that more epochs on more rows of the same kind beat it.
CHAMPION: dict[str, Any] = {
    "model": "mlp",
    "hidden_layers": (16, 16),
    "max_epochs": 15,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "time_limit": None,
}
QUICK = ("--time-limit", "none", "--quiet")


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = make_table(300)
    model = Regressor(**CHAMPION).fit(frame.drop(columns="y"), frame["y"])
    return model.save(tmp_path_factory.mktemp("retrain") / "champion.deepfit")


def new_data(tmp_path: Path, frame: pd.DataFrame, name: str = "new.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_new_data_like_the_old_fine_tunes_and_writes_the_better_model(
    champion: Path, tmp_path: Path
) -> None:
    data = new_data(tmp_path, make_table(250, seed=1))
    out = tmp_path / "v2.deepfit"
    result = invoke("retrain", champion, data, "--out", out, "--max-epochs", 40, *QUICK)
    assert result.exit_code == 0, result.output
    assert "fine-tuned champion.deepfit" in result.stdout
    assert "rows: 200 to train, 50 held out" in result.stdout
    assert "the challenger wins" in result.stdout
    assert f"saved the challenger to {out}" in result.stdout
    model = load(out)
    summary = model.training_summary_["retrain"]
    assert summary["path"] == "fine-tuned"
    assert summary["winner"] == "challenger"
    assert summary["challenger"]["rmse"] < summary["champion"]["rmse"] < 40.0
    assert model.training_summary_["train_rows"] < 200  # its early-stopping share came out
    assert set(model.metrics_) == {"deepfit", "champion"}
    assert model.preprocessor_.to_dict() == load(champion).preprocessor_.to_dict()


def test_a_changed_relationship_makes_the_challenger_win(champion: Path, tmp_path: Path) -> None:
    frame = make_table(250, seed=2)
    frame["y"] = frame["y"] - 60.0 * frame["x1"]  # y rose with x1; now it falls
    data = new_data(tmp_path, frame)
    out = tmp_path / "v2.deepfit"
    result = invoke("retrain", champion, data, "-o", out, "--max-epochs", 40, "--json", *QUICK)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["winner"] == "challenger"
    assert document["written"] == str(out)
    assert document["metric"] == "rmse"
    assert document["relative_change"] < -0.5  # far better than the old relationship
    assert out.exists()


def test_when_the_champion_wins_nothing_is_written(champion: Path, tmp_path: Path) -> None:
    data = new_data(tmp_path, make_table(250, seed=3))
    out = tmp_path / "v2.deepfit"
    # One epoch of a fresh network: no match for the champion.
    args = ("retrain", champion, data, "--out", out, "--fresh", "--max-epochs", 1, *QUICK)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "trained afresh with champion.deepfit's settings: as asked (--fresh)" in result.stdout
    assert "the champion wins" in result.stdout
    assert "the champion champion.deepfit is kept; nothing was written" in result.stdout
    assert not out.exists()

    result = invoke(*args, "--keep-loser")
    assert result.exit_code == 0, result.output
    assert "anyway (--keep-loser)" in result.stdout
    assert load(out).training_summary_["retrain"]["winner"] == "champion"
    assert_one_line_error(invoke(*args, "--keep-loser"), "already exists", "--force")


def test_a_new_column_trains_afresh_and_says_so(champion: Path, tmp_path: Path) -> None:
    frame = make_table(250, seed=4)
    frame.insert(0, "x3", np.random.default_rng(4).normal(size=len(frame)))
    frame["y"] = frame["y"] + 30.0 * frame["x3"]
    out = tmp_path / "v2.deepfit"
    data = new_data(tmp_path, frame)
    result = invoke("retrain", champion, data, "--out", out, "--max-epochs", 40, *QUICK)
    assert result.exit_code == 0, result.output
    assert "trained afresh" in result.stdout
    assert "it has new column(s) 'x3'" in result.stdout
    assert "the challenger wins" in result.stdout
    assert next(c.name for c in load(out).preprocessor_.schema.columns) == "x3"


def test_a_missing_column_leaves_the_champion_unable_to_score(
    champion: Path, tmp_path: Path
) -> None:
    data = new_data(tmp_path, make_table(120, seed=5).drop(columns="colour"))
    out = tmp_path / "v2.deepfit"
    result = invoke("retrain", champion, data, "--out", out, "--max-epochs", 3, *QUICK)
    assert result.exit_code == 0, result.output
    assert "it lacks 'colour'" in result.stdout
    assert "champion cannot score" in result.stdout
    assert "the challenger wins" in result.stdout
    assert "note: the champion cannot score the held-out rows" in result.stderr
    assert out.exists()


def test_classifiers_retrain_on_their_log_loss(tmp_path: Path) -> None:
    frame = make_label_table(300)
    settings = CHAMPION | {"max_epochs": 5}
    model = Classifier(**settings).fit(frame.drop(columns="label"), frame["label"])
    path = model.save(tmp_path / "labels.deepfit")
    data = new_data(tmp_path, make_label_table(200, seed=1))
    out = tmp_path / "v2.deepfit"
    result = invoke("retrain", path, data, "--out", out, "--max-epochs", 5, "--json", *QUICK)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["path"] == "fine-tuned"
    assert document["metric"] == "log_loss"
    assert {"accuracy", "log_loss"} <= set(document["champion"])
    assert (document["written"] is not None) == (document["winner"] == "challenger")


def test_new_labels_train_a_classifier_afresh(tmp_path: Path) -> None:
    frame = make_label_table(200)
    model = Classifier(**CHAMPION | {"max_epochs": 2}).fit(
        frame.drop(columns="label"), frame["label"]
    )
    path = model.save(tmp_path / "labels.deepfit")
    data = new_data(tmp_path, make_label_table(200, seed=1, classes=3))
    result = invoke("retrain", path, data, "--out", tmp_path / "v2.deepfit", "--max-epochs", 2)
    assert result.exit_code == 0, result.output
    assert "trained afresh" in result.stdout
    assert "label(s) 'high', 'low', 'mid' that the champion cannot predict" in result.stdout


def test_too_little_data_and_a_bad_holdout_are_one_line_errors(
    champion: Path, tmp_path: Path
) -> None:
    data = new_data(tmp_path, make_table(25, seed=6))
    out = tmp_path / "v2.deepfit"
    assert_one_line_error(
        invoke("retrain", champion, data, "--out", out), "25 row(s)", "provide at least 30 rows"
    )
    assert_one_line_error(
        invoke("retrain", champion, data, "--out", out, "--holdout", 1.5), "holdout share"
    )
    assert not out.exists()
