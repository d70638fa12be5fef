"""``write_backtest_report`` and ``deepfit backtest --report``: one self-contained page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit.errors import OutputExistsError
from deepfit.estimator.backtest import Backtest
from deepfit.report.forecast import write_backtest_report
from tests.support.cli import assert_one_line_error, invoke
from tests.support.series import make_series

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
MODELS = ("deepfit", "naive", "seasonal_naive", "lightgbm_lags")
HORIZON = 4


def assert_self_contained(page: str) -> int:
    """Every image is an embedded PNG and nothing is loaded or run; the number of images."""
    images = IMG.findall(page)
    assert len(images) == page.count("<img ")
    for encoded in images:
        assert base64.b64decode(encoded, validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    return len(images)


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def make_backtest(series: int = 4, *, intervals: bool = True) -> Backtest:
    """Two origins of ``HORIZON`` hourly steps per series, forecasts off by a little."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(series):
        for window, first in enumerate((8, 12)):
            times = pd.date_range("2024-01-01", periods=20, freq="h")
            for step in range(1, HORIZON + 1):
                actual = 10.0 * (index + 1) + np.sin(first + step)
                rows.append(
                    {
                        "id": f"s{index}",
                        "origin": times[first - 1],
                        "timestamp": times[first + step - 1],
                        "step": step,
                        "load": actual,
                        **{f"predicted_{m}": actual + rng.normal(0, 0.3) for m in MODELS},
                        "window": window,
                    }
                )
    forecasts = pd.DataFrame(rows).drop(columns="window")
    if intervals:
        forecasts["lower"] = forecasts["predicted_deepfit"] - 0.5
        forecasts["upper"] = forecasts["predicted_deepfit"] + 0.5
    by_step = {"mae": [0.1 * s for s in range(1, HORIZON + 1)], "rmse": [0.2] * HORIZON}
    metrics = {
        model: {"mae": 0.25, "rmse": 0.3, "smape": 2.0, "mape": None, "mase": 0.8,
                "by_step": by_step, "n_scored": len(forecasts)}
        for model in MODELS
    }  # fmt: skip
    return Backtest(
        metrics=metrics,
        forecasts=forecasts,
        coverage=0.875 if intervals else None,
        interval=0.9 if intervals else None,
        season=24,
        training=[{"epochs": 7, "best_epoch": 5, "seconds": 1.234, "stop_reason": "early_stop"}],
    )


def test_the_page_holds_metrics_forecasts_steps_and_training(tmp_path: Path) -> None:
    path = write_backtest_report(
        make_backtest(), None, tmp_path / "bt.html", target="load", time="timestamp", series="id"
    )
    page = path.read_text(encoding="utf-8")
    assert sections(page) == ["metrics", "forecast", "steps", "training"]
    assert assert_self_contained(page) == 3 + 1  # the first three series, then the steps
    for model in MODELS:
        assert f"<td>{model}</td>" in page
    assert "0.9 intervals held 87.5% of the actual values" in page
    assert "Shown: the first 3 of 4 series." in page
    assert "series s2: forecast" in page
    assert "series s3" not in page
    assert "<td>early_stop</td>" in page
    assert "<td>1.234</td>" in page
    assert [p.name for p in tmp_path.iterdir()] == ["bt.html"]  # no temporary left


def test_one_series_without_intervals_draws_its_history(tmp_path: Path) -> None:
    result = make_backtest(1, intervals=False)
    result.forecasts = result.forecasts.drop(columns="id")
    history = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=20, freq="h").astype(str),
            "load": np.arange(20.0),
        }
    )
    path = write_backtest_report(
        result, history, tmp_path / "bt.html", target="load", time="timestamp", series=None
    )
    page = path.read_text(encoding="utf-8")
    assert assert_self_contained(page) == 2
    assert "No intervals were measured." in page
    assert "series:" not in page


def test_an_existing_report_is_replaced_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "bt.html"
    path.write_text("old")
    args = {"target": "load", "time": "timestamp", "series": "id"}
    with pytest.raises(OutputExistsError, match="already exists"):
        write_backtest_report(make_backtest(), None, path, **args)
    assert path.read_text() == "old"
    write_backtest_report(make_backtest(), None, path, **args, overwrite=True)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_backtest_report_on_the_command_line(tmp_path: Path) -> None:
    data, report = tmp_path / "series.csv", tmp_path / "bt.html"
    make_series(200).to_csv(data, index=False)
    command = (
        "backtest", data, "--target", "load", "--time", "timestamp", "--horizon", "6",
        "--lookback", "24", "--hidden", "16", "--max-epochs", "2", "--time-limit", "none",
        "--windows", "2", "--quiet", "--report", report,
    )  # fmt: skip
    result = invoke(*command)
    assert result.exit_code == 0, result.output
    assert f"wrote the backtest report to {report}" in result.stderr
    page = report.read_text(encoding="utf-8")
    assert assert_self_contained(page) == 2
    for model in ("deepfit", "naive", "seasonal_naive"):
        assert f"<td>{model}</td>" in page
    assert "0.9 intervals held" in page

    report.write_text("keep me")
    assert_one_line_error(invoke(*command), "already exists", "--force")
    assert report.read_text() == "keep me"
