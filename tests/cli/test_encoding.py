"""``--encoding``: CSV files that are not UTF-8 train, predict and evaluate (issue 17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support.cli import assert_one_line_error, invoke

TINY = ["--model", "mlp", "--hidden-layers", "8", "--max-epochs", "2", "--quiet"]


@pytest.fixture(scope="module")
def latin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n_rows = 60
    frame = pd.DataFrame(
        {
            "ville": rng.choice(["Besançon", "Orléans", "Nîmes"], size=n_rows),
            "x": rng.normal(size=n_rows),
        }
    )
    frame["y"] = 2.0 * frame["x"] + frame["ville"].map(
        {"Besançon": 1.0, "Orléans": 0.0, "Nîmes": -1.0}
    )
    path = tmp_path_factory.mktemp("encoding") / "villes.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    return path


def test_a_latin1_file_without_encoding_is_one_line_naming_the_option(
    latin: Path, tmp_path: Path
) -> None:
    result = invoke("train", latin, "--target", "y", "--out", tmp_path / "m.deepfit", *TINY)
    assert_one_line_error(result, "not UTF-8", "--encoding latin-1")


def test_an_unknown_encoding_is_one_line(latin: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.deepfit"
    result = invoke("train", latin, "--target", "y", "--out", out, "--encoding", "klingon", *TINY)
    assert_one_line_error(result, "unknown text encoding 'klingon'")


def test_train_predict_and_evaluate_read_the_named_encoding(latin: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.deepfit"
    args = ["--encoding", "latin-1"]
    trained = invoke(
        "train", latin, "--target", "y", "--out", model, "--no-baselines", *TINY, *args
    )
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "p.csv"
    predicted = invoke("predict", model, latin, "--out", out, "--with-input", *args)
    assert predicted.exit_code == 0, predicted.output
    assert set(pd.read_csv(out)["ville"]) == {"Besançon", "Orléans", "Nîmes"}
    streamed = tmp_path / "s.csv"
    result = invoke("predict", model, latin, "--out", streamed, "--memory-budget", "1", *args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(streamed)) == 60
    evaluated = invoke("evaluate", model, latin, *args)
    assert evaluated.exit_code == 0, evaluated.output
    assert_one_line_error(invoke("predict", model, latin), "--encoding latin-1")
