"""One ``.deepfit`` file per model: a zip of JSON documents and safetensors weights.

Members: ``metadata.json`` (format, versions, the task and the kind, the target and its
encoding, training summary, history, metrics, and the calibration of intervals or sets),
``config.json`` (the estimator's parameters as given, and every setting as resolved),
``preprocessing.json`` (schema, statistics, vocabularies) and ``weights.safetensors``.
Loading reads data only, never code: a member that is not one of these four, a broken zip,
malformed JSON or mismatched tensors give an :class:`ArtifactError`.

This module reads and writes a :class:`SavedModel`, a plain description of a fitted model;
it builds networks through the kind and the task, and knows nothing of the estimators
(:func:`deepfit.load` turns a description into a ``Regressor`` or ``Classifier``).

Format versions: 2 adds ``task``, ``kind`` and ``target_encoding`` to the metadata and the
resolved ``settings`` to the config, and keeps the head's statistics out of the weights.
Files of version 1 (deepfit 0.1, regression only) still load: their target scale is read
from the weights ``target_mean`` and ``target_std``.
"""

from __future__ import annotations

import json
import os
import platform
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_tensors
from torch import nn

from deepfit.archive import (
    WeightsSize,
    build_within,
    check_parts,
    finite_json,
    read_json,
    read_members,
    read_weights,
)
from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.target import TargetScaler
from deepfit.errors import ArtifactError, brief
from deepfit.evaluation.intervals import QUANTILE_LEVELS
from deepfit.files import atomic_writer, check_writable
from deepfit.kinds import table
from deepfit.models.members import keep_members, recorded_members
from deepfit.models.network import TabularNetwork
from deepfit.models.registry import layer_count
from deepfit.monitor.reference import model_reference
from deepfit.tasks import RegressionTask, Task, task_from_dict

FORMAT = "deepfit"
FORMAT_VERSION = 2
RUN_ONLY = ("checkpoint_dir", "init_from")  # where a run wrote or started; not the model's
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
QUANTILE_PREFIX = "quantile_network."  # the interval network's weights, beside the model's
SERVED_PREFIX = "served_network."  # the few TabM members the server runs (estimator/served.py)
VERSION_KEYS = ("deepfit_version", "torch_version", "created_at", "format_version")


@dataclass
class SavedModel:
    """A fitted model as its file holds it: what a front needs to predict, and its record."""

    network: TabularNetwork
    preprocessor: TabularPreprocessor
    task: Task
    settings: dict[str, Any]
    target_name: str
    params: dict[str, Any]
    n_features_in: int
    kind: str = table.NAME
    feature_names_in: list[str] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    calibration: Any = None
    quantile_network: TabularNetwork | None = None
    metrics: dict[str, Any] | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None  # the training data's, for drift (monitor/)
    served_network: TabularNetwork | None = None  # members named by training["served_members"]


def save_model(saved: SavedModel, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``saved`` to ``path`` atomically; refuse to replace a file unless ``overwrite``.

    Example:
        >>> save_model(model.describe(), "price.deepfit")  # doctest: +SKIP
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    metadata = {
        **base_metadata(saved.task.name, saved.kind),
        "target": saved.target_name,
        "target_encoding": saved.task.to_dict(),
        "n_features_in": int(saved.n_features_in),
        "feature_names_in": saved.feature_names_in,
        "training": saved.training,
        "history": saved.history,
        "metrics": saved.metrics,
        "calibration": None if saved.calibration is None else saved.calibration.to_dict(),
        "reference": saved.reference,
    }
    documents = {
        "metadata.json": metadata,
        "config.json": {
            "params": encode_params(saved.params),
            "settings": encode_params(saved.settings),
        },
        "preprocessing.json": saved.preprocessor.to_dict(),
    }
    weights = network_tensors(saved.network)
    if saved.quantile_network is not None:
        quantile = network_tensors(saved.quantile_network)
        weights |= {QUANTILE_PREFIX + k: v for k, v in quantile.items()}
    if saved.served_network is not None:
        served = network_tensors(saved.served_network)
        weights |= {SERVED_PREFIX + k: v for k, v in served.items()}
    write_archive(path, documents, weights, overwrite=overwrite)
    return path


def base_metadata(task: str, kind: str) -> dict[str, Any]:
    """The metadata every model file starts with: format, versions, task and kind."""
    from deepfit.version import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "deepfit_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": task,
        "kind": kind,
    }


