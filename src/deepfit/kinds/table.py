"""The table kind: prepared columns become named tensors and a network's input layers.

A table's batch holds ``numeric`` (float32, NaN where missing) and ``categorical`` (int64
codes, 0 for unknown); :class:`~deepfit.models.network.TabularNetwork` takes both by name.

Example:
    >>> from deepfit.data.preprocess import TabularPreprocessor
    >>> from deepfit.data.schema import infer_schema
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> prep = TabularPreprocessor(infer_schema(frame), min_category_count=1).fit(frame)
    >>> sorted(inputs(prep.transform(frame)).tensors)
    ['categorical', 'numeric']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor
from deepfit.data.stream import TableFile
from deepfit.models.ensemble import EnsembleNetwork
from deepfit.models.network import TabularNetwork
from deepfit.models.registry import build_network
from deepfit.training.sources import TARGET, Batch, InMemorySource
from deepfit.training.streaming import StreamingSource

NAME = "table"


def network_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The registry's options from resolved estimator settings."""
    return {
        **(settings.get("model_options") or {}),
        "hidden_layers": [int(width) for width in settings["hidden_layers"]],
        "activation": settings["activation"],
        "dropout": float(settings["dropout"]),
        "norm": settings["norm"],
        "clip": float(settings["clip"]),
        "numeric_embedding": settings["numeric_embedding"],
    }


def build_member(
    settings: Mapping[str, Any],
    preprocessor: TabularPreprocessor,
    *,
    outputs: int,
    head: nn.Module | None = None,
    average: str = "outputs",
) -> TabularNetwork:
    """One freshly initialised network for data prepared by ``preprocessor``; ``average`` is
    how a multi-member backbone (TabM) joins its members (the task's ``member_average``)."""
    return build_network(
        settings["model"],
        medians=preprocessor.medians,
        scales=preprocessor.scales,
        missing_indicators=preprocessor.missing_in_training,
        cardinalities=preprocessor.cardinalities,
        options=network_options(settings) | {"outputs": outputs, "member_average": average},
        head=head,
    )


def build_model_network(
    settings: Mapping[str, Any],
    preprocessor: TabularPreprocessor,
    *,
    outputs: int,
    head: nn.Module,
    members: int = 1,
    average: str = "outputs",
) -> TabularNetwork:
    """The model's network (an ensemble of ``members`` when more than one), to load into."""
    if members > 1:
        parts = [
            build_member(settings, preprocessor, outputs=outputs, average=average)
            for _ in range(members)
        ]
        return EnsembleNetwork(parts, head=head, average=average)
    return build_member(settings, preprocessor, outputs=outputs, head=head, average=average)


def inputs(features: PreparedFeatures, device: torch.device | None = None) -> InMemorySource:
    """Prepared rows as a source of network inputs (no target)."""
    return InMemorySource(
        {
            "numeric": torch.tensor(features.numeric, device=device),
            "categorical": torch.tensor(features.categorical, device=device),
        }
    )


def training_source(
    preprocessor: TabularPreprocessor,
    frame: pd.DataFrame,
    target: torch.Tensor,
    device: torch.device,
) -> InMemorySource:
    """Rows of ``frame`` prepared, with the encoded ``target``, as tensors on ``device``."""
    features = preprocessor.transform(frame)
    tensors = inputs(features, device).tensors
    return InMemorySource({**tensors, TARGET: target.to(device)})


def streamed_source(
    preprocessor: TabularPreprocessor,
    table: TableFile,
    piece_rows: Sequence[int],
    *,
    target: str,
    keep: Callable[[np.ndarray], np.ndarray],
    encode: Callable[[np.ndarray], torch.Tensor],
    sample: tuple[pd.DataFrame, torch.Tensor],
    device: torch.device,
) -> StreamingSource:
    """The rows of ``table`` that ``keep`` picks by number (``piece_rows[i]`` of piece
    ``i``), prepared, with their ``target`` encoded by ``encode``; ``sample`` (features and
    encoded target) stands for them (:meth:`StreamingSource.sample`). Pieces are read and
    prepared in numpy off the main thread; only ``finish`` makes tensors."""
    columns = [*preprocessor.schema.feature_names, target]

    def read(index: int) -> tuple[PreparedFeatures, np.ndarray]:
        parts = [
            (preprocessor.transform(frame), frame[target].to_numpy())
            for frame in table.read_slices(index, columns, keep)
        ]
        numeric = np.concatenate([features.numeric for features, _ in parts])
        categorical = np.concatenate([features.categorical for features, _ in parts])
        values = np.concatenate([values for _, values in parts])
        return PreparedFeatures(numeric=numeric, categorical=categorical), values

    def finish(piece: tuple[PreparedFeatures, np.ndarray]) -> Batch:
        features, values = piece
        return {
            "numeric": torch.from_numpy(np.require(features.numeric, requirements=["C", "W"])),
            "categorical": torch.from_numpy(
                np.require(features.categorical, requirements=["C", "W"])
            ),
            TARGET: encode(values),
        }

    sample_frame, sample_target = sample
    stand_in = {**inputs(preprocessor.transform(sample_frame)).tensors, TARGET: sample_target}
    return StreamingSource(read, piece_rows, sample=stand_in, device=device, finish=finish)
