"""A multilayer perceptron with any depth, widths, activation and normalisation."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.dropout import FastDropout

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "selu": nn.SELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "mish": nn.Mish,
    "silu": nn.SiLU,
}
Norm = Literal["batch", "layer"] | None
NORMS = ("batch", "layer", None)


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, however: {name!r}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """Linear blocks ``Linear -> [norm] -> activation -> [dropout]`` and a linear output.

    Example:
        >>> import torch
        >>> MLP(d_in=4, d_out=1, hidden_layers=(8, 8))(torch.zeros(2, 4)).shape
        torch.Size([2, 1])
    """

    def __init__(
        self,
        *,
        d_in: int,
        d_out: int,
        hidden_layers: tuple[int, ...] = (256, 256, 256),
        activation: str = "relu",
        dropout: float = 0.0,
        norm: Norm = None,
    ) -> None:
        super().__init__()
        if d_in < 1:
            raise ConfigError(f"d_in must be a positive integer, however: d_in={d_in}")
        if any(int(width) < 1 for width in hidden_layers):
            raise ConfigError(f"hidden layer widths must be positive, however: {hidden_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), however: dropout={dropout}")
        if norm not in NORMS:
            raise ConfigError(f"norm must be 'batch', 'layer' or None, however: {norm!r}")
        layers: list[nn.Module] = []
        width_in = d_in
        for width in hidden_layers:
            layers.append(nn.Linear(width_in, int(width)))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(int(width)))
            elif norm == "layer":
                layers.append(nn.LayerNorm(int(width)))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(FastDropout(dropout))
            width_in = int(width)
        layers.append(nn.Linear(width_in, d_out))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
