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

from deepfit.artifact import (
    base_metadata,
    decode_params,
    encode_params,
    network_tensors,
    read_json,
    read_members,
    read_metadata,
    read_weights,
    write_archive,
)
from deepfit.errors import ArtifactError, brief
from deepfit.evaluation.forecast_intervals import StepConformal
from deepfit.files import check_writable
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
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    metadata = {
        **base_metadata(TASK, SERIES),
        "target": saved.preparer.columns.target,
        "min_history": saved.min_history,
        "training": saved.training,
        "history": saved.history,
        "metrics": saved.metrics,
        "calibration": None if saved.conformal is None else saved.conformal.to_dict(),
    }
    documents = {
        "metadata.json": metadata,
        "config.json": {
            "params": encode_params(saved.params),
            "settings": encode_params(saved.settings),
        },
        "preprocessing.json": saved.preparer.to_dict(),
    }
    write_archive(path, documents, network_tensors(saved.network), overwrite=overwrite)
    return path


def load_forecast(path: str | Path) -> SavedForecast:
    """Read a forecasting model written by :func:`save_forecast`."""
    path = Path(path)
    members = read_members(path)
    metadata = read_metadata(members, path)
    if metadata.get("kind") != SERIES:
        raise ArtifactError(f"{path} is not a forecasting model; load it with deepfit.load(path)")
    config = read_json(members, "config.json", path)
    weights = read_weights(members, path)
    try:
        settings = decode_params(config["settings"])
        params = decode_params(config["params"])
        if not isinstance(settings, dict) or not isinstance(params, dict):
            raise ValueError("params and settings must be objects")
        preparer = SeriesPreparer.from_dict(read_json(members, "preprocessing.json", path))
        network = build_forecast_network(settings, preparer)
        calibration = metadata.get("calibration")
        conformal = None if calibration is None else StepConformal.from_dict(calibration)
        if conformal is not None and len(conformal.kept) != preparer.horizon:
            raise ValueError("the interval calibration does not match the horizon")
        min_history = int(metadata["min_history"])
        if not 1 <= min_history <= preparer.lookback:
            raise ValueError("min_history is out of range")
        network.load_state_dict(weights, strict=True)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise ArtifactError(
            f"{path} has a malformed configuration or weights ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error
    history = metadata.get("history") or []
    if not isinstance(history, list):
        raise ArtifactError(f"{path} has malformed metadata (history is not a list)")
    return SavedForecast(
        network=network.eval(),
        preparer=preparer,
        settings=settings,
        params=params,
        min_history=min_history,
        conformal=conformal,
        history=history,
        training=dict(metadata.get("training") or {}),
        metrics=metadata.get("metrics"),
        versions={key: metadata.get(key) for key in ("deepfit_version", "created_at")},
    )
