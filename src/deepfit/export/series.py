"""Export a forecaster's network to ONNX: scaled windows in, the scaled horizon out.

Inputs (batch axis dynamic), laid out as ``metadata_props['deepfit_forecaster']`` (JSON) says:
``past`` float32 ``[batch, lookback, channels]`` (the ``channels``: the target standardised by
its series' ``loc`` and ``scale``, 1/0 for observed, the past and known covariates standardised
by ``covariate_mean`` and ``covariate_std``, 0 where missing, then the calendar features of
:func:`deepfit.kinds.series.calendar.calendar_features`); ``future`` float32 ``[batch, horizon,
known]`` (the ``future_channels`` of the steps ahead; only if the model reads any); ``series``
int64 ``[batch]`` (the position in ``series_ids``, ``unseen_series_code`` for a new series; only
if the model embeds series). The output ``forecast`` ``[batch, horizon]`` times the series'
scale plus its loc is the forecast in the target's units.

Example:
    >>> export_forecaster(Forecaster.load("load.deepfit"), "load.onnx")  # doctest: +SKIP
    PosixPath('load.onnx')
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import torch
from torch import nn

from deepfit.errors import ArtifactError, DataError
from deepfit.estimator.forecaster import Forecaster
from deepfit.estimator.forecasting import ForecastFit
from deepfit.export.runtime import check_runtime
from deepfit.files import atomic_writer, check_writable
from deepfit.kinds.series.panel import read_panel
from deepfit.kinds.series.windows import WindowSource, series_origins
from deepfit.models.sequence import SequenceShape

OPSET = 17
CHECK_WINDOWS = 64
ONNX_FORMAT_VERSION = 1


class _Positional(nn.Module):
    """The network with its inputs in the export's order (``past``, then what it reads)."""

    def __init__(self, network: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.network, self.names = network, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, inputs, strict=True))
        return self.network(named["past"], named.get("future"), named.get("series"))


def export_forecaster(
    forecaster: Forecaster,
    path: str | Path,
    *,
    history: pd.DataFrame | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``forecaster``'s network to ``path`` (atomically) as ONNX, opset 17, after
    checking onnxruntime against torch on up to :data:`CHECK_WINDOWS` windows of ``history``
    (long-format rows, as :meth:`Forecaster.fit` takes), or on seeded synthetic windows."""
    fit = forecaster.check_fitted()
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    network = copy.deepcopy(fit.network).cpu().eval()
    shape = network_shape(fit)
    names = ["past"] + ["future"] * bool(shape.known_channels) + ["series"] * shape.has_series
    batch = synthetic_windows(fit) if history is None else history_windows(fit, history)
    sample = tuple(batch[name][:2] for name in names)  # fewer windows: the batch axis is free
    with tempfile.TemporaryDirectory(prefix="deepfit-") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the networks' shape checks
        torch.onnx.export(
            _Positional(network, names).eval(),
            sample,
            Path(folder) / "network.onnx",
            input_names=names,
            output_names=["forecast"],
            dynamic_axes={name: {0: "batch"} for name in [*names, "forecast"]},
            opset_version=OPSET,
            dynamo=False,
        )
        model = onnx.load(Path(folder) / "network.onnx")
    with torch.no_grad():
        expected = network(batch["past"], batch.get("future"), batch.get("series")).numpy()
    _describe(model, fit, names)
    data = model.SerializeToString()
    with atomic_writer(path, overwrite=overwrite) as handle:
        handle.write(data)
        feed = {name: batch[name].numpy() for name in names}
        check_runtime(data, feed, expected, outputs="forecasts", rows="windows")
    return path


def forecaster_layout(fit: ForecastFit, inputs: list[str]) -> dict[str, Any]:
    """What rebuilding the graph's inputs takes: the columns, the channels, the scaling."""
    preparer = fit.preparer
    return {
        **preparer.to_dict(),
        "inputs": inputs,
        "channels": preparer.channel_names(),
        "future_channels": preparer.future_names(),
        "unseen_series_code": preparer.n_series,
        "min_history": fit.min_history,
        "model": fit.settings.get("model"),
    }


def history_windows(fit: ForecastFit, history: pd.DataFrame) -> dict[str, torch.Tensor]:
    """Up to :data:`CHECK_WINDOWS` windows cut from ``history``, evenly spread."""
    preparer, horizon = fit.preparer, fit.preparer.horizon
    panel = read_panel(
        history, preparer.columns, frequency=preparer.frequency, past_names=preparer.past_names
    )
    arrays = preparer.transform(panel)
    lengths = panel.lengths()
    first = np.full(len(lengths), fit.min_history)
    origins, _ = series_origins(arrays, preparer.lookback, first=first, last=lengths - horizon)
    if len(origins) == 0:
        raise DataError(
            f"no series in the history has {fit.min_history + horizon} steps, enough for one "
            f"window of {fit.min_history} steps and {horizon} to forecast; give a longer history"
        )
    picked = np.unique(np.round(np.linspace(0, len(origins) - 1, CHECK_WINDOWS)).astype(int))
    series = preparer.n_series > 1
    cut = WindowSource(
        arrays, origins[picked], lookback=preparer.lookback, horizon=horizon, with_series=series
    )
    return dict(cut.windows(torch.arange(len(picked))))


def synthetic_windows(fit: ForecastFit, n_windows: int = 16) -> dict[str, torch.Tensor]:
    """Seeded windows of standard normal channels, for checking a graph without data."""
    shape = network_shape(fit)
    seeded = torch.Generator().manual_seed(0)
    past = torch.randn(n_windows, shape.lookback, shape.past_channels, generator=seeded)
    past[:, :, 1] = 1.0
    batch = {"past": past}
    if shape.known_channels:
        batch["future"] = torch.randn(
            n_windows, shape.horizon, shape.known_channels, generator=seeded
        )
    if shape.has_series:  # every code, and the unseen one
        batch["series"] = torch.arange(n_windows) % (shape.n_series + 1)
    return batch


def network_shape(fit: ForecastFit) -> SequenceShape:
    """The sizes of the fitted network's inputs and output."""
    shape = getattr(fit.network, "shape", None)
    if not isinstance(shape, SequenceShape):
        raise ArtifactError("the forecaster's network is not a deepfit sequence network")
    return shape


def _describe(model: onnx.ModelProto, fit: ForecastFit, names: list[str]) -> None:
    from deepfit.version import __version__

    target = fit.preparer.columns.target
    model.graph.name = "deepfit_forecaster"
    model.graph.doc_string = f"forecasts {target!r} in scaled units; see metadata_props"
    model.producer_name, model.producer_version = "deepfit", __version__
    del model.metadata_props[:]
    onnx.helper.set_model_props(
        model,
        {
            "deepfit_version": __version__,
            "deepfit_onnx_format": str(ONNX_FORMAT_VERSION),
            "deepfit_task": "forecasting",
            "deepfit_target": target,
            "deepfit_forecaster": json.dumps(forecaster_layout(fit, names)),
        },
    )
    onnx.checker.check_model(model, full_check=True)
