"""An image model's ``.deepfit`` file: the same zip as a table model's, kind ``image``.

``preprocessing.json`` holds the image size, mode, resizing, the channels' normalisation and
the target's scaling; the network is rebuilt from the settings and those, and must match the
weights' shapes exactly. Reading goes through :mod:`deepfit.artifact`'s checks (members,
sizes, JSON, safetensors).

Example:
    >>> save_image_model(regressor.describe(), "count.deepfit")  # doctest: +SKIP
    >>> load_image_model("count.deepfit").preparer.size  # doctest: +SKIP
    64
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from deepfit.evaluation.intervals import ConformalCalibration
from deepfit.files import check_writable
from deepfit.kinds.image import NAME as IMAGE
from deepfit.kinds.image.prepare import ImagePreparer
from deepfit.models.convnet import IMAGE_MODELS, ImageNetwork, ImageShape, build_image_network

TASK = "regression"
MAX_WIDTH = 128  # a hostile file cannot make loading build a huge network


@dataclass
class SavedImageModel:
    """A fitted image regressor as its file holds it."""

    network: ImageNetwork
    preparer: ImagePreparer
    settings: dict[str, Any]
    params: dict[str, Any]
    conformal: ConformalCalibration | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    versions: dict[str, Any] = field(default_factory=dict)


def build_saved_network(settings: dict[str, Any], preparer: ImagePreparer) -> ImageNetwork:
    """The untrained network ``settings`` describe, refusing values no deepfit writes."""
    model, width = settings.get("model"), settings.get("width")
    stride, dropout = settings.get("stem_stride"), settings.get("dropout", 0.0)
    if model not in IMAGE_MODELS:
        raise ValueError(f"unknown image model {model!r}")
    if not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must be an integer in 1..{MAX_WIDTH}")
    if stride not in (1, 2, 4):
        raise ValueError("stem_stride must be 1, 2 or 4")
    if not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
        raise ValueError("dropout must be in [0, 1)")
    return build_image_network(
        str(model),
        ImageShape(channels=preparer.channels, size=preparer.size),
        width=width,
        stem_stride=int(stride),
        dropout=float(dropout),
    )


def save_image_model(saved: SavedImageModel, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``saved`` to ``path`` atomically; refuse to replace a file unless ``overwrite``."""
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    metadata = {
        **base_metadata(TASK, IMAGE),
        "target": saved.preparer.target_name,
        "image_size": saved.preparer.size,
        "image_mode": saved.preparer.mode,
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


def load_image_model(path: str | Path) -> SavedImageModel:
    """Read an image model written by :func:`save_image_model`."""
    path = Path(path)
    members = read_members(path)
    metadata = read_metadata(members, path)
    if metadata.get("kind") != IMAGE:
        raise ArtifactError(f"{path} is not an image model; load it with deepfit.load(path)")
    config = read_json(members, "config.json", path)
    weights = read_weights(members, path)
    try:
        settings = decode_params(config["settings"])
        params = decode_params(config["params"])
        if not isinstance(settings, dict) or not isinstance(params, dict):
            raise ValueError("params and settings must be objects")
        preparer = ImagePreparer.from_dict(read_json(members, "preprocessing.json", path))
        network = build_saved_network(settings, preparer)
        calibration = metadata.get("calibration")
        conformal = None if calibration is None else ConformalCalibration.from_dict(calibration)
        network.load_state_dict(weights, strict=True)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise ArtifactError(
            f"{path} has a malformed configuration or weights ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error
    history = metadata.get("history") or []
    if not isinstance(history, list):
        raise ArtifactError(f"{path} has malformed metadata (history is not a list)")
    return SavedImageModel(
        network=network.eval(),
        preparer=preparer,
        settings=settings,
        params=params,
        conformal=conformal,
        history=history,
        training=dict(metadata.get("training") or {}),
        metrics=metadata.get("metrics"),
        versions={key: metadata.get(key) for key in ("deepfit_version", "created_at")},
    )
