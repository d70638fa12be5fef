"""The ``deepfit`` command line: train, predict, evaluate, info, and one-line errors."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import deepfit
from deepfit.cli import app
from tests.support.tables import make_table

FAST_OPTIONS = ["--model", "mlp", "--hidden-layers", "16", "--max-epochs", "5", "--quiet"]


def invoke(*args: object) -> Result:
    # Typer 0.29's CliRunner has no mix_stderr: result.stdout and result.stderr are kept
    # apart, and result.output holds both as a user would see them.
    return CliRunner().invoke(app, [str(arg) for arg in args])


def train_args(data: Path, out: Path, *extra: object, baselines: bool = False) -> list[object]:
    args: list[object] = ["train", data, "--target", "y", "--out", out, *FAST_OPTIONS]
    if not baselines:
        args.append("--no-baselines")
    return [*args, *extra]


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.output
    assert "Traceback" not in result.output


def assert_error(result: Result, *fragments: str) -> str:
    """Exit status 1 and exactly one line, 'error: ...', on standard error; no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ")
    assert line.removeprefix("error:").strip()
    assert "unexpected" not in line, line
    for fragment in fragments:
        assert fragment in line, line
    return line


@dataclass(frozen=True)
class Trained:
    folder: Path
    table: pd.DataFrame
    data: Path
    model: Path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One model trained by the CLI and shared by the tests; they must not change its files."""
    folder = tmp_path_factory.mktemp("cli")
    table = make_table()
    data = folder / "table.csv"
    table.to_csv(data, index=False)
    model = folder / "model.deepfit"
    result = invoke(*train_args(data, model))
    assert_ok(result)
    return Trained(folder=folder, table=table, data=data, model=model)


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------- train
def test_train_writes_a_model_and_reports_metrics(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "model.deepfit"
    result = invoke(*train_args(trained.data, out))
    assert_ok(result)
    assert out.is_file()
    assert "RMSE" in result.stdout
    assert f"saved model to {out}" in result.stdout
    assert "lightgbm" not in result.stdout
    model = deepfit.load(out)
    assert model.target_name_ == "y"
    assert model.hidden_layers == (16,)
    assert model.training_summary_["epochs"] == 5


def test_train_shows_the_baselines(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "model.deepfit"
    result = invoke(*train_args(trained.data, out, baselines=True))
    assert_ok(result)
    assert "deepfit beside baselines" in result.stdout
    for baseline in ("mean", "ridge", "tree", "lightgbm"):
        assert baseline in result.stdout
    assert set(deepfit.load(out).metrics_) == {"deepfit", "mean", "ridge", "tree", "lightgbm"}


def test_train_with_a_validation_file(tmp_path: Path, trained: Trained) -> None:
    validation = write_csv(tmp_path / "other.csv", make_table(n_rows=90, seed=1))
    out = tmp_path / "model.deepfit"
    result = invoke(*train_args(trained.data, out, "--validation", validation))
    assert_ok(result)
    assert "90 validation" in result.stdout
    model = deepfit.load(out)
    assert model.training_summary_["validation_rows"] == 90
    assert model.training_summary_["train_rows"] + 60 == len(trained.table)  # 15% test


def test_role_options_change_the_schema(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "model.deepfit"
    result = invoke(*train_args(trained.data, out, "--categorical", "flag", "--drop", "day,x2"))
    assert_ok(result)
    roles = {c.name: c.role for c in deepfit.load(out).preprocessor_.schema.columns}
    assert roles == {
        "x1": "numeric",
        "x2": "drop",
        "colour": "categorical",
        "flag": "categorical",
        "day": "drop",
    }
    default = {c.name: c.role for c in deepfit.load(trained.model).preprocessor_.schema.columns}
    assert default == {
        "x1": "numeric",
        "x2": "numeric",
        "colour": "categorical",
        "flag": "boolean",
        "day": "datetime",
    }


# ----------------------------------------------------------------- predict, evaluate, info
def test_predict_to_a_file(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "predictions.csv"
    result = invoke("predict", trained.model, trained.data, "--out", out)
    assert_ok(result)
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["predicted_y"]
    assert len(predictions) == len(trained.table)
    assert predictions["predicted_y"].notna().all()
    assert f"wrote {len(trained.table)} predictions" in result.stderr
    expected = deepfit.load(trained.model).predict(trained.table.drop(columns="y"))
    assert predictions["predicted_y"].to_numpy() == pytest.approx(expected, rel=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"]


def test_predict_to_standard_output(trained: Trained) -> None:
    result = invoke("predict", trained.model, trained.data)
    assert_ok(result)
    predictions = pd.read_csv(io.StringIO(result.stdout))
    assert list(predictions.columns) == ["predicted_y"]
    assert len(predictions) == len(trained.table)


def test_predict_with_input_keeps_the_columns(trained: Trained) -> None:
    result = invoke("predict", trained.model, trained.data, "--with-input")
    assert_ok(result)
    predictions = pd.read_csv(io.StringIO(result.stdout))
    assert list(predictions.columns) == [*trained.table.columns, "predicted_y"]
    assert len(predictions) == len(trained.table)
    assert predictions["x1"].to_numpy() == pytest.approx(trained.table["x1"].to_numpy())


def test_predict_refuses_to_replace_an_output_without_force(
    tmp_path: Path, trained: Trained
) -> None:
    out = tmp_path / "predictions.csv"
    out.write_text("keep me\n")
    assert_error(invoke("predict", trained.model, trained.data, "--out", out), "already exists")
    assert out.read_text() == "keep me\n"
    assert_ok(invoke("predict", trained.model, trained.data, "--out", out, "--force"))
    assert list(pd.read_csv(out).columns) == ["predicted_y"]


def test_evaluate_prints_metrics(trained: Trained) -> None:
    result = invoke("evaluate", trained.model, trained.data)
    assert_ok(result)
    assert "RMSE" in result.stdout
    assert "R²" in result.stdout
    assert f"{len(trained.table)} rows" in result.stdout


def test_evaluate_scores_the_labelled_rows_and_counts_the_others(
    tmp_path: Path, trained: Trained
) -> None:
    table = trained.table.copy()
    table.loc[:4, "y"] = np.nan
    data = tmp_path / "partly.csv"
    table.to_csv(data, index=False)
    result = invoke("evaluate", trained.model, data)
    assert_ok(result)
    assert f"left out 5 of {len(table)} rows whose target 'y' is empty" in result.output
    assert f"{len(table) - 5} rows" in result.stdout


def test_train_leaves_out_rows_without_a_target(tmp_path: Path) -> None:
    table = make_table(300)
    table.loc[[0, 7], "y"] = np.nan
    data = tmp_path / "partly.csv"
    table.to_csv(data, index=False)
    result = invoke(*train_args(data, tmp_path / "m.deepfit"))
    assert_ok(result)
    assert "left out 2 of 300 rows whose target 'y' is empty" in result.output


def test_info_prints_the_schema_and_training(trained: Trained) -> None:
    result = invoke("info", trained.model)
    assert_ok(result)
    assert "predicts 'y'" in result.stdout
    for column, role in [
        ("x1", "numeric"),
        ("x2", "numeric"),
        ("colour", "categorical"),
        ("flag", "boolean"),
        ("day", "datetime"),
    ]:
        assert any(column in line and role in line for line in result.stdout.splitlines())
    assert "training: 5 epochs" in result.stdout
    assert "model: mlp (16" in result.stdout
    assert "RMSE" in result.stdout


def test_unseen_categories_are_a_note_not_an_error(tmp_path: Path, trained: Trained) -> None:
    frame = trained.table.head(20).copy()
    frame.loc[[0, 3, 7], "colour"] = "purple"
    data = write_csv(tmp_path / "new.csv", frame)
    result = invoke("predict", trained.model, data)
    assert_ok(result)
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 20
    assert "note: 3 categorical value(s) were not seen in training" in result.stderr
    result = invoke("evaluate", trained.model, data)
    assert_ok(result)
    assert "note: 3 categorical value(s) were not seen in training" in result.stderr


# -------------------------------------------------------------------------- bad input
def test_missing_data_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"
    line = assert_error(invoke(*train_args(missing, tmp_path / "m.deepfit")), "file not found")
    assert str(missing) in line
    assert not (tmp_path / "m.deepfit").exists()


def test_empty_data_file(tmp_path: Path, trained: Trained) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert_error(invoke(*train_args(empty, tmp_path / "m.deepfit")), "is empty")
    assert_error(invoke("predict", trained.model, empty), "is empty")


def test_missing_target_column_lists_the_columns(tmp_path: Path, trained: Trained) -> None:
    args = train_args(trained.data, tmp_path / "m.deepfit")
    args[args.index("y")] = "price"
    assert_error(
        invoke(*args),
        "target column 'price' is not in the data",
        "x1, x2, colour, flag, day, y",
    )


def test_text_target(tmp_path: Path) -> None:
    frame = make_table(n_rows=60)
    frame["y"] = frame["y"].astype(object)
    frame.loc[5, "y"] = "expensive"
    data = write_csv(tmp_path / "data.csv", frame)
    assert_error(invoke(*train_args(data, tmp_path / "m.deepfit")), "must be numeric", "row 6")


def test_a_target_empty_in_every_row(tmp_path: Path) -> None:
    frame = make_table(n_rows=60)
    frame["y"] = float("nan")
    data = write_csv(tmp_path / "data.csv", frame)
    assert_error(invoke(*train_args(data, tmp_path / "m.deepfit")), "empty in all 60 row(s)")


def test_too_few_rows(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "data.csv", make_table(n_rows=3))
    assert_error(invoke(*train_args(data, tmp_path / "m.deepfit")), "too few")
    assert not (tmp_path / "m.deepfit").exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_text_in_a_numeric_column(tmp_path: Path, trained: Trained, command: str) -> None:
    frame = trained.table.head(20).copy()
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[4, "x1"] = "abc"
    data = write_csv(tmp_path / "new.csv", frame)
    assert_error(invoke(command, trained.model, data), "column 'x1' is numeric", "'abc'")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_missing_feature_columns(tmp_path: Path, trained: Trained, command: str) -> None:
    data = write_csv(tmp_path / "new.csv", trained.table.drop(columns=["x1", "colour"]))
    assert_error(invoke(command, trained.model, data), "lacks feature column(s) 'x1', 'colour'")


def test_model_path_exists_without_force(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "model.deepfit"
    out.write_bytes(b"an older model")
    assert_error(invoke(*train_args(trained.data, out)), "already exists", "--force")
    assert out.read_bytes() == b"an older model"
    result = invoke(*train_args(trained.data, out, "--force"))
    assert_ok(result)
    assert deepfit.load(out).target_name_ == "y"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.deepfit"]


@pytest.mark.parametrize("command", ["predict", "info", "evaluate"])
def test_corrupt_model_file(tmp_path: Path, trained: Trained, command: str) -> None:
    model = tmp_path / "bad.deepfit"
    model.write_bytes(trained.model.read_bytes()[:500])
    args = [command, model] if command == "info" else [command, model, trained.data]
    line = assert_error(invoke(*args), "not a deepfit model file")
    assert str(model) in line


def test_missing_model_file(tmp_path: Path, trained: Trained) -> None:
    assert_error(invoke("predict", tmp_path / "absent.deepfit", trained.data), "not found")


def test_unknown_model_name(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "m.deepfit"
    assert_error(
        invoke(*train_args(trained.data, out, "--model", "nope")),
        "--model must be 'auto' or one of mlp, resnet, ft_transformer, ensemble "
        "(regression/classification) or 'auto' or one of mlp, lstm, gru, tcn (forecasting) "
        "or 'auto' or one of resnet, cnn (image), however: 'nope'",
    )
    assert not out.exists()


def test_bad_hidden_layers_is_a_one_line_error(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "m.deepfit"
    args = train_args(trained.data, out)
    args[args.index("--hidden-layers") + 1] = "0,x"
    result = invoke(*args)
    assert_error(result, "--hidden-layers must be", "positive widths separated by commas", "'0,x'")
    assert result.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--activation", "nope", "--activation must be one of relu"),
        ("--loss", "nope", "--loss must be one of mse, mae, huber"),
        ("--optimizer", "nope", "--optimizer must be one of"),
        ("--schedule", "nope", "--schedule must be 'auto' or one of"),
        ("--lr", "-1", "--learning-rate must be 'auto' or a positive number, however: '-1'"),
    ],
)
def test_bad_setting_is_a_user_error(
    tmp_path: Path, trained: Trained, option: str, value: str, fragment: str
) -> None:
    """A bad setting is the user's ConfigError, not an 'unexpected' error to report."""
    out = tmp_path / "m.deepfit"
    assert_error(invoke(*train_args(trained.data, out, option, value)), fragment)
    assert not out.exists()


