"""``build_report`` and ``write_report``: sections, embedded PNGs, escaping, optional parts."""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor, __version__
from deepfit.errors import DataError, OutputExistsError
from deepfit.report.report import build_report, write_report

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
CORE = ("metrics", "fit", "learning", "importance", "settings")
CORE_PLOTS = 5  # predicted vs actual, residuals, histogram, learning curves, importance


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def test_every_section_and_one_embedded_png_per_plot(page: str, fitted: Regressor) -> None:
    assert fitted.calibration_ is not None  # so the intervals section is there too
    assert sections(page) == [*CORE[:4], "intervals", "settings"]
    images = IMG.findall(page)
    assert len(images) == CORE_PLOTS + 1 == page.count("<img ")
    for encoded in images:
        assert base64.b64decode(encoded, validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    for text in ("target: y", "rows: 120", f"deepfit {__version__}", "created_at", "best_epoch"):
        assert text in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page


def test_metrics_on_the_rows_match_the_model(
    page: str, fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = rows
    rmse = float(np.sqrt(np.mean((y.to_numpy() - fitted.predict(X)) ** 2)))
    assert f"<td>{rmse:.4g}</td>" in page


def test_training_metrics_beside_baselines_with_the_best_rmse_marked(
    fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]
) -> None:
    model = copy.copy(fitted)
    model.metrics_ = {
        "deepfit": {"test": {"rmse": 2.0, "mae": 1.0}, "train": {"rmse": 1.0}},
        "ridge": {"test": {"rmse": 3.0, "mae": 2.0}, "train": {"rmse": 0.5}},
    }
    page = build_report(model, *rows)
    assert '<th class="best">deepfit</th><th>ridge</th>' in page  # test split: deepfit wins
    assert '<th>deepfit</th><th class="best">ridge</th>' in page  # train split: ridge wins
    assert page.index("train split") < page.index("test split")


def test_optional_sections_appear_only_with_their_data(
    fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]
) -> None:
    plain = copy.copy(fitted)
    plain.calibration_ = None
    page = build_report(plain, *rows)
    assert sections(page) == list(CORE)
    assert len(IMG.findall(page)) == CORE_PLOTS

    rich = copy.copy(plain)
    rich.training_summary_ = {
        **fitted.training_summary_,
        "members": [{"epochs": 3}, {"epochs": 4}, {"epochs": 5}],
        "tuning": {  # the shape deepfit.tuning.search stores
            "trials": {"complete": 9, "pruned": 3},
            "best_validation_rmse": 1.5,
            "default_validation_rmse": 2.5,
            "importances": {"learning_rate": 0.6, "<b>dropout</b>": 0.4},
            "history": [
                {"trial": 0, "state": "complete", "value": 2.5},
                {"trial": 1, "state": "pruned", "value": None},
                {"trial": 2, "state": "complete", "value": 1.5},
            ],
        },
    }
    rich.predict_spread = lambda X: np.full(len(X), 0.25)  # type: ignore[attr-defined]
    page = build_report(rich, *rows)
    assert sections(page) == [*CORE[:4], "ensemble", "tuning", "settings"]
    # spread, search history, parameter importances
    assert len(IMG.findall(page)) == CORE_PLOTS + 3
    assert "Ensemble of 3 members." in page
    assert "<td>12</td>" in page
    assert "<td>1.5</td>" in page
    assert "<td>2.5</td>" in page
    assert "&lt;b&gt;dropout&lt;/b&gt;" in page
    assert "<b>dropout" not in page


def test_user_strings_are_escaped() -> None:
    column, target = "<script>alert(1)</script>", '<img src=x onerror="alert(2)">'
    rng = np.random.default_rng(0)
    X = pd.DataFrame({column: rng.normal(size=80), "other": rng.normal(size=80)})
    y = pd.Series(2.0 * X[column], name=target)
    model = Regressor(model="mlp", hidden_layers=(8,), max_epochs=3, batch_size=32).fit(X, y)
    page = build_report(model, X, y, title="<i>my</i> report")
    assert "<script" not in page
    assert "onerror" not in page.replace("onerror=&quot;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;i&gt;my&lt;/i&gt; report" in page
    assert page.count("<img ") == len(IMG.findall(page))


def test_bad_rows_are_data_errors(fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = rows
    with pytest.raises(DataError, match="rows but y has"):
        build_report(fitted, X, y.head(10))
    with pytest.raises(DataError, match="lacks feature column"):
        build_report(fitted, X.drop(columns="x1"), y)


def test_write_report_never_overwrites_unless_asked(
    tmp_path: Path, fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]
) -> None:
    path = tmp_path / "report.html"
    path.write_text("old")
    with pytest.raises(OutputExistsError, match="already exists"):
        write_report(fitted, *rows, path)
    assert path.read_text() == "old"
    assert write_report(fitted, *rows, path, overwrite=True) == path
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left