def write_archive(
    path: Path,
    documents: dict[str, dict[str, Any]],
    weights: dict[str, torch.Tensor],
    *,
    overwrite: bool,
) -> None:
    """Write the JSON ``documents`` and ``weights`` as one zip, atomically."""
    with (
        atomic_writer(path, overwrite=overwrite) as handle,
        zipfile.ZipFile(handle, "w") as archive,
    ):
        for name, document in documents.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, json.dumps(finite_json(document), indent=1, allow_nan=False))
        info = zipfile.ZipInfo("weights.safetensors", date_time=ZIP_DATE)
        archive.writestr(info, save_tensors(weights, metadata={"format": FORMAT}))


def load_model(path: str | Path) -> SavedModel:
    """Read a model file written by :func:`save_model` (or by deepfit 0.1).

    Example:
        >>> load_model("price.deepfit").task.name  # doctest: +SKIP
        'regression'
    """
    path = Path(path)
    members = read_members(path)
    metadata = read_metadata(members, path)
    if metadata.get("kind", table.NAME) != table.NAME:
        raise ArtifactError(
            f"{path} holds a {metadata.get('task')} model of {metadata.get('kind')}; load it "
            "with deepfit.load(path)"
        )
    version = metadata["format_version"]
    config = read_json(members, "config.json", path)
    weights = read_weights(members, path)
    try:
        if version == 1:
            task, settings = _version_one(config, metadata, weights)
        else:
            task = task_from_dict(metadata["target_encoding"])
            settings = decode_params(config["settings"])
        params = decode_params(config["params"])
        if not isinstance(params, dict) or not isinstance(settings, dict):
            raise ValueError("params and settings must be objects")
        preprocessor = TabularPreprocessor.from_dict(read_json(members, "preprocessing.json", path))
        n_members = int(settings.get("n_ensemble", 1))
        held = WeightsSize.of(weights)
        check_parts(
            path,
            held,
            layers=layer_count(settings["model"], table.network_options(settings)),
            members=n_members,
            columns=len(preprocessor.cardinalities),
        )
        network = build_within(
            path,
            lambda: table.build_model_network(
                settings,
                preprocessor,
                outputs=task.n_outputs,
                head=task.head(),
                members=n_members,
                average=task.member_average,
            ),
            held.elements,
            probe=lambda: table.build_member(
                settings, preprocessor, outputs=task.n_outputs, average=task.member_average
            ),
            copies=max(n_members, 1),
        )
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ArtifactError(
            f"{path} has a malformed configuration ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error
    served_weights = {
        name.removeprefix(SERVED_PREFIX): weights.pop(name)
        for name in list(weights)
        if name.startswith(SERVED_PREFIX)
    }
    quantile_network = _load_weights(path, weights, network, settings, preprocessor, task)
    served_network = _served_network(path, served_weights, network, metadata.get("training"))
    saved = SavedModel(
        network=network.eval(),
        preprocessor=preprocessor,
        task=task,
        settings=settings,
        target_name="target",
        params=params,
        n_features_in=0,
        quantile_network=quantile_network,
        served_network=served_network,
    )
    try:
        _restore_metadata(saved, metadata)
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(
            f"{path} has malformed metadata ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error
    return saved


def model_params(params: dict[str, Any]) -> dict[str, Any]:
    """A saved model's parameters without the run-only ones (:data:`RUN_ONLY`): a loaded
    model refitted must not write into the old run's checkpoint folder or start again from
    the model it was fine-tuned from."""
    return {name: value for name, value in params.items() if name not in RUN_ONLY}


def read_metadata(members: dict[str, bytes], path: Path) -> dict[str, Any]:
    """The metadata of a model file, checked to be deepfit's, of a format this deepfit reads."""
    metadata = read_json(members, "metadata.json", path)
    if metadata.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a deepfit model (its metadata names no deepfit format)")
    version = metadata.get("format_version")
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= FORMAT_VERSION
    ):
        raise ArtifactError(
            f"{path} has model format version {version!r}, but this deepfit reads up to "
            f"{FORMAT_VERSION}; upgrade deepfit to load it"
        )
    return metadata


def model_kind(path: str | Path) -> str:
    """The kind of data a model file's model reads (``table``, ``series``)."""
    path = Path(path)
    return str(read_metadata(read_members(path), path).get("kind") or table.NAME)


def network_tensors(network: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().cpu().contiguous() for name, t in network.state_dict().items()}


def _version_one(
    config: dict[str, Any], metadata: dict[str, Any], weights: dict[str, torch.Tensor]
) -> tuple[Task, dict[str, Any]]:
    """A deepfit 0.1 file: a regression whose target scale sits in the weights.

    Its parameters were saved concrete (with the architecture the network was built with),
    but for ``batch_size="auto"``, which the training summary resolves.
    """
    task = RegressionTask(TargetScaler(float(weights["target_mean"]), float(weights["target_std"])))
    for name in [name for name in weights if name.endswith(("target_mean", "target_std"))]:
        del weights[name]
    settings = decode_params(dict(config["params"]))
    if settings.get("batch_size") == "auto":
        settings["batch_size"] = int((metadata.get("training") or {}).get("batch_size") or 64)
    return task, settings


def _load_weights(
    path: Path,
    weights: dict[str, torch.Tensor],
    network: nn.Module,
    settings: dict[str, Any],
    preprocessor: TabularPreprocessor,
    task: Task,
) -> TabularNetwork | None:
    """Load the network's weights; build and load the interval network when there is one."""
    quantile_weights = {
        name.removeprefix(QUANTILE_PREFIX): weights.pop(name)
        for name in list(weights)
        if name.startswith(QUANTILE_PREFIX)
    }
    try:
        network.load_state_dict(weights, strict=True)
        if not quantile_weights:
            return None
        quantile_network = build_within(
            path,
            lambda: table.build_member(
                settings, preprocessor, outputs=len(QUANTILE_LEVELS), head=task.head()
            ),
            WeightsSize.of(quantile_weights).elements,
        )
        quantile_network.load_state_dict(quantile_weights, strict=True)
        return quantile_network.eval()
    except ArtifactError:
        raise
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise ArtifactError(
            f"{path} has weights that do not fit its model ({brief(error)}); "
            "the file is corrupt or was altered"
        ) from error


def _served_network(
    path: Path, weights: dict[str, torch.Tensor], network: TabularNetwork, training: Any
) -> TabularNetwork | None:
    """The few TabM members the server runs: the network's members that the training record
    names (``served_members``), with their own weights (taught, not sliced)."""
    if not weights:
        return None
    record = training.get("served_members") if isinstance(training, dict) else None
    members = recorded_members(record)
    if members is None:
        raise ArtifactError(
            f"{path} holds weights for served members but its training record names none; "
            "the file is corrupt or was altered"
        )
    try:
        served = keep_members(network, members)
        served.load_state_dict(weights, strict=True)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise ArtifactError(
            f"{path} has served members' weights that do not fit its model ({brief(error)}); "
            "the file is corrupt or was altered"
        ) from error
    assert isinstance(served, TabularNetwork)
    return served.eval()


def _restore_metadata(saved: SavedModel, metadata: dict[str, Any]) -> None:
    saved.n_features_in = int(metadata["n_features_in"])
    names = metadata.get("feature_names_in")
    if names is not None:
        if not isinstance(names, list) or len(names) != saved.n_features_in:
            raise ValueError("feature_names_in does not match n_features_in")
        saved.feature_names_in = [str(n) for n in names]
    saved.target_name = str(metadata.get("target") or "target")
    saved.kind = str(metadata.get("kind") or table.NAME)
    if saved.kind != table.NAME:
        raise ValueError(f"kind {saved.kind!r} is not one this deepfit reads")
    saved.training = dict(metadata.get("training") or {})
    history = metadata.get("history") or []
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ValueError("history is not a list of records")
    saved.history = history
    metrics = metadata.get("metrics")
    if metrics is not None and not isinstance(metrics, dict):
        raise ValueError("metrics is not an object")
    saved.metrics = metrics
    calibration = metadata.get("calibration")  # absent in older files: no intervals
    if calibration is not None:
        calibration = saved.task.calibration_from_dict(calibration)
        if calibration.to_dict().get("method") == "conformalized_quantile" and (
            saved.quantile_network is None
        ):
            raise ValueError("a quantile calibration without its interval network's weights")
    saved.calibration = calibration
    saved.versions = {key: metadata[key] for key in VERSION_KEYS if key in metadata}
    reference = metadata.get("reference")  # absent in older files: no drift monitoring
    if reference is not None:  # checked here, so a hostile one never reaches the server
        model_reference(reference, saved.preprocessor, saved.task.n_outputs)
    saved.reference = reference


def encode_params(value: Any) -> Any:
    """Parameters as JSON: tuples as lists, paths as text, dicts with other keys as pairs."""
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: encode_params(item) for key, item in value.items()}
        return {"$pairs": [[encode_params(k), encode_params(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [encode_params(item) for item in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_params(value: Any) -> Any:
    """:func:`encode_params` reversed; lists of numbers named ``hidden_layers`` become tuples."""
    if isinstance(value, dict):
        if set(value) == {"$pairs"}:
            return {decode_params(k): decode_params(v) for k, v in value["$pairs"]}
        return {
            key: tuple(item)
            if key == "hidden_layers" and isinstance(item, list)
            else decode_params(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [decode_params(item) for item in value]
    return value


__all__ = ["FORMAT_VERSION", "SavedModel", "load_model", "save_model"]
