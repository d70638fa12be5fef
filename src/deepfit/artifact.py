"""One ``.deepfit`` file per model: a zip of JSON documents and safetensors weights.

Members: ``metadata.json`` (format, versions, target, training summary, history, metrics,
and the residuals that calibrate prediction intervals, if the model has them),
``config.json`` (the estimator's parameters), ``preprocessing.json`` (schema, statistics,
vocabularies) and ``weights.safetensors``. Loading reads data only, never code: a member that
is not one of these four, a broken zip, malformed JSON or mismatched tensors give an
:class:`ArtifactError`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from deepfit.data.preprocess import TabularPreprocessor
from deepfit.errors import ArtifactError, DataFileNotFoundError, brief
from deepfit.evaluation.intervals import QuantileCalibration, calibration_from_dict
from deepfit.files import atomic_writer, check_writable

if TYPE_CHECKING:
    from deepfit.estimator import Regressor

FORMAT = "deepfit"
FORMAT_VERSION = 1
MEMBERS = ("metadata.json", "config.json", "preprocessing.json", "weights.safetensors")
MAX_JSON_BYTES = 256 * 2**20
MAX_WEIGHTS_BYTES = 8 * 2**30
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
QUANTILE_PREFIX = "quantile_network."  # the interval network's weights, beside the model's


def save(model: Regressor, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` to ``path`` atomically; refuse to replace a file unless ``overwrite``.

    Example:
        >>> model.save("price.deepfit")  # doctest: +SKIP
    """
    from deepfit import __version__

    model._check_fitted()
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "deepfit_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": model.target_name_,
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": [str(n) for n in getattr(model, "feature_names_in_", [])] or None,
        "training": model.training_summary_,
        "history": model.history_,
        "metrics": getattr(model, "metrics_", None),
        "calibration": _calibration_document(model),
    }
    params = model.get_params(deep=False)
    # The architecture the network was built with: a fine-tuned model's comes from its base.
    params.update(getattr(model, "network_params_", {}))
    params["hidden_layers"] = [int(w) for w in params["hidden_layers"]]
    params = {k: str(v) if isinstance(v, os.PathLike) else v for k, v in params.items()}
    documents = {
        "metadata.json": metadata,
        "config.json": {"params": params},
        "preprocessing.json": model.preprocessor_.to_dict(),
    }
    weights = {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in model.network_.state_dict().items()
    }
    quantile_network = getattr(model, "quantile_network_", None)
    if quantile_network is not None:
        weights |= {
            QUANTILE_PREFIX + name: tensor.detach().cpu().contiguous()
            for name, tensor in quantile_network.state_dict().items()
        }
    with (
        atomic_writer(path, overwrite=overwrite) as handle,
        zipfile.ZipFile(handle, "w") as archive,
    ):
        for name, document in documents.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, json.dumps(_finite(document), indent=1, allow_nan=False))
        info = zipfile.ZipInfo("weights.safetensors", date_time=ZIP_DATE)
        archive.writestr(info, save_tensors(weights, metadata={"format": FORMAT}))
    return path


