"""Tabular networks by name: ``build_network("mlp", ...)``.

A builder takes the fitted input layers and the estimator's options and returns a backbone;
later architectures register here and every entry point (Python, CLI) can use them by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.inputs import CategoricalEmbeddings, NumericInput
from deepfit.models.layout import InputLayout
from deepfit.models.mlp import MLP
from deepfit.models.network import TabularNetwork

BackboneBuilder = Callable[[InputLayout, dict[str, Any]], nn.Module]


def _mlp(layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    return MLP(
        d_in=layout.d_in,
        d_out=1,
        hidden_layers=tuple(options["hidden_layers"]),
        activation=options["activation"],
        dropout=options["dropout"],
        norm=options["norm"],
    )


MODELS: dict[str, BackboneBuilder] = {"mlp": _mlp}


def build_network(
    name: str,
    *,
    medians: list[float],
    scales: list[float],
    missing_indicators: list[bool],
    cardinalities: list[int],
    options: dict[str, Any],
    target_mean: float = 0.0,
    target_std: float = 1.0,
) -> TabularNetwork:
    """Build the network ``name`` for data with the given input statistics.

    Example:
        >>> net = build_network("mlp", medians=[0.0], scales=[1.0], missing_indicators=[False],
        ...     cardinalities=[], options={"hidden_layers": (4,), "activation": "relu",
        ...     "dropout": 0.0, "norm": None, "clip": 3.0})
        >>> net.d_in
        1
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    numeric_input = NumericInput(
        medians=medians,
        scales=scales,
        missing_indicators=missing_indicators,
        clip=float(options.get("clip", 3.0)),
    )
    embeddings = CategoricalEmbeddings(cardinalities)
    layout = InputLayout(
        n_numeric=numeric_input.d_out,
        categorical_widths=tuple(table.embedding_dim for table in embeddings._embeddings()),
    )
    if layout.d_in == 0:
        raise ConfigError("the network has no input features; the data needs feature columns")
    return TabularNetwork(
        numeric_input=numeric_input,
        embeddings=embeddings,
        backbone=MODELS[name](layout, options),
        target_mean=target_mean,
        target_std=target_std,
    )
