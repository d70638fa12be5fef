"""FT-Transformer: every feature becomes a token, a small transformer reads them all.

Gorishniy et al. (2021), "Revisiting Deep Learning Models for Tabular Data". The feature
tokenizer maps numeric column ``j`` to ``x_j * W_j + b_j`` and each categorical embedding block
through its own ``Linear(width_j, d_token)``; a learned [CLS] token is put in front. Pre-norm
transformer blocks (no normalisation before the very first attention, as in the paper; ReGLU
feed-forward) follow, and the head ``LayerNorm -> ReLU -> Linear`` reads the [CLS] token.

Attention is written with ``matmul`` and ``softmax`` (not ``nn.MultiheadAttention``) so the
network exports to ONNX with the TorchScript exporter.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.layout import InputLayout


def _init_rsqrt_uniform_(tensor: torch.Tensor, d: int) -> None:
    bound = 1.0 / math.sqrt(d)
    nn.init.uniform_(tensor, -bound, bound)


class FeatureTokenizer(nn.Module):
    """``[B, layout.d_in]`` in, ``[B, 1 + n_numeric + n_categorical, d_token]`` out, [CLS] first.

    Example:
        >>> tokenizer = FeatureTokenizer(InputLayout(n_numeric=2, categorical_widths=(3,)), 8)
        >>> tokenizer(torch.zeros(5, 5)).shape
        torch.Size([5, 4, 8])
    """

    numeric_weight: nn.Parameter | None
    numeric_bias: nn.Parameter | None

    def __init__(self, layout: InputLayout, d_token: int) -> None:
        super().__init__()
        self.n_numeric = layout.n_numeric
        self.categorical_widths = tuple(int(width) for width in layout.categorical_widths)
        if layout.n_numeric > 0:
            self.numeric_weight = nn.Parameter(torch.empty(layout.n_numeric, d_token))
            self.numeric_bias = nn.Parameter(torch.empty(layout.n_numeric, d_token))
        else:
            self.register_parameter("numeric_weight", None)
            self.register_parameter("numeric_bias", None)
        self.categorical = nn.ModuleList(
            nn.Linear(width, d_token) for width in self.categorical_widths
        )
        self.cls = nn.Parameter(torch.empty(d_token))
        self.reset_parameters()

    @property
    def n_tokens(self) -> int:
        """Tokens per row, the [CLS] token included."""
        return 1 + self.n_numeric + len(self.categorical_widths)

    def reset_parameters(self) -> None:
        d_token = self.cls.shape[0]
        _init_rsqrt_uniform_(self.cls, d_token)
        for parameter in (self.numeric_weight, self.numeric_bias):
            if parameter is not None:
                _init_rsqrt_uniform_(parameter, d_token)
        for linear in self.categorical:
            linear = cast(nn.Linear, linear)
            _init_rsqrt_uniform_(linear.weight, d_token)
            _init_rsqrt_uniform_(linear.bias, d_token)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = [self.cls.expand(x.shape[0], 1, -1)]
        if self.numeric_weight is not None and self.numeric_bias is not None:
            numeric = x[:, : self.n_numeric]
            tokens.append(numeric.unsqueeze(-1) * self.numeric_weight + self.numeric_bias)
        start = self.n_numeric
        for width, linear in zip(self.categorical_widths, self.categorical, strict=True):
            tokens.append(linear(x[:, start : start + width]).unsqueeze(1))
            start += width
        return torch.cat(tokens, dim=1)


class SelfAttention(nn.Module):
    """Multi-head attention of ``queries`` over ``tokens``, both ``[B, n, d_token]``.

    Example:
        >>> attention = SelfAttention(d_token=8, n_heads=2, dropout=0.0)
        >>> tokens = torch.zeros(3, 5, 8)
        >>> attention(tokens[:, :1], tokens).shape
        torch.Size([3, 1, 8])
    """

    def __init__(self, *, d_token: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_token, d_token)
        self.key = nn.Linear(d_token, d_token)
        self.value = nn.Linear(d_token, d_token)
        self.mix = nn.Linear(d_token, d_token) if n_heads > 1 else None
        self.dropout = nn.Dropout(dropout)
        for linear in (self.query, self.key, self.value, self.mix):
            if linear is not None:
                nn.init.zeros_(linear.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, n, d]`` -> ``[B, heads, n, d / heads]``."""
        rows, n, d = x.shape
        return x.reshape(rows, n, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.query(queries))
        k = self._heads(self.key(tokens))
        v = self._heads(self.value(tokens))
        logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        attended = self.dropout(nn.functional.softmax(logits, dim=-1)) @ v
        rows, _, n_queries, _ = attended.shape
        out = attended.transpose(1, 2).reshape(rows, n_queries, -1)
        return out if self.mix is None else self.mix(out)


class _ReGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=-1)
        return a * nn.functional.relu(b)


