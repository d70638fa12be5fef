"""Choose the torch device a run uses."""

from __future__ import annotations

import torch

from deepfit.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when a GPU is present, else the CPU; other names pass through.

    Example:
        >>> resolve_device("cpu").type
        'cpu'
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but no GPU is available; use 'auto' or 'cpu'"
        )
    return device
