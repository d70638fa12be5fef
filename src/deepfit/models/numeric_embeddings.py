"""Embeddings of numeric features: each prepared numeric column becomes a small vector.

After Gorishniy, Rubachev and Babenko (2022), "On Embeddings for Numerical Features in Tabular
Deep Learning" (the ``rtdl_num_embeddings`` package), written anew for deepfit:

* :class:`PeriodicEmbedding` (PLR): ``ReLU(Linear([cos(2 pi c x), sin(2 pi c x)]))`` with
  trainable frequencies ``c``.
* :class:`PiecewiseLinearEmbedding` (PLE, "version B"): a linear term on ``x`` plus a linear map
  of the piecewise-linear encoding of ``x`` over quantile bins fitted to the training data.

Both map ``[B, n]`` to ``[B, n, d_embedding]``. :class:`EmbeddedBackbone` puts one in front of
any backbone, and :func:`make_numeric_embedding` builds one by name from the estimator's options.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
from torch import nn

from deepfit.errors import ConfigError, DataError
from deepfit.models.layout import InputLayout

NUMERIC_EMBEDDINGS = ("periodic", "piecewise")
# Our inputs are robust-scaled (about unit spread) and smoothly clipped to (-3, 3). With
# frequencies c ~ N(0, 0.1) (truncated at 3 sigma), 2 pi c x spans about 2 radians over the range
# for a typical frequency and up to about 6 for the largest: enough curvature for bumps and
# thresholds at the scale of the data from the first step, without the high-frequency wiggles of
# scale >= 1 that fit noise on small tables. rtdl's 0.01 gives only 0.2 radians over (-3, 3), an
# almost linear start that the frequencies leave slowly. Tune it in [0.01, 10] (log scale).
DEFAULT_FREQUENCY_SCALE = 0.1
QUANTILE_ROWS = 200_000  # bins are fitted on at most this many rows (a fixed random subset)


class _PerFeatureLinear(nn.Module):
    """``n`` separate linear maps, one per feature: ``[B, n, d_in] -> [B, n, d_out]``."""

    def __init__(self, n: int, d_in: int, d_out: int, *, bias: bool = True) -> None:
        super().__init__()
        bound = d_in**-0.5
        self.weight = nn.Parameter(torch.empty(n, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, d_out).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = (x.transpose(0, 1) @ self.weight).transpose(0, 1)  # batched matmul over features
        return out if self.bias is None else out + self.bias


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ConfigError(f"{name} must be positive, however: {name}={value}")


class PeriodicEmbedding(nn.Module):
    """PLR embeddings: periodic features of trainable frequencies, a linear map, then ReLU.

    Args:
        n_features: the number of numeric columns.
        n_frequencies: frequencies per column (``k``); the linear map sees ``2k`` values.
        frequency_scale: the standard deviation of the initial frequencies (``sigma``); see
            ``DEFAULT_FREQUENCY_SCALE`` for why 0.1 suits deepfit's prepared inputs.
        d_embedding: the width of each column's embedding.
        lite: share one linear map across all columns (PLR-lite) instead of one per column.

    Example:
        >>> embedding = PeriodicEmbedding(3, n_frequencies=8, d_embedding=4)
        >>> embedding(torch.zeros(2, 3)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(
        self,
        n_features: int,
        *,
        n_frequencies: int = 48,
        frequency_scale: float = DEFAULT_FREQUENCY_SCALE,
        d_embedding: int = 24,
        lite: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(
            n_features=n_features,
            n_frequencies=n_frequencies,
            frequency_scale=frequency_scale,
            d_embedding=d_embedding,
        )
        self.d_embedding = int(d_embedding)
        self.frequencies = nn.Parameter(torch.empty(n_features, n_frequencies))
        bound = 3.0 * frequency_scale  # as rtdl: no extreme frequencies at the start
        nn.init.trunc_normal_(self.frequencies, 0.0, frequency_scale, a=-bound, b=bound)
        self.linear: nn.Module = (
            nn.Linear(2 * n_frequencies, d_embedding)
            if lite
            else _PerFeatureLinear(n_features, 2 * n_frequencies, d_embedding)
        )
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * self.frequencies * x.unsqueeze(-1)
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        return cast(torch.Tensor, self.activation(self.linear(periodic)))


class PiecewiseLinearEmbedding(nn.Module):
    """PLE embeddings over quantile bins: ``linear(x) + linear(encode(x))``, optional ReLU.

    ``bin_edges`` (``[n_features, n_bins + 1]``) is a buffer, so it is saved and loaded with
    the weights. It starts as ``n_bins`` equal bins over (-3, 3), the range of deepfit's
    prepared inputs, and :meth:`fit_to_data` sets it to the training data's quantiles. A column
    with fewer distinct quantiles than edges keeps its distinct edges first and repeats the last
    one; the empty bins this leaves encode to 0 (a constant column has only empty bins).

    Bin ``t`` of ``x`` encodes to ``clamp((x - left_t) / width_t, 0, 1)``, except that the
    first bin is not clamped below and the last non-empty bin not above. The encoding goes
    through a per-column linear map (no bias, starting at zero) and is added to a per-column
    linear map of ``x`` itself ("version B" in rtdl), so training starts from linear embeddings.

    Example:
        >>> embedding = PiecewiseLinearEmbedding(2, n_bins=4, d_embedding=3)
        >>> embedding.fit_to_data(torch.randn(100, 2))
        >>> embedding(torch.zeros(5, 2)).shape
        torch.Size([5, 2, 3])
    """

    bin_edges: torch.Tensor

    def __init__(
        self,
        n_features: int,
        *,
        n_bins: int = 32,
        d_embedding: int = 16,
        activation: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(n_features=n_features, n_bins=n_bins, d_embedding=d_embedding)
        self.d_embedding = int(d_embedding)
        self.n_bins = int(n_bins)
        edges = torch.linspace(-3.0, 3.0, n_bins + 1).expand(n_features, -1).clone()
        self.register_buffer("bin_edges", edges)
        self.linear_x = _PerFeatureLinear(n_features, 1, d_embedding)
        self.linear_bins = _PerFeatureLinear(n_features, n_bins, d_embedding, bias=False)
        nn.init.zeros_(self.linear_bins.weight)
        self.activation = nn.ReLU() if activation else nn.Identity()

    @torch.no_grad()
    def fit_to_data(self, x: torch.Tensor) -> None:
        """Set the bin edges to the quantiles of each column of ``x`` (``[rows, n_features]``)."""
        if x.ndim != 2 or x.shape[1] != self.bin_edges.shape[0] or x.shape[0] == 0:
            raise DataError(
                f"fit_to_data needs a [rows, {self.bin_edges.shape[0]}] tensor with rows, "
                f"however: shape {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(x).all()):
            raise DataError("fit_to_data needs finite values; prepare the features first")
        x = x.detach().float()
        if x.shape[0] > QUANTILE_ROWS:
            generator = torch.Generator().manual_seed(0)
            x = x[torch.randperm(x.shape[0], generator=generator)[:QUANTILE_ROWS].to(x.device)]
        levels = torch.linspace(0.0, 1.0, self.n_bins + 1, device=x.device)
        quantiles = _quantiles(x, levels)  # [n_bins + 1, n_features]
        edges = [_distinct_padded(column, self.n_bins + 1) for column in quantiles.T]
        self.bin_edges.copy_(torch.stack(edges).to(self.bin_edges))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The piecewise-linear encoding of ``x``: ``[B, n] -> [B, n, n_bins]``."""
        # Each bin's ratio is clamped to [0, 1], but the first bin's is open below and the
        # last non-empty bin's above; an empty bin (repeated edges) gives 0. The bounds depend
        # on the edges only, so an exported graph holds them as constants and runs four
        # elementwise operations per value, with no Where (slow in ONNX Runtime).
        left, right = self.bin_edges[:, :-1], self.bin_edges[:, 1:]
        width = right - left
        nonempty = width > 0
        inverse = torch.where(nonempty, 1.0 / torch.where(nonempty, width, 1.0), 0.0)
        next_nonempty = torch.cat([nonempty[:, 1:], torch.zeros_like(nonempty[:, :1])], dim=1)
        last = nonempty & ~next_nonempty
        low = torch.zeros_like(width)
        low[:, 0] = -torch.inf
        high = torch.where(last, torch.inf, 1.0).to(width)
        ratio = (x.unsqueeze(-1) - left) * inverse
        return torch.minimum(torch.maximum(ratio, low), high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear_x(x.unsqueeze(-1)) + self.linear_bins(self.encode(x))
        return cast(torch.Tensor, self.activation(out))


def _quantiles(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Linear-interpolation quantiles of each column (torch.quantile caps the input size)."""
    ordered = x.sort(dim=0).values
    position = levels * (x.shape[0] - 1)
    below = position.floor().long()
    above = position.ceil().long()
    fraction = (position - below).unsqueeze(1)
    low, high = ordered[below], ordered[above]
    return low + (high - low) * fraction


def _distinct_padded(edges: torch.Tensor, size: int) -> torch.Tensor:
    """The distinct values of sorted ``edges``, then the last one repeated up to ``size``."""
    distinct = torch.unique(edges)  # sorted
    return torch.cat([distinct, distinct[-1:].expand(size - distinct.numel())])


NumericEmbedding = PeriodicEmbedding | PiecewiseLinearEmbedding


def make_numeric_embedding(
    name: str | None, n_features: int, options: dict[str, Any]
) -> NumericEmbedding | None:
    """The numeric embedding ``name`` (None, "periodic", "piecewise") for ``n_features`` columns.

    Reads ``d_embedding`` (default 24 for periodic, 16 for piecewise), ``n_frequencies`` (48),
    ``frequency_scale`` (0.1), ``lite`` (False) and ``n_bins`` (32) from ``options``.

    Example:
        >>> make_numeric_embedding("periodic", 3, {"d_embedding": 8}).d_embedding
        8
        >>> make_numeric_embedding(None, 3, {}) is None
        True
    """
    if name is None:
        return None
    if name == "periodic":
        return PeriodicEmbedding(
            n_features,
            n_frequencies=int(options.get("n_frequencies", 48)),
            frequency_scale=float(options.get("frequency_scale", DEFAULT_FREQUENCY_SCALE)),
            d_embedding=int(options.get("d_embedding", 24)),
            lite=bool(options.get("lite", False)),
        )
    if name == "piecewise":
        return PiecewiseLinearEmbedding(
            n_features,
            n_bins=int(options.get("n_bins", 32)),
            d_embedding=int(options.get("d_embedding", 16)),
        )
    raise ConfigError(
        f"numeric_embedding must be one of None, {', '.join(NUMERIC_EMBEDDINGS)}, however: {name!r}"
    )


class EmbeddedBackbone(nn.Module):
    """A numeric embedding in front of a backbone.

    The numeric block of the input (``layout.n_numeric`` columns) is embedded and flattened to
    ``n_numeric * d_embedding`` columns, the categorical block follows unchanged, and ``inner``
    (built for that widened layout, see :func:`widened_layout`) gets the result.

    Example:
        >>> from deepfit.models.mlp import MLP
        >>> layout = InputLayout(n_numeric=2, categorical_widths=(3,))
        >>> embedding = PeriodicEmbedding(2, d_embedding=4)
        >>> inner = MLP(d_in=widened_layout(layout, 4).d_in, d_out=1, hidden_layers=(8,))
        >>> EmbeddedBackbone(layout, embedding, inner)(torch.zeros(5, 5)).shape
        torch.Size([5, 1])
    """

    def __init__(self, layout: InputLayout, embedding: nn.Module, inner: nn.Module) -> None:
        super().__init__()
        self.n_numeric = layout.n_numeric
        self.embedding = embedding
        self.inner = inner

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The inner backbone's input: embedded numeric columns, then the categorical block."""
        numeric, rest = features[:, : self.n_numeric], features[:, self.n_numeric :]
        return torch.cat([self.embedding(numeric).flatten(1), rest], dim=1)

    @torch.no_grad()
    def fit_to_data(self, features: torch.Tensor) -> None:
        """Fit the embedding (bins) to the training rows, then the inner backbone if it fits."""
        fit = getattr(self.embedding, "fit_to_data", None)
        if callable(fit):
            fit(features[:, : self.n_numeric])
        fit_inner = getattr(self.inner, "fit_to_data", None)
        if callable(fit_inner):
            fit_inner(self.embed(features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.inner(self.embed(features)))


def widened_layout(layout: InputLayout, d_embedding: int) -> InputLayout:
    """The layout after embedding each numeric column into ``d_embedding`` values.

    Example:
        >>> widened_layout(InputLayout(n_numeric=3, categorical_widths=(2,)), 4).d_in
        14
    """
    return InputLayout(
        n_numeric=layout.n_numeric * d_embedding, categorical_widths=layout.categorical_widths
    )
