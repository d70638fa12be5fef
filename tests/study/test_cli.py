"""``deepfit study`` end to end, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from deepfit.cli import app

runner = CliRunner()


def write(frame: pd.DataFrame, folder: Path) -> str:
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_study_writes_tables_and_plots_per_factor(small: pd.DataFrame, tmp_path: Path) -> None:
    data, out = write(small, tmp_path), tmp_path / "study"
    arguments = ["study", data, "--target", "y", "--vary", "activation=relu,tanh"]
    arguments += ["--vary", "features=x1+x2,drop:colour", "--seeds", "0,1", "--out", str(out)]
    arguments += ["--set", "max_epochs=3", "--set", "hidden_layers=8", "--set", "batch_size=32"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "activation 4/4" in result.output
    assert "features: test metrics" in result.output
    names = {path.name for path in out.iterdir()}
    for factor in ["activation", "features"]:
        assert {f"{factor}{end}" for end in [".md", ".csv", "_runs.csv", ".png"]} <= names
        assert pd.read_csv(out / f"{factor}.csv")["value"].tolist() in (
            ["relu", "tanh"],
            ["x1+x2", "drop:colour"],
        )
    readme = (out / "README.md").read_text()
    assert "deepfit study" in readme
    assert "--vary activation=relu,tanh" in readme

    again = runner.invoke(app, arguments)
    assert again.exit_code == 1
    assert "--force" in again.output


def test_bad_factor_is_one_line_listing_the_factors(small: pd.DataFrame, tmp_path: Path) -> None:
    data = write(small, tmp_path)
    result = runner.invoke(app, ["study", data, "--target", "y", "--vary", "speed=1,2"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "error: unknown factor 'speed'" in result.output
    assert "learning_rate" in result.output
    for bad in ["width=wide", "learning_rate", "learning_rate="]:
        result = runner.invoke(app, ["study", data, "--target", "y", "--vary", bad])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error:"), result.output
    assert not (tmp_path / "study").exists()
