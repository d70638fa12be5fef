"""``deepfit monitor``: drift, performance and a verdict on new rows, as text, JSON or a page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import Result

from tests.monitor.test_reference import rewrite_metadata
from tests.support.cli import assert_one_line_error, invoke
from tests.support.tables import make_label_table, make_table

FAST = ["--model", "mlp", "--hidden-layers", "16", "--max-epochs", "5", "--quiet"]


@dataclass(frozen=True)
class Trained:
    folder: Path
    model: Path


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    folder = tmp_path_factory.mktemp("monitor")
    data = folder / "train.csv"
    make_table(1000).to_csv(data, index=False)
    model = folder / "model.deepfit"
    assert_ok(invoke("train", data, "--target", "y", "--out", model, "--no-baselines", *FAST))
    return Trained(folder, model)


def new_rows(folder: Path, name: str, *, shift: float = 0.0, target: bool = True) -> Path:
    frame = make_table(800, seed=7)
    frame["x1"] += shift
    if not target:
        frame = frame.drop(columns="y")
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def test_rows_like_the_training_data_do_not_ask_for_retraining(
    trained: Trained, tmp_path: Path
) -> None:
    data = new_rows(tmp_path, "same.csv", target=False)
    result = invoke("monitor", trained.model, data)
    assert_ok(result)
    assert "verdict: fine" in result.stdout or "verdict: watch" in result.stdout
    for feature in ("x1", "x2", "colour", "flag", "prediction"):
        assert feature in result.stdout


def test_a_shifted_feature_asks_for_retraining_and_the_page_shows_it(
    trained: Trained, tmp_path: Path
) -> None:
    data = new_rows(tmp_path, "shifted.csv", shift=6.0)
    page = tmp_path / "monitor.html"
    result = invoke("monitor", trained.model, data, "--out", page, "--json")
    assert_ok(result)
    document = json.loads(result.stdout)
    assert document["verdict"]["status"] == "retrain"
    assert document["drift"][0]["feature"] in ("x1", "prediction")
    assert document["performance"]["metric"] == "rmse"
    assert document["performance"]["change"] > 0.1  # far worse than on the test rows
    assert document["performance"]["training_split"] == "test"
    html = page.read_text()
    assert "retrain" in html
    assert "<img" in html
    assert "<script" not in html
    again = invoke("monitor", trained.model, data, "--out", page)
    assert_one_line_error(again, "already exists", "--force")
    assert_ok(invoke("monitor", trained.model, data, "--out", page, "--force"))


def test_a_model_without_a_reference_says_to_retrain_it(trained: Trained, tmp_path: Path) -> None:
    old = tmp_path / "old.deepfit"
    old.write_bytes(trained.model.read_bytes())
    rewrite_metadata(old, lambda metadata: metadata.pop("reference"))
    unlabelled = new_rows(tmp_path, "rows.csv", target=False)
    assert_one_line_error(invoke("monitor", old, unlabelled), "no reference", "retrain it")
    labelled = new_rows(tmp_path, "labelled.csv")
    result = invoke("monitor", old, labelled, "--json")
    assert_ok(result)
    document = json.loads(result.stdout)
    assert document["drift"] == []
    assert document["performance"]["now"]["rmse"] > 0


def test_rows_not_labelled_yet_count_for_drift_but_not_for_performance(
    trained: Trained, tmp_path: Path
) -> None:
    data = new_rows(tmp_path, "partly.csv")
    frame = pd.read_csv(data)
    frame.loc[:599, "y"] = None  # the latest rows' outcomes are not known yet
    frame.to_csv(data, index=False)
    document = json.loads(invoke("monitor", trained.model, data, "--json").stdout)
    assert document["rows"] == 800
    assert "600 of 800 rows have no 'y' yet" in " ".join(document["notes"])
    labelled = tmp_path / "labelled.csv"
    frame.loc[600:].to_csv(labelled, index=False)
    alone = json.loads(invoke("monitor", trained.model, labelled, "--json").stdout)
    assert document["performance"]["now"] == alone["performance"]["now"]


def test_a_missing_target_column_is_one_line(trained: Trained, tmp_path: Path) -> None:
    data = new_rows(tmp_path, "rows.csv")
    assert_one_line_error(invoke("monitor", trained.model, data, "--target", "price"), "'price'")


def test_a_classifier_is_monitored_by_its_class_shares(tmp_path: Path) -> None:
    data = tmp_path / "labels.csv"
    make_label_table(600).to_csv(data, index=False)
    model = tmp_path / "labels.deepfit"
    assert_ok(invoke("train", data, "--target", "label", "--out", model, "--no-baselines", *FAST))
    rows = make_label_table(600, seed=3)
    rows["label"] = "yes"  # every new row is a yes
    labelled = tmp_path / "new.csv"
    pd.DataFrame(rows).to_csv(labelled, index=False)
    result = invoke("monitor", model, labelled, "--json")
    assert_ok(result)
    document = json.loads(result.stdout)
    assert document["performance"]["metric"] == "log_loss"
    prediction = next(d for d in document["drift"] if d["kind"] == "prediction")
    assert prediction["measure"] == "psi"
