"""A ResNet for tables, after Gorishniy et al. (2021), "Revisiting Deep Learning Models for
Tabular Data": a linear stem, residual blocks of two linear layers, and a normalised head."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.dropout import FastDropout
from deepfit.models.mlp import NORMS, Norm, make_activation


def _make_norm(norm: Norm, width: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm1d(width)
    if norm == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


class ResidualBlock(nn.Module):
    """``x + dropout(Linear(dropout(activation(Linear(norm(x))))))``.

    Example:
        >>> ResidualBlock(4, 8, activation="relu", dropout=0.0, norm="layer")(
        ...     torch.zeros(2, 4)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self, width: int, d_hidden: int, *, activation: str, dropout: float, norm: Norm
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _make_norm(norm, width),
            nn.Linear(width, d_hidden),
            make_activation(activation),
            FastDropout(dropout),
            nn.Linear(d_hidden, width),
            FastDropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + cast(torch.Tensor, self.layers(x))


class ResNet(nn.Module):
    """``Linear(d_in, width)``, ``n_blocks`` residual blocks, then norm, activation, linear.

    Each block widens to ``round(width * d_hidden_factor)`` and back. ``norm=None`` leaves the
    blocks and the head without normalisation; the paper's ResNet uses ``"batch"`` (the
    default here).

    Example:
        >>> ResNet(5, outputs=2, width=8, n_blocks=2)(torch.zeros(3, 5)).shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        d_in: int,
        outputs: int = 1,
        *,
        width: int = 256,
        n_blocks: int = 3,
        d_hidden_factor: float = 2.0,
        activation: str = "relu",
        dropout: float = 0.1,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        for name, value in {"d_in": d_in, "outputs": outputs, "width": width}.items():
            if value < 1:
                raise ConfigError(f"{name} must be a positive integer, however: {name}={value}")
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be non-negative, however: n_blocks={n_blocks}")
        d_hidden = round(width * d_hidden_factor)
        if d_hidden < 1:
            raise ConfigError(
                f"d_hidden_factor must give a positive width, however: "
                f"d_hidden_factor={d_hidden_factor}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), however: dropout={dropout}")
        if norm not in NORMS:
            raise ConfigError(f"norm must be 'batch', 'layer' or None, however: {norm!r}")
        self.stem = nn.Linear(d_in, width)
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(width, d_hidden, activation=activation, dropout=dropout, norm=norm)
                for _ in range(n_blocks)
            )
        )
        self.head = nn.Sequential(
            _make_norm(norm, width), make_activation(activation), nn.Linear(width, outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.head(self.blocks(self.stem(x))))
