"""Tabular networks by name: ``build_network("mlp", ...)``.

A builder takes the fitted input layers and the estimator's options and returns a backbone;
later architectures register here and every entry point (Python, CLI) can use them by name.

Options every builder may read (each new key has a default, so old saved options still build):

* ``outputs`` (1): the backbone's output width (1 gives one number per row; e.g. 3 for three
  quantiles).
* ``numeric_embedding`` (None): ``"periodic"`` or ``"piecewise"`` wraps the backbone in
  :class:`~deepfit.models.numeric_embeddings.EmbeddedBackbone`, which embeds each prepared
  numeric column (see :func:`~deepfit.models.numeric_embeddings.make_numeric_embedding` for
  its keys); a model named in ``EMBEDS_ITSELF`` reads this option in its own builder instead.
* ``ft_transformer`` and ``ensemble`` (TabM): see :mod:`deepfit.models.ft_transformer` and
  :mod:`deepfit.models.tabm` for their keys and defaults.
* ``resnet``: width ``hidden_layers[0]``, ``len(hidden_layers)`` blocks, ``d_hidden_factor``
  (2.0), ``activation``, ``dropout`` and ``norm`` as given (None means no normalisation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.ft_transformer import ft_transformer_backbone
from deepfit.models.inputs import DEFAULT_CLIP, CategoricalEmbeddings, NumericInput
from deepfit.models.layout import InputLayout
from deepfit.models.mlp import MLP
from deepfit.models.network import TabularNetwork
from deepfit.models.numeric_embeddings import (
    NUMERIC_EMBEDDINGS,
    EmbeddedBackbone,
    NumericEmbedding,
    make_numeric_embedding,
    widened_layout,
)
from deepfit.models.resnet import ResNet
from deepfit.models.tabm import tabm_backbone

BackboneBuilder = Callable[[InputLayout, dict[str, Any]], nn.Module]


def _mlp(layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    return MLP(
        d_in=layout.d_in,
        d_out=int(options.get("outputs", 1)),
        hidden_layers=tuple(options["hidden_layers"]),
        activation=options["activation"],
        dropout=options["dropout"],
        norm=options["norm"],
    )


def _resnet(layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    widths = tuple(int(width) for width in options["hidden_layers"])
    if not widths or len(set(widths)) != 1:
        raise ConfigError(
            "resnet blocks share one width, so hidden_layers must repeat one width, e.g. "
            f"(256, 256, 256), however: hidden_layers={widths}"
        )
    return ResNet(
        layout.d_in,
        int(options.get("outputs", 1)),
        width=widths[0],
        n_blocks=len(widths),
        d_hidden_factor=float(options.get("d_hidden_factor", 2.0)),
        activation=options["activation"],
        dropout=options["dropout"],
        norm=options["norm"],
    )


def _ft_transformer(layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    if options.get("numeric_embedding") is not None:
        raise ConfigError(
            "ft_transformer makes its own token for every feature, so it takes no "
            f"numeric_embedding; set numeric_embedding=None, however: "
            f"{options['numeric_embedding']!r}"
        )
    return ft_transformer_backbone(layout, options)


MODELS: dict[str, BackboneBuilder] = {
    "mlp": _mlp,
    "resnet": _resnet,
    "ft_transformer": _ft_transformer,
    "ensemble": tabm_backbone,
}
# Models whose builder reads options["numeric_embedding"] itself, so build_network does not
# wrap them in EmbeddedBackbone.
EMBEDS_ITSELF: set[str] = {"ft_transformer"}


def build_backbone(name: str, layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    """The backbone ``name`` for ``layout``, behind a numeric embedding if the options ask.

    Example:
        >>> options = {"hidden_layers": (4,), "activation": "relu", "dropout": 0.0,
        ...     "norm": None, "numeric_embedding": "piecewise", "n_bins": 4}
        >>> type(build_backbone("mlp", InputLayout(n_numeric=2), options)).__name__
        'EmbeddedBackbone'
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    kind = options.get("numeric_embedding")
    if kind is None or name in EMBEDS_ITSELF:
        return MODELS[name](layout, options)
    if kind in NUMERIC_EMBEDDINGS and layout.n_numeric == 0:
        raise ConfigError(
            f"numeric_embedding={kind!r} needs numeric columns, however the data has none; "
            "set numeric_embedding=None"
        )
    embedding = cast(NumericEmbedding, make_numeric_embedding(kind, layout.n_numeric, options))
    inner = MODELS[name](widened_layout(layout, embedding.d_embedding), options)
    return EmbeddedBackbone(layout, embedding, inner)


def layer_count(name: str, options: Mapping[str, Any]) -> int:
    """How many layers the backbone ``name`` stacks under ``options``, each with one weight
    tensor at least: what the time to build it grows with, besides the categorical columns.

    Example:
        >>> layer_count("mlp", {"hidden_layers": (64, 64)}), layer_count("ft_transformer", {})
        (2, 3)
    """
    if name == "ft_transformer":
        return int(options.get("n_blocks", 3))  # ft_transformer_backbone's default
    return len(options["hidden_layers"])


def build_network(
    name: str,
    *,
    medians: list[float],
    scales: list[float],
    missing_indicators: list[bool],
    cardinalities: list[int],
    options: dict[str, Any],
    head: nn.Module | None = None,
) -> TabularNetwork:
    """Build the network ``name`` for data with the given input statistics, ending in ``head``.

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
        clip=float(options.get("clip", DEFAULT_CLIP)),
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
        backbone=build_backbone(name, layout, options),
        head=head,
    )
