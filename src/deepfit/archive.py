"""Reading a model file that may come from anywhere, at a bounded cost.

A ``.deepfit`` file is a zip of four members (three JSON documents and safetensors weights).
This module opens it and checks it before anything is built from it: only the four members,
none encrypted, the weights stored as they are and each member capped in size
(:func:`read_members`); strict JSON with finite numbers only (:func:`read_json`); the
weights' header read and counted (:func:`weights_size`); and the network a configuration
asks for sized against the weights on the meta device before it is built for real
(:func:`check_parts`, :func:`build_within`). Every failure is an :class:`ArtifactError`.
Every kind's loader (table, series, image) goes through it.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from torch import nn

from deepfit.errors import ArtifactError, DataFileNotFoundError, brief

MEMBERS = ("metadata.json", "config.json", "preprocessing.json", "weights.safetensors")
MAX_JSON_BYTES = 8 * 2**20  # a model's JSON is kilobytes; history and calibration are capped
MAX_WEIGHTS_BYTES = 8 * 2**30
# A model file's configuration is sized against its weights before a network is built, so a
# few bytes of JSON cannot make loading allocate gigabytes (see check_parts, build_within).
MAX_HEADER_BYTES = 16 * 2**20  # names, dtypes and shapes of the weights: kilobytes in practice
MAX_ELEMENTS = 2**31  # weights a loaded network may have, whatever its file holds
MAX_PARTS = 2**16  # layers and embedding tables (all members'): building takes time per part


def read_members(path: Path) -> dict[str, bytes]:
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
                _check_member(info, path)
            return {info.filename: archive.read(info) for info in infos}
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,
    ) as error:
        raise ArtifactError(
            f"{path} is corrupt ({brief(error)}); it may be truncated: train or copy it again"
        ) from error


def _check_member(info: zipfile.ZipInfo, path: Path) -> None:
    """Refuse a member that is encrypted, too large when unpacked, or weights that are
    compressed (``save`` stores them as they are, so a compressed tensor file is a bomb or an
    edit)."""
    if info.flag_bits & 0x1:
        raise ArtifactError(f"{path}: member {info.filename} is encrypted; it was not loaded")
    weights = info.filename.endswith(".safetensors")
    if weights and info.compress_type != zipfile.ZIP_STORED:
        raise ArtifactError(
            f"{path}: {info.filename} is compressed, which deepfit never writes; "
            "the file was altered or written by another tool"
        )
    if info.file_size > (MAX_WEIGHTS_BYTES if weights else MAX_JSON_BYTES):
        raise ArtifactError(f"{path}: member {info.filename} is implausibly large")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def read_json(members: dict[str, bytes], name: str, path: Path) -> dict[str, Any]:
    """A member's JSON object; an :class:`ArtifactError` for anything else, including
    NaN or infinite numbers, integers of thousands of digits and nesting too deep to parse."""
    try:
        document = json.loads(
            members[name].decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ArtifactError(
            f"{path}: {name} is not valid JSON ({brief(error)}); the file is corrupt or was edited"
        ) from error
    if not isinstance(document, dict):
        raise ArtifactError(f"{path}: {name} is not a JSON object; the file was edited")
    return document


def finite_json(value: Any) -> Any:
    """The same document with NaN and infinities as null, so it is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, np.generic):
        return finite_json(value.item())
    return value


def read_weights(members: dict[str, bytes], path: Path) -> dict[str, torch.Tensor]:
    weights_size(members, path)  # the header, bounded and checked before anything is loaded
    try:
        return load_tensors(members["weights.safetensors"])
    except (SafetensorError, RuntimeError, ValueError) as error:
        raise ArtifactError(
            f"{path} has weights that do not fit its model ({brief(error)}); "
            "the file is corrupt or was altered"
        ) from error


@dataclass(frozen=True)
class WeightsSize:
    """How many tensors a model file's weights hold, and how many numbers in all."""

    tensors: int
    elements: int

    @classmethod
    def of(cls, weights: dict[str, torch.Tensor]) -> WeightsSize:
        return cls(len(weights), sum(tensor.numel() for tensor in weights.values()))


def weights_size(members: dict[str, bytes], path: Path) -> WeightsSize:
    """The tensors and elements ``weights.safetensors`` declares, from its header alone: a
    little-endian u64 length, then JSON naming each tensor's dtype, shape and offsets."""
    data = members["weights.safetensors"]
    try:
        if len(data) < 8:
            raise ValueError("the weights are shorter than their header's length")
        (length,) = struct.unpack("<Q", data[:8])
        if length > min(MAX_HEADER_BYTES, len(data) - 8):
            raise ValueError(f"the weights' header claims {length:,} bytes")
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the weights' header is not a JSON object")
        tensors = elements = 0
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not isinstance(shape, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
            ):
                raise ValueError(f"tensor {name} has no valid shape")
            tensors, elements = tensors + 1, elements + math.prod(shape)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ArtifactError(
            f"{path} has weights that do not fit its model ({brief(error)}); "
            "the file is corrupt or was altered"
        ) from error
    return WeightsSize(tensors, elements)


def check_parts(
    path: Path, held: WeightsSize, *, layers: int, members: int = 1, columns: int = 0
) -> None:
    """Refuse a configuration of more layers and embedding tables than the weights hold
    tensors for (each has one at least) or than :data:`MAX_PARTS`: building, even on the meta
    device, takes time per part, so this comes before any network is built."""
    parts = max(members, 1) * (max(layers, 0) + max(columns, 0))
    if parts > min(held.tensors, MAX_PARTS):
        shape = f"{layers:,} layers" + (f" and {columns:,} categorical columns" if columns else "")
        each = f" in each of {members:,} members" if members > 1 else ""
        raise ArtifactError(
            f"{path} has a malformed configuration: it asks for a network of {shape}{each}, "
            f"but its weights hold {held.tensors:,} tensors (and deepfit builds at most "
            f"{MAX_PARTS:,} parts); the file was altered or written by an incompatible tool"
        )


Network = TypeVar("Network", bound=nn.Module)


def build_within(
    path: Path,
    build: Callable[[], Network],
    held: int,
    *,
    probe: Callable[[], nn.Module] | None = None,
    copies: int = 1,
) -> Network:
    """``build()``, once the network it makes is known to have no more weights than the file
    holds (``held`` numbers) nor than :data:`MAX_ELEMENTS`.

    The network is first built on the meta device, which records shapes and allocates
    nothing, and its state counted; or ``probe()`` is, ``copies`` times over (an ensemble's
    member, whose construction compares values a meta tensor does not have).
    """
    try:
        with torch.device("meta"):
            sized = (probe or build)()
        implied = copies * sum(tensor.numel() for tensor in sized.state_dict().values())
    except (RuntimeError, NotImplementedError, OverflowError, MemoryError) as error:
        raise ArtifactError(
            f"{path} has a malformed configuration: it asks for a network deepfit cannot size "
            f"({brief(error)}); the file was altered or written by an incompatible tool"
        ) from error
    if implied > min(held, MAX_ELEMENTS):
        raise ArtifactError(
            f"{path} has a malformed configuration: it asks for a network of {implied:,} "
            f"weights, but its weights hold {held:,} (and deepfit loads at most "
            f"{MAX_ELEMENTS:,}); the file was altered or written by an incompatible tool"
        )
    return build()
