"""A forecasting model's ``.deepfit`` file: the same zip as a table model's, kind ``series``.

``preprocessing.json`` holds the series' columns, frequency, ids and scaling; the network is
rebuilt from the settings and those, and must match the weights' shapes exactly. Reading
goes through :mod:`deepfit.artifact`'s checks (members, sizes, JSON, safetensors).

Example:
    >>> save_forecast(forecaster.describe(), "demand.deepfit")  # doctest: +SKIP
    >>> load_forecast("demand.deepfit").preparer.horizon  # doctest: +SKIP
    48
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from deepfit.archive import WeightsSize, build_within, check_parts
from deepfit.errors import ArtifactError
from deepfit.evaluation.forecast_intervals import StepConformal
from deepfit.kind_artifact import BUILD_ERRORS, malformed, read_kind_model, save_kind_model
from deepfit.kinds.series import NAME as SERIES
from deepfit.kinds.series.prepare import SeriesPreparer
from deepfit.models.sequence import SequenceShape, build_sequence_network

TASK = "forecasting"


@dataclass
class SavedForecast:
    """A fitted forecaster as its file holds it."""

    network: nn.Module
    preparer: SeriesPreparer
    settings: dict[str, Any]
    params: dict[str, Any]
    min_history: int
    conformal: StepConformal | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    versions: dict[str, Any] = field(default_factory=dict)


def build_forecast_network(settings: dict[str, Any], preparer: SeriesPreparer) -> nn.Module:
    """The untrained network ``settings`` describe, for ``preparer``'s channels."""
    return build_sequence_network(
        str(settings["model"]),
        SequenceShape(
            lookback=preparer.lookback,
            horizon=preparer.horizon,
            past_channels=len(preparer.channel_names()),
            known_channels=len(preparer.future_names()),
            n_series=preparer.n_series,
        ),
        hidden=int(settings["hidden"]),
        layers=int(settings["layers"]),
        dropout=float(settings["dropout"]),
    )


def save_forecast(saved: SavedForecast, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``saved`` to ``path`` atomically; refuse to replace a file unless ``overwrite``."""
    return save_kind_model(
        path,
        task=TASK,
        kind=SERIES,
        metadata={
            "target": saved.preparer.columns.target,
            "min_history": saved.min_history,
            "training": saved.training,
            "history": saved.history,
            "metrics": saved.metrics,
            "calibration": None if saved.conformal is None else saved.conformal.to_dict(),
        },
        params=saved.params,
        settings=saved.settings,
        preprocessing=saved.preparer.to_dict(),
        network=saved.network,
        overwrite=overwrite,
    )


def load_forecast(path: str | Path) -> SavedForecast:
    """Read a forecasting model written by :func:`save_forecast`."""
    parts = read_kind_model(path, kind=SERIES, what="a forecasting model")
    try:
        preparer = SeriesPreparer.from_dict(parts.preprocessing)
        held = WeightsSize.of(parts.weights)
        check_parts(Path(path), held, layers=int(parts.settings["layers"]))
        network = build_within(
            Path(path), lambda: build_forecast_network(parts.settings, preparer), held.elements
        )
        calibration = parts.metadata.get("calibration")
        conformal = None if calibration is None else StepConformal.from_dict(calibration)
        if conformal is not None and len(conformal.kept) != preparer.horizon:
            raise ValueError("the interval calibration does not match the horizon")
        min_history = int(parts.metadata["min_history"])
        if not 1 <= min_history <= preparer.lookback:
            raise ValueError("min_history is out of range")
        network.load_state_dict(parts.weights, strict=True)
    except ArtifactError:
        raise
    except BUILD_ERRORS as error:
        raise malformed(path, error) from error
    return SavedForecast(
        network=network.eval(),
        preparer=preparer,
        settings=parts.settings,
        params=parts.params,
        min_history=min_history,
        conformal=conformal,
        history=parts.history,
        training=parts.training,
        metrics=parts.metadata.get("metrics"),
        versions=parts.versions,
    )