def test_version_is_shown() -> None:
    result = invoke("--version")
    assert_ok(result)
    assert result.stdout.strip() == f"deepfit {deepfit.__version__}"


def test_dropped_columns_are_noted_on_stderr(tmp_path: Path) -> None:
    frame = make_table(100)
    frame["country"] = "NL"
    data = write_csv(tmp_path / "with_constant.csv", frame)
    result = invoke(*train_args(data, tmp_path / "m.deepfit"))
    assert_ok(result)
    assert "note: dropped column 'country': constant" in result.stderr


def test_train_checkpoints_and_refuses_to_resume_with_other_settings(
    tmp_path: Path, trained: Trained
) -> None:
    folder = tmp_path / "run"
    first = invoke(*train_args(trained.data, tmp_path / "a.deepfit", "--checkpoint-dir", folder))
    assert_ok(first)
    assert (folder / "checkpoint.safetensors").exists()
    again = invoke(
        *train_args(
            trained.data,
            tmp_path / "b.deepfit",
            "--checkpoint-dir",
            folder,
            "--resume",
            "--lr",
            0.01,
        )
    )
    assert_error(again, "learning_rate 0.001 then, 0.01 now", "--checkpoint-dir", "--resume")
    assert not (tmp_path / "b.deepfit").exists()


