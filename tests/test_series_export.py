"""ONNX export of a forecaster's network: inputs, metadata that rebuilds forecasts, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from deepfit import Forecaster
from deepfit.errors import ArtifactError, OutputExistsError
from deepfit.estimator.forecasting import forecast_arrays
from deepfit.export.series import export_forecaster
from deepfit.kinds.series.panel import read_panel
from deepfit.kinds.series.windows import WindowSource, series_origins
from tests.support.cli import assert_one_line_error, invoke
from tests.support.series import make_series

HORIZON, LOOKBACK = 6, 24
TINY = {"lookback": LOOKBACK, "hidden": 16, "max_epochs": 3, "time_limit": None}


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first 190 steps of two series, and the temperature of the 6 steps after them."""
    frame = make_series(200, series=2)
    history = frame.groupby("id").head(190).reset_index(drop=True)
    future = frame.groupby("id").nth(list(range(190, 196)))[["id", "timestamp", "temperature"]]
    return history, future.reset_index(drop=True)


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    frame = make_series(200, series=2)
    model = Forecaster(HORIZON, **TINY)
    return model.fit(frame, target="load", time="timestamp", series="id", known=["temperature"])


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _torch_forecast(
    network: torch.nn.Module, batch: dict[str, torch.Tensor], names: tuple[str, ...]
) -> np.ndarray:
    """The network's own output for ``batch``, on the device it trained on (a GPU, if any)."""
    device = next(network.parameters()).device
    with torch.no_grad():
        return network(*(batch[name].to(device) for name in names)).cpu().numpy()


def _layout(session: ort.InferenceSession) -> dict:
    return json.loads(session.get_modelmeta().custom_metadata_map["deepfit_forecaster"])


def test_onnx_matches_torch_on_the_forecasters_own_windows(
    forecaster: Forecaster, frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    path = export_forecaster(forecaster, tmp_path / "load.onnx")
    session = _session(path)
    assert [i.name for i in session.get_inputs()] == ["past", "future", "series"]
    assert [o.name for o in session.get_outputs()] == ["forecast"]
    fit = forecaster.check_fitted()
    history, future = frames
    panel = read_panel(history, fit.preparer.columns, past_names=fit.preparer.past_names)
    _, arrays, origins = forecast_arrays(fit, panel, future)
    source = WindowSource(arrays, origins, lookback=LOOKBACK, horizon=HORIZON, with_series=True)
    batch = source.windows(torch.arange(len(origins)))
    names = ("past", "future", "series")
    (got,) = session.run(None, {name: batch[name].numpy() for name in names})
    expected = _torch_forecast(fit.network, batch, names)
    assert got.shape == (2, HORIZON)
    np.testing.assert_allclose(got, expected, atol=1e-4)

    layout = _layout(session)  # the scaling turns the graph's output into the forecast
    loc, scale = np.array(layout["loc"]), np.array(layout["scale"])
    codes = [layout["ids"].index(name) for name in ("s0", "s1")]
    rebuilt = got * scale[codes, None] + loc[codes, None]
    predicted = forecaster.predict(history, future)["predicted_load"].to_numpy()
    np.testing.assert_allclose(rebuilt.reshape(-1), predicted, rtol=1e-5)


def test_metadata_describes_the_inputs(forecaster: Forecaster, tmp_path: Path) -> None:
    session = _session(export_forecaster(forecaster, tmp_path / "load.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert (meta["deepfit_task"], meta["deepfit_target"]) == ("forecasting", "load")
    layout = _layout(session)
    assert (layout["lookback"], layout["horizon"], layout["frequency"]) == (24, 6, "h")
    assert layout["inputs"] == ["past", "future", "series"]
    assert layout["channels"][:4] == ["target", "observed", "sensor", "temperature"]
    assert layout["future_channels"][0] == "temperature"
    assert (layout["ids"], layout["unseen_series_code"]) == (["s0", "s1"], 2)
    assert len(layout["covariate_mean"]) == len(layout["covariate_std"]) == 2
    past = session.get_inputs()[0]
    assert past.shape[1:] == [LOOKBACK, len(layout["channels"])]


def test_a_batch_of_windows_from_a_history_checks_the_export(
    forecaster: Forecaster, frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    path = export_forecaster(forecaster, tmp_path / "load.onnx", history=frames[0])
    fit = forecaster.check_fitted()
    panel = read_panel(frames[0], fit.preparer.columns, past_names=fit.preparer.past_names)
    arrays = fit.preparer.transform(panel)
    origins, _ = series_origins(arrays, LOOKBACK, first=np.array([24, 24]), last=np.array([50, 60]))
    source = WindowSource(arrays, origins, lookback=LOOKBACK, horizon=HORIZON, with_series=True)
    batch = source.windows(torch.arange(len(origins)))
    names = ("past", "future", "series")
    (got,) = _session(path).run(None, {name: batch[name].numpy() for name in names})
    expected = _torch_forecast(fit.network, batch, names)
    assert got.shape == (len(origins), HORIZON)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_one_yearly_series_without_known_covariates_takes_only_past(tmp_path: Path) -> None:
    frame = make_series(150, frequency="YS")  # no calendar features: nothing known ahead
    model = Forecaster(3, **TINY).fit(frame, target="load", time="timestamp")
    session = _session(export_forecaster(model, tmp_path / "one.onnx"))
    assert [i.name for i in session.get_inputs()] == ["past"]
    assert _layout(session)["channels"] == ["target", "observed", "temperature", "sensor"]
    (got,) = session.run(None, {"past": np.zeros((5, LOOKBACK, 4), np.float32)})
    assert got.shape == (5, 3)


def test_a_mismatch_is_refused_and_nothing_is_written(
    forecaster: Forecaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepfit.export import runtime

    monkeypatch.setattr(runtime, "MAX_DIFFERENCE", -1.0)
    with pytest.raises(ArtifactError, match=r"differ from torch.s by up to .* nothing was written"):
        export_forecaster(forecaster, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_kept_without_overwrite(forecaster: Forecaster, tmp_path: Path) -> None:
    path = tmp_path / "load.onnx"
    path.write_bytes(b"mine")
    with pytest.raises(OutputExistsError):
        export_forecaster(forecaster, path)
    assert path.read_bytes() == b"mine"
    export_forecaster(forecaster, path, overwrite=True)
    assert _session(path).get_inputs()[0].name == "past"


def test_the_export_command_takes_a_forecaster(
    forecaster: Forecaster, frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    model = forecaster.save(tmp_path / "load.deepfit")
    history = tmp_path / "history.csv"
    frames[0].to_csv(history, index=False)
    out = tmp_path / "load.onnx"
    result = invoke("export", model, "--onnx", out, "--data", history)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert "windows of" in result.stdout
    assert _session(out).get_outputs()[0].name == "forecast"
    again = invoke("export", model, "--onnx", out)
    assert_one_line_error(again, "already exists")
    quantized = invoke("export", model, "--onnx", tmp_path / "q.onnx", "--quantize")
    assert_one_line_error(quantized, "--quantize", "forecaster")
