"""Regression losses by name."""

from __future__ import annotations

from torch import nn

from deepfit.errors import ConfigError

LOSSES = ("mse", "mae", "huber")


def make_loss(name: str, *, huber_delta: float = 1.0) -> nn.Module:
    """Return the loss ``name`` (on the standardised target, so ``huber_delta`` is in stds).

    Example:
        >>> type(make_loss("huber")).__name__
        'HuberLoss'
    """
    if name == "mse":
        return nn.MSELoss()
    if name == "mae":
        return nn.L1Loss()
    if name == "huber":
        if huber_delta <= 0:
            raise ConfigError(f"huber_delta must be positive, however: huber_delta={huber_delta}")
        return nn.HuberLoss(delta=huber_delta)
    raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, however: {name!r}")