def test_train_resume_without_a_checkpoint_notes_a_fresh_start(
    tmp_path: Path, trained: Trained
) -> None:
    folder = tmp_path / "empty"
    result = invoke(
        *train_args(trained.data, tmp_path / "m.deepfit", "--checkpoint-dir", folder, "--resume")
    )
    assert_ok(result)
    assert "note: no checkpoint in" in result.stderr
    assert (folder / "checkpoint.safetensors").exists()


def test_train_fine_tunes_a_saved_model(tmp_path: Path, trained: Trained) -> None:
    import torch

    frame = make_table(150, seed=7)
    frame["y"] += 30.0
    new = write_csv(tmp_path / "new.csv", frame)
    out = tmp_path / "tuned.deepfit"
    result = invoke(
        *train_args(
            new, out, "--init-from", trained.model, "--train-last", 1, "--hidden-layers", 64
        )
    )
    assert_ok(result)
    assert "model: mlp (16, relu" in result.stdout  # the old model's, not --hidden-layers 64
    tuned, old = deepfit.load(out), deepfit.load(trained.model)
    assert tuned.settings_["hidden_layers"] == old.settings_["hidden_layers"] == (16,)
    assert tuned.training_summary_["train_last"] == 1
    first_layer = "backbone.layers.0.weight"  # frozen
    assert torch.equal(
        tuned.network_.state_dict()[first_layer], old.network_.state_dict()[first_layer]
    )

    other = write_csv(tmp_path / "other.csv", frame.drop(columns=["colour"]))
    failed = invoke(*train_args(other, tmp_path / "x.deepfit", "--init-from", trained.model))
    assert_error(failed, "lacks 'colour'", "--init-from")


