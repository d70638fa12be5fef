"""The model file of a kind with its own front (series, image): the zip of
:mod:`deepfit.artifact`, written and read through its checked helpers.

Members: ``metadata.json`` (the base metadata, the kind's own fields, training summary and
history), ``config.json`` (the parameters as given and the resolved settings),
``preprocessing.json`` (the kind's preparer) and ``weights.safetensors``. Each kind's module
(:mod:`deepfit.series_artifact`, :mod:`deepfit.image_artifact`) rebuilds its network from
these and checks the weights against it.

Example:
    >>> parts = read_kind_model("count.deepfit", kind="image",
    ...                         what="an image model")  # doctest: +SKIP
    >>> parts.settings["model"]  # doctest: +SKIP
    'resnet'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepfit.archive import read_json, read_members, read_weights
from deepfit.artifact import (
    base_metadata,
    decode_params,
    encode_params,
    network_tensors,
    read_metadata,
    write_archive,
)
from deepfit.errors import ArtifactError, brief
from deepfit.files import check_writable

BUILD_ERRORS = (KeyError, TypeError, ValueError, AttributeError, RuntimeError)


@dataclass
class KindParts:
    """A kind's model file, read and checked as far as the generic part goes."""

    metadata: dict[str, Any]
    params: dict[str, Any]
    settings: dict[str, Any]
    preprocessing: dict[str, Any]
    weights: dict[str, torch.Tensor]

    @property
    def history(self) -> list[dict[str, Any]]:
        history = self.metadata.get("history") or []
        if not isinstance(history, list):
            raise ArtifactError("the model file has malformed metadata (history is not a list)")
        return history

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.metadata.get("training") or {})

    @property
    def versions(self) -> dict[str, Any]:
        return {key: self.metadata.get(key) for key in ("deepfit_version", "created_at")}


def save_kind_model(
    path: str | Path,
    *,
    task: str,
    kind: str,
    metadata: dict[str, Any],
    params: dict[str, Any],
    settings: dict[str, Any],
    preprocessing: dict[str, Any],
    network: nn.Module,
    overwrite: bool = False,
) -> Path:
    """Write a kind's model to ``path`` atomically; refuse to replace a file unless
    ``overwrite``."""
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    documents = {
        "metadata.json": {**base_metadata(task, kind), **metadata},
        "config.json": {"params": encode_params(params), "settings": encode_params(settings)},
        "preprocessing.json": preprocessing,
    }
    write_archive(path, documents, network_tensors(network), overwrite=overwrite)
    return path


def read_kind_model(path: str | Path, *, kind: str, what: str) -> KindParts:
    """The parts of a model file of ``kind`` (``what``: the words for it in an error)."""
    path = Path(path)
    members = read_members(path)
    metadata = read_metadata(members, path)
    if metadata.get("kind") != kind:
        raise ArtifactError(f"{path} is not {what}; load it with deepfit.load(path)")
    config = read_json(members, "config.json", path)
    weights = read_weights(members, path)
    preprocessing = read_json(members, "preprocessing.json", path)
    try:
        settings = decode_params(config["settings"])
        params = decode_params(config["params"])
        if not isinstance(settings, dict) or not isinstance(params, dict):
            raise ValueError("params and settings must be objects")
    except BUILD_ERRORS as error:
        raise malformed(path, error) from error
    return KindParts(metadata, params, settings, preprocessing, weights)


def malformed(path: str | Path, error: BaseException) -> ArtifactError:
    """The error of a model file whose configuration or weights do not fit together."""
    return ArtifactError(
        f"{path} has a malformed configuration or weights ({brief(error)}); "
        "the file was altered or written by an incompatible tool"
    )