class TransformerBlock(nn.Module):
    """Pre-norm block: attention and a ReGLU feed-forward, each with a residual connection."""

    def __init__(
        self,
        *,
        d_token: int,
        n_heads: int,
        d_ffn: int,
        attention_dropout: float,
        ffn_dropout: float,
        residual_dropout: float,
        first: bool,
    ) -> None:
        super().__init__()
        # The paper drops the very first normalisation: the tokens come straight from the
        # tokenizer, and normalising them there hurts.
        self.attention_norm = nn.Identity() if first else nn.LayerNorm(d_token)
        self.attention = SelfAttention(d_token=d_token, n_heads=n_heads, dropout=attention_dropout)
        self.ffn_norm = nn.LayerNorm(d_token)
        self.ffn = nn.Sequential(
            nn.Linear(d_token, 2 * d_ffn),
            _ReGLU(),
            nn.Dropout(ffn_dropout),
            nn.Linear(d_ffn, d_token),
        )
        self.residual_dropout = nn.Dropout(residual_dropout)

    def forward(self, x: torch.Tensor, *, cls_only: bool = False) -> torch.Tensor:
        """``cls_only``: the last block only needs the [CLS] token's output, so only it queries."""
        normed = self.attention_norm(x)
        queries = normed[:, :1] if cls_only else normed
        residual = x[:, :1] if cls_only else x
        x = residual + self.residual_dropout(self.attention(queries, normed))
        return x + self.residual_dropout(self.ffn(self.ffn_norm(x)))


class FTTransformer(nn.Module):
    """FT-Transformer backbone: ``[B, layout.d_in]`` in, ``[B, d_out]`` out.

    Example:
        >>> layout = InputLayout(n_numeric=3, categorical_widths=(4,))
        >>> net = FTTransformer(layout=layout, d_out=1, d_token=16, n_blocks=2, n_heads=4)
        >>> net(torch.zeros(5, layout.d_in)).shape
        torch.Size([5, 1])
    """

    def __init__(
        self,
        *,
        layout: InputLayout,
        d_out: int = 1,
        d_token: int = 192,
        n_blocks: int = 3,
        n_heads: int = 8,
        ffn_factor: float = 4 / 3,
        attention_dropout: float = 0.2,
        ffn_dropout: float = 0.1,
        residual_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check(layout=layout, d_out=d_out, d_token=d_token, n_blocks=n_blocks, n_heads=n_heads)
        for name, rate in [
            ("attention_dropout", attention_dropout),
            ("ffn_dropout", ffn_dropout),
            ("residual_dropout", residual_dropout),
        ]:
            if not 0.0 <= rate < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), however: {name}={rate}")
        d_ffn = int(d_token * ffn_factor)
        if d_ffn < 1:
            raise ConfigError(f"ffn_factor must be positive, however: ffn_factor={ffn_factor}")
        self.tokenizer = FeatureTokenizer(layout, d_token)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d_token=d_token,
                n_heads=n_heads,
                d_ffn=d_ffn,
                attention_dropout=attention_dropout,
                ffn_dropout=ffn_dropout,
                residual_dropout=residual_dropout,
                first=index == 0,
            )
            for index in range(n_blocks)
        )
        self.head = nn.Sequential(nn.LayerNorm(d_token), nn.ReLU(), nn.Linear(d_token, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.tokenizer(x)
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            tokens = block(tokens, cls_only=index == last)
        return self.head(tokens[:, 0])


def _check(*, layout: InputLayout, d_out: int, d_token: int, n_blocks: int, n_heads: int) -> None:
    if layout.d_in < 1:
        raise ConfigError("FT-Transformer needs at least one input column, however: d_in=0")
    for name, value in [
        ("outputs", d_out),
        ("d_token", d_token),
        ("n_blocks", n_blocks),
        ("n_heads", n_heads),
    ]:
        if int(value) < 1:
            raise ConfigError(f"{name} must be a positive integer, however: {name}={value}")
    if d_token % n_heads:
        raise ConfigError(
            f"d_token must be a multiple of n_heads, however: d_token={d_token}, n_heads={n_heads}"
        )


def ft_transformer_backbone(layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    """The FT-Transformer backbone for ``layout``, with the paper's defaults for missing options.

    Reads ``outputs`` (1), ``d_token`` (192), ``n_blocks`` (3), ``n_heads`` (8),
    ``ffn_factor`` (4/3), ``attention_dropout`` (0.2), ``ffn_dropout`` (0.1) and
    ``residual_dropout`` (0.0); ``hidden_layers``, ``activation``, ``dropout`` and ``norm``
    belong to the MLP and are not used.

    Example:
        >>> backbone = ft_transformer_backbone(InputLayout(n_numeric=2), {"d_token": 16})
        >>> backbone(torch.zeros(4, 2)).shape
        torch.Size([4, 1])
    """
    return FTTransformer(
        layout=layout,
        d_out=int(options.get("outputs", 1)),
        d_token=int(options.get("d_token", 192)),
        n_blocks=int(options.get("n_blocks", 3)),
        n_heads=int(options.get("n_heads", 8)),
        ffn_factor=float(options.get("ffn_factor", 4 / 3)),
        attention_dropout=float(options.get("attention_dropout", 0.2)),
        ffn_dropout=float(options.get("ffn_dropout", 0.1)),
        residual_dropout=float(options.get("residual_dropout", 0.0)),
    )