# ------------------------------------------------------------------- evaluate --cv
def table_lines(stdout: str) -> list[str]:
    """The table's lines, without the caption that holds the seconds taken."""
    return [line for line in stdout.splitlines() if "seed" not in line]


def test_evaluate_cv_prints_mean_and_std_beside_the_baselines(trained: Trained) -> None:
    result = invoke("evaluate", trained.model, trained.data, "--cv", 3)
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "table.csv: model.deepfit's settings retrained on 3 folds of 400 rows, " + (
        "predicting 'y'; scores on the held-out fold"
    )
    header = next(line for line in lines if "metric" in line)
    columns = ["deepfit", "mean", "ridge", "tree", "lightgbm"]
    positions = [header.find(f" {name} ") for name in columns]
    assert min(positions) > 0, header
    assert positions == sorted(positions), header
    for label in ("RMSE", "MAE", "median AE", "R²", "MAPE", "MSE"):
        row = next(line for line in lines if line.startswith(f"│ {label} "))
        assert row.count("±") == len(columns), row  # a cell too wide for 80 columns wraps
    assert "3 folds, seed 0," in result.stdout
    progress = result.stderr.splitlines()
    assert [line.split(" RMSE ")[0] for line in progress] == [
        f"fold {k}/3: deepfit" for k in (1, 2, 3)
    ]


def test_evaluate_cv_retrains_the_models_settings_on_its_columns(
    tmp_path: Path, trained: Trained
) -> None:
    from deepfit.evaluation.crossval import cross_validate, retraining_params
    from deepfit.report.console import format_value

    args = ["--cv", 2, "--seed", 3, "--no-baselines"]
    first = invoke("evaluate", trained.model, trained.data, *args)
    assert_ok(first)
    assert "ridge" not in first.stdout
    assert "2 folds, seed 3," in first.stdout
    # a column the model was not trained on is left out, so the numbers do not change
    noise = np.random.default_rng(0).normal(size=len(trained.table))
    noisy = write_csv(tmp_path / "noisy.csv", trained.table.assign(noise=noise))
    second = invoke("evaluate", trained.model, noisy, *args)
    assert_ok(second)
    assert table_lines(second.stdout)[1:] == table_lines(first.stdout)[1:]
    expected = cross_validate(
        trained.table,
        target="y",
        folds=2,
        seed=3,
        baselines=False,
        **retraining_params(deepfit.load(trained.model)),
    ).summary["deepfit"]["rmse"]
    rmse = next(line for line in first.stdout.splitlines() if line.startswith("│ RMSE "))
    assert f"{format_value('rmse', expected.mean)} ± {format_value('rmse', expected.std)}" in rmse


