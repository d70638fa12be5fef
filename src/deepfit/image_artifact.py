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

from deepfit.archive import WeightsSize, build_within
from deepfit.errors import ArtifactError
from deepfit.evaluation.intervals import ConformalCalibration
from deepfit.kind_artifact import BUILD_ERRORS, malformed, read_kind_model, save_kind_model
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
    return save_kind_model(
        path,
        task=TASK,
        kind=IMAGE,
        metadata={
            "target": saved.preparer.target_name,
            "image_size": saved.preparer.size,
            "image_mode": saved.preparer.mode,
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


def load_image_model(path: str | Path) -> SavedImageModel:
    """Read an image model written by :func:`save_image_model`."""
    parts = read_kind_model(path, kind=IMAGE, what="an image model")
    try:
        preparer = ImagePreparer.from_dict(parts.preprocessing)
        network = build_within(
            Path(path),
            lambda: build_saved_network(parts.settings, preparer),
            WeightsSize.of(parts.weights).elements,
        )
        calibration = parts.metadata.get("calibration")
        conformal = None if calibration is None else ConformalCalibration.from_dict(calibration)
        network.load_state_dict(parts.weights, strict=True)
    except ArtifactError:
        raise
    except BUILD_ERRORS as error:
        raise malformed(path, error) from error
    return SavedImageModel(
        network=network.eval(),
        preparer=preparer,
        settings=parts.settings,
        params=parts.params,
        conformal=conformal,
        history=parts.history,
        training=parts.training,
        metrics=parts.metadata.get("metrics"),
        versions=parts.versions,
    )
