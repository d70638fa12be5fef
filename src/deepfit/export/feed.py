"""Inputs for an exported graph from a DataFrame, parsed with deepfit's own rules."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from deepfit.data.date_text import ISO, check_date_format
from deepfit.data.io import read_table
from deepfit.data.preprocess import (
    _as_boolean,
    _as_numeric,
    _category_text,
    _date_part,
    _parse_dates,
    check_columns,
)
from deepfit.errors import ArtifactError, DataFileNotFoundError, brief
from deepfit.estimator.base import Estimator
from deepfit.export.graph import input_specs


def onnx_feed(model_or_metadata: Any, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The inputs of an exported graph for the rows of ``frame``, parsed as deepfit parses.

    ``model_or_metadata`` is the fitted :class:`~deepfit.Regressor`, an
    ``onnxruntime.InferenceSession`` or ``onnx.ModelProto`` of an exported model, the path of
    one, or its metadata (``session.get_modelmeta().custom_metadata_map``). Bad values raise
    the same :class:`~deepfit.errors.DataError` as ``Regressor.predict``.

    Example:
        >>> session.run(None, onnx_feed(session, rows))[0]  # doctest: +SKIP
    """
    specs = _specs_of(model_or_metadata)
    frame = read_table(frame)
    check_columns(frame, [spec["name"] for spec in specs])
    feed: dict[str, np.ndarray] = {}
    for spec in specs:
        name, role = spec["name"], spec["role"]
        series = frame[name]
        if role == "numeric":
            feed[name] = _as_numeric(series, name).to_numpy(dtype=np.float32)
        elif role == "boolean":
            feed[name] = _as_boolean(series, name).to_numpy(dtype=np.float32)
        elif role == "categorical":
            feed[name] = _category_text(series).to_numpy(dtype=object)
        elif role == "datetime":
            date_format = spec.get("format", ISO)
            days = _date_part(_parse_dates(series, name, date_format), "days_since_1970")
            feed[name] = days.to_numpy(dtype=np.float64)
        else:
            raise ArtifactError(f"input {name!r} has an unknown role {role!r}")
    return feed


def _specs_of(source: Any) -> list[dict[str, Any]]:
    if isinstance(source, Estimator):
        return input_specs(source)
    if hasattr(source, "get_modelmeta"):
        return _specs_from_metadata(source.get_modelmeta().custom_metadata_map)
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise DataFileNotFoundError(f"ONNX model file not found: {path}; check the path")
        try:
            source = onnx.load(str(path), load_external_data=False)
        except Exception as error:
            raise ArtifactError(f"{path} is not an ONNX model ({brief(error)})") from error
    if isinstance(source, onnx.ModelProto):
        return _specs_from_metadata({prop.key: prop.value for prop in source.metadata_props})
    if isinstance(source, Mapping):
        return _specs_from_metadata(source)
    raise TypeError(
        "expected a fitted estimator, an onnxruntime session, an ONNX model or its path, or its "
        f"metadata; got {type(source).__name__}"
    )


def _specs_from_metadata(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    text = metadata.get("deepfit_inputs")
    if text is None:
        raise ArtifactError(
            "the ONNX model has no 'deepfit_inputs' metadata; it was not exported by deepfit"
        )
    try:
        specs = json.loads(text) if isinstance(text, str) else text
        checked = [{**spec, "name": str(spec["name"]), "role": str(spec["role"])} for spec in specs]
        for spec in checked:
            if spec["role"] == "datetime":
                spec["format"] = check_date_format(spec.get("format", ISO))
    except (TypeError, KeyError, ValueError) as error:
        raise ArtifactError(
            f"the ONNX model's 'deepfit_inputs' metadata is malformed ({brief(error)})"
        ) from error
    return checked
