"""``deepfit report MODEL DATA`` and ``deepfit train --report`` end to end."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import assert_one_line_error, invoke
from tests.support.tables import make_table


def test_report_writes_the_page(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke("report", *files, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote the report on 120 rows to {out}" in result.stdout
    assert result.stderr == ""
    page = out.read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 6
    assert "model created_at" in page


def test_no_overwrite_without_force(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("keep me")
    assert_one_line_error(invoke("report", *files, "--out", out), "already exists", "--force")
    assert out.read_text() == "keep me"
    assert invoke("report", *files, "--out", out, "--force").exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_data_without_the_target_is_a_one_line_error(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = files
    unlabelled = tmp_path / "unlabelled.csv"
    make_table(n_rows=30).drop(columns="y").to_csv(unlabelled, index=False)
    out = tmp_path / "report.html"
    assert_one_line_error(invoke("report", model, unlabelled, "--out", out), "no target column 'y'")
    assert_one_line_error(
        invoke("report", model, data, "--target", "nope", "--out", out), "no target column 'nope'"
    )
    assert_one_line_error(invoke("report", tmp_path / "missing.deepfit", data, "--out", out))
    assert not out.exists()


def test_train_with_report_writes_it_on_the_test_split(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    make_table(n_rows=200).to_csv(data, index=False)
    out, report = tmp_path / "m.deepfit", tmp_path / "train_report.html"
    result = invoke(
        "train", data, "--target", "y", "--out", out, "--report", report, "--quiet",
        "--model", "mlp", "--hidden-layers", "16", "--max-epochs", "5", "--no-baselines",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote the report on 30 test rows to {report}" in result.stdout
    page = report.read_text(encoding="utf-8")
    assert "rows: 30" in page
    assert "test split" in page  # the training-time metrics, per split
    assert out.exists()


def test_train_refuses_an_existing_report_before_training(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    make_table(n_rows=60).to_csv(data, index=False)
    report = tmp_path / "r.html"
    report.write_text("old")
    result = invoke("train", data, "--target", "y", "--out", tmp_path / "m.deepfit",
                    "--report", report)  # fmt: skip
    assert_one_line_error(result, "already exists")
    assert not (tmp_path / "m.deepfit").exists()