def test_evaluate_cv_writes_no_checkpoints_of_the_model(tmp_path: Path, trained: Trained) -> None:
    folder = tmp_path / "run"
    model = tmp_path / "m.deepfit"
    assert_ok(invoke(*train_args(trained.data, model, "--checkpoint-dir", folder)))
    (folder / "checkpoint.safetensors").unlink()
    folder.rmdir()
    assert_ok(invoke("evaluate", model, trained.data, "--cv", 2, "--no-baselines"))
    assert not folder.exists()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1", "at least 2 folds (--cv), however: 1"),
        ("0", "at least 2 folds (--cv), however: 0"),
        ("-2", "at least 2 folds (--cv), however: -2"),
        ("401", "401 folds need at least 401 rows, but the data has 400; use fewer folds"),
    ],
)
def test_evaluate_bad_cv_is_a_one_line_error(trained: Trained, value: str, fragment: str) -> None:
    result = invoke("evaluate", trained.model, trained.data, "--cv", value)
    assert_error(result, fragment)
    assert result.stdout == ""


@pytest.mark.parametrize("option", [["--seed", "1"], ["--no-baselines"]])
def test_evaluate_cv_options_without_cv_are_an_error(trained: Trained, option: list[str]) -> None:
    assert_error(invoke("evaluate", trained.model, trained.data, *option), "only with --cv")


def test_evaluate_cv_needs_the_models_columns(tmp_path: Path, trained: Trained) -> None:
    data = write_csv(tmp_path / "new.csv", trained.table.drop(columns=["x1"]))
    assert_error(invoke("evaluate", trained.model, data, "--cv", 2), "lacks feature column(s) 'x1'")


# ------------------------------------------------------------------ prediction intervals
def test_predict_with_an_interval_adds_the_bounds(tmp_path: Path, trained: Trained) -> None:
    out = tmp_path / "predictions.csv"
    result = invoke("predict", trained.model, trained.data, "--interval", "0.9", "--out", out)
    assert_ok(result)
    table = pd.read_csv(out)
    assert list(table.columns) == ["predicted_y", "lower_y", "upper_y"]
    expected = deepfit.load(trained.model).predict(trained.table.drop(columns="y"), interval=0.9)
    assert table["lower_y"].to_numpy() == pytest.approx(expected.lower, rel=1e-9)
    assert table["upper_y"].to_numpy() == pytest.approx(expected.upper, rel=1e-9)
    assert (table["lower_y"] < table["predicted_y"]).all()
    assert (table["predicted_y"] < table["upper_y"]).all()
    with_input = invoke("predict", trained.model, trained.data, "--interval", "0.5", "--with-input")
    assert_ok(with_input)
    columns = list(pd.read_csv(io.StringIO(with_input.stdout)).columns)
    assert columns == [*trained.table.columns, "predicted_y", "lower_y", "upper_y"]


@pytest.mark.parametrize(
    ("level", "words"),
    [("0", "between 0 and 1"), ("1.5", "between 0 and 1"), ("0.999", "calibration rows")],
)
def test_predict_with_a_bad_interval_is_one_line(
    tmp_path: Path, trained: Trained, level: str, words: str
) -> None:
    out = tmp_path / "predictions.csv"
    assert_error(
        invoke("predict", trained.model, trained.data, "--interval", level, "-o", out), words
    )
    assert not out.exists()


def test_predict_with_an_interval_needs_a_calibrated_model(
    tmp_path: Path, trained: Trained
) -> None:
    X, y = trained.table.drop(columns="y"), trained.table["y"]
    model = deepfit.Regressor(model="mlp", hidden_layers=(8,), max_epochs=2, patience=None).fit(
        X, y
    )
    path = model.save(tmp_path / "uncalibrated.deepfit")
    assert_error(
        invoke("predict", path, trained.data, "--interval", "0.9"), "no prediction intervals"
    )
    assert_ok(invoke("predict", path, trained.data))
