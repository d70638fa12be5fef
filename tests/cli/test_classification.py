"""Every command on a classifier: train infers the task, then predict, evaluate, info, report,
explain, export and serve speak labels and probabilities."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from deepfit import Classifier, load
from deepfit.export import onnx_feed, onnx_predict, onnx_session
from deepfit.serve import create_app
from tests.support.cli import assert_one_line_error, invoke
from tests.support.tables import make_label_table

OPTIONS = ["--model", "mlp", "--hidden-layers", "16", "--max-epochs", "15", "--quiet"]


@dataclass(frozen=True)
class Trained:
    data: Path
    model: Path
    stdout: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    folder = tmp_path_factory.mktemp("classification")
    data = folder / "churn.csv"
    make_label_table(300, seed=0).rename(columns={"label": "churned"}).to_csv(data, index=False)
    model = folder / "churn.deepfit"
    result = invoke("train", data, "--target", "churned", "--out", model, *OPTIONS)
    assert result.exit_code == 0, result.output
    return Trained(data, model, result.stdout)


def test_train_infers_classification_says_how_to_override_and_scores_beside_baselines(
    trained: Trained,
) -> None:
    assert (
        "task: classification (target 'churned' has 2 labels: no, yes); use --task "
        "regression to override" in trained.stdout
    )
    for baseline in ("majority", "logistic", "tree", "lightgbm"):
        assert baseline in trained.stdout
    for metric in ("accuracy", "log-loss", "ROC AUC", "Brier"):
        assert metric in trained.stdout
    assert isinstance(load(trained.model), Classifier)


def test_predict_writes_labels_probabilities_and_sets_as_csv_or_parquet(
    trained: Trained, tmp_path: Path
) -> None:
    out = tmp_path / "p.parquet"
    result = invoke("predict", trained.model, trained.data, "--interval", "0.9", "--out", out)
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table.columns) == ["predicted_churned", "proba_no", "proba_yes", "set_churned"]
    np.testing.assert_allclose(table[["proba_no", "proba_yes"]].sum(axis=1), 1.0, atol=1e-9)
    assert set(table["predicted_churned"]) <= {"no", "yes"}
    assert set(table["set_churned"]) <= {"", "no", "yes", "no|yes"}
    text = invoke("predict", trained.model, trained.data)
    assert text.stdout.splitlines()[0] == "predicted_churned,proba_no,proba_yes"


def test_evaluate_and_info_speak_json(trained: Trained) -> None:
    result = invoke("evaluate", trained.model, trained.data, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["task"] == "classification"
    assert 0.5 < document["metrics"]["accuracy"] <= 1.0
    assert document["metrics"]["log_loss"] > 0
    info = json.loads(invoke("info", trained.model, "--json").stdout)
    assert info["task"] == "classification"
    assert info["target_encoding"]["classes"] == ["no", "yes"]
    assert "predicts 'churned' (classification)" in invoke("info", trained.model).stdout


def test_evaluate_with_cross_validation_uses_stratified_folds(trained: Trained) -> None:
    result = invoke("evaluate", trained.model, trained.data, "--cv", 2, "--no-baselines")
    assert result.exit_code == 0, result.output
    assert "log-loss" in result.stdout
    assert "fold 2/2: deepfit log-loss" in result.stderr


def test_report_has_the_classification_sections(trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert invoke("report", trained.model, trained.data, "--out", out).exit_code == 0
    page = out.read_text()
    for title in ("Confusion matrix", "Reliability", "Per-class metrics", "Prediction sets"):
        assert title in page
    assert "Residuals" not in page


def test_explain_uses_log_loss_and_the_predicted_class(trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "explain"
    result = invoke("explain", trained.model, trained.data, "--out", out, "--rows", 40)
    assert result.exit_code == 0, result.output
    assert "permutation Δlog-loss" in result.stdout
    attributions = pd.read_csv(out / "attributions.csv")
    assert attributions["prediction"].between(0.5, 1.0).all()  # its predicted class's
    total = attributions[["x1", "x2", "colour", "flag", "day"]].sum(axis=1)
    np.testing.assert_allclose(
        total + attributions["baseline_prediction"], attributions["prediction"], atol=0.02
    )


def test_export_gives_the_probabilities(trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "churn.onnx"
    result = invoke("export", trained.model, "--onnx", out, "--data", trained.data)
    assert result.exit_code == 0, result.output
    assert "log-loss" not in result.stdout or "accuracy" in result.stdout
    model = load(trained.model)
    rows = pd.read_csv(trained.data).drop(columns="churned").head(30)
    session = onnx_session(out)
    assert [output.name for output in session.get_outputs()] == ["probabilities"]
    np.testing.assert_allclose(
        onnx_predict(session, onnx_feed(session, rows)), model.predict_proba(rows), atol=1e-5
    )


def test_serve_answers_labels_probabilities_and_sets(trained: Trained) -> None:
    client = TestClient(create_app(trained.model))
    rows = pd.read_csv(trained.data).drop(columns="churned").head(3)
    body = json.loads(rows.to_json(orient="records"))
    answer = client.post("/predict?interval=0.9", json=body).json()
    assert answer["classes"] == ["no", "yes"]
    assert set(answer["predictions"]) <= {"no", "yes"}
    np.testing.assert_allclose(np.sum(answer["probabilities"], axis=1), 1.0, atol=1e-9)
    assert all(set(labels) <= {"no", "yes"} for labels in answer["sets"])
    assert client.get("/metadata").json()["task"] == "classification"


def test_asking_for_regression_on_labels_is_a_one_line_error(
    trained: Trained, tmp_path: Path
) -> None:
    result = invoke(
        "train", trained.data, "--target", "churned", "--task", "regression",
        "--out", tmp_path / "x.deepfit", *OPTIONS,
    )  # fmt: skip
    assert_one_line_error(result, "must be numeric for regression", "--task classification")


def test_a_numeric_label_column_can_be_classified_on_request(tmp_path: Path) -> None:
    frame = make_label_table(200, seed=1, classes=3)
    frame["grade"] = frame.pop("label").map({"low": 1, "mid": 2, "high": 3})
    data = tmp_path / "grades.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "g.deepfit"
    inferred = invoke("train", data, "--target", "grade", "--out", out, *OPTIONS, "--no-baselines")
    assert "task: regression" in inferred.stdout
    assert "may be classes: pass --task classification" in inferred.stderr
    asked = invoke(
        "train", data, "--target", "grade", "--task", "classification", "--out", out,
        "--force", *OPTIONS, "--no-baselines",
    )  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert load(out).classes_.tolist() == [1, 2, 3]


def test_a_label_seen_once_is_left_out_and_a_single_class_is_a_one_line_error(
    tmp_path: Path,
) -> None:
    frame = make_label_table(60, seed=2)
    frame.loc[7, "label"] = "maybe"
    data = tmp_path / "once.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "m.deepfit"
    result = invoke("train", data, "--target", "label", "--out", out, *OPTIONS, "--no-baselines")
    assert result.exit_code == 0, result.output
    assert "left out 1 row whose class appears in no other row ('maybe')" in result.stderr
    assert "maybe" not in load(out).classes_.tolist()
    frame["label"] = [f"name {i}" for i in range(60)]  # a name on every row: nothing to learn
    frame.to_csv(data, index=False)
    named = invoke("train", data, "--target", "label", "--out", out, "--force", *OPTIONS)
    assert_one_line_error(named, "has 60 labels in 60 rows", "choose another target column")
    frame["label"] = "yes"
    frame["flag"] = ["yes", "no"] * 30  # so the target is not inferred as a constant number
    frame.to_csv(data, index=False)
    out.unlink()
    single = invoke("train", data, "--target", "label", "--task", "classification", "--out", out)
    assert_one_line_error(single, "only one class ('yes')", "a classifier needs at least two")
    assert not out.exists()