def load(path: str | Path) -> Regressor:
    """Load a model written by :meth:`Regressor.save`; predictions are bit-identical.

    Example:
        >>> from deepfit import load
        >>> load("price.deepfit").predict(new_rows)  # doctest: +SKIP
    """
    from deepfit.estimator import Regressor

    path = Path(path)
    members = _read_members(path)
    metadata = _json(members, "metadata.json", path)
    if metadata.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a deepfit model (its metadata names no deepfit format)")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ArtifactError(
            f"{path} has model format version {version!r}, but this deepfit reads up to "
            f"{FORMAT_VERSION}; upgrade deepfit to load it"
        )
    config = _json(members, "config.json", path)
    try:
        params = dict(config["params"])
        params["hidden_layers"] = tuple(int(w) for w in params["hidden_layers"])
        model = Regressor(**params)
        preprocessor = TabularPreprocessor.from_dict(_json(members, "preprocessing.json", path))
        network = model._new_network(preprocessor)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ArtifactError(
            f"{path} has a malformed configuration ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error
    quantile_network = None
    try:
        weights = load_tensors(members["weights.safetensors"])
        quantile_weights = {
            name.removeprefix(QUANTILE_PREFIX): weights.pop(name)
            for name in list(weights)
            if name.startswith(QUANTILE_PREFIX)
        }
        network.load_state_dict(weights, strict=True)
        if quantile_weights:
            quantile_network = model._new_quantile_network(preprocessor)
            quantile_network.load_state_dict(quantile_weights, strict=True)
            quantile_network.eval()
    except (SafetensorError, RuntimeError, ValueError) as error:
        raise ArtifactError(
            f"{path} has weights that do not fit its model ({brief(error)}); "
            "the file is corrupt or was altered"
        ) from error
    model.network_ = network.eval()
    model.quantile_network_ = quantile_network
    model.preprocessor_ = preprocessor
    try:
        _restore_metadata(model, metadata)
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(
            f"{path} has malformed metadata ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error
    return model


def _calibration_document(model: Regressor) -> dict[str, Any] | None:
    calibration = getattr(model, "calibration_", None)
    return None if calibration is None else calibration.to_dict()


def _restore_metadata(model: Regressor, metadata: dict[str, Any]) -> None:
    model.n_features_in_ = int(metadata["n_features_in"])
    names = metadata.get("feature_names_in")
    if names is not None:
        if not isinstance(names, list) or len(names) != model.n_features_in_:
            raise ValueError("feature_names_in does not match n_features_in")
        model.feature_names_in_ = np.asarray([str(n) for n in names], dtype=object)
    model.target_name_ = str(metadata.get("target") or "target")
    model.training_summary_ = dict(metadata.get("training") or {})
    history = metadata.get("history") or []
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ValueError("history is not a list of records")
    model.history_ = history
    metrics = metadata.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, dict):
            raise ValueError("metrics is not an object")
        model.metrics_ = metrics
    calibration = metadata.get("calibration")  # absent in older files: no intervals
    if calibration is not None:
        calibration = calibration_from_dict(calibration)
        if isinstance(calibration, QuantileCalibration) and model.quantile_network_ is None:
            raise ValueError("a quantile calibration without its interval network's weights")
    model.calibration_ = calibration
    model.metadata_ = {
        key: metadata[key]
        for key in ("deepfit_version", "torch_version", "created_at", "format_version")
        if key in metadata
    }


def _read_members(path: Path) -> dict[str, bytes]:
    if not path.exists():
        raise DataFileNotFoundError(f"model file not found: {path}; check the path")
    if path.is_dir() or not zipfile.is_zipfile(path):
        raise ArtifactError(
            f"{path} is not a deepfit model file (not a zip archive): it may be truncated, "
            "or another kind of file; train a model with 'deepfit train' to get one"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            unexpected = sorted(set(names) - set(MEMBERS))
            if unexpected:
                raise ArtifactError(
                    f"{path} holds unexpected member(s) {', '.join(unexpected)}; a deepfit "
                    "model holds only JSON and safetensors, so it was not loaded"
                )
            missing = [name for name in MEMBERS if name not in names]
            if missing or len(names) != len(set(names)):
                raise ArtifactError(
                    f"{path} lacks {', '.join(missing) or 'unique members'}; "
                    "the file is incomplete or not a deepfit model"
                )
            for info in infos:
                limit = (
                    MAX_WEIGHTS_BYTES if info.filename.endswith(".safetensors") else MAX_JSON_BYTES
                )
                if info.file_size > limit:
                    raise ArtifactError(f"{path}: member {info.filename} is implausibly large")
            return {info.filename: archive.read(info) for info in infos}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise ArtifactError(
            f"{path} is corrupt ({brief(error)}); it may be truncated: train or copy it again"
        ) from error


def _json(members: dict[str, bytes], name: str, path: Path) -> dict[str, Any]:
    try:
        document = json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(
            f"{path}: {name} is not valid JSON ({brief(error)}); the file is corrupt or was edited"
        ) from error
    if not isinstance(document, dict):
        raise ArtifactError(f"{path}: {name} is not a JSON object; the file was edited")
    return document


def _finite(value: Any) -> Any:
    """The same document with NaN and infinities as null, so it is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


__all__ = ["FORMAT_VERSION", "load", "save"]
