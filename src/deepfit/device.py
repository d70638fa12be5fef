"""Choose the torch device a run uses.

Under ``torchrun`` each process on a machine needs a GPU of its own (NCCL refuses two ranks on
one GPU, and ``cuda:1`` does not exist on a one-GPU machine), so ``"auto"`` takes the GPUs only
when there are at least as many as the machine's processes, and trains on the CPU otherwise,
saying so once; ``"cuda"`` with too few GPUs is refused with what to do instead.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch

from deepfit.errors import ConfigError, DeepfitWarning


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when a GPU is present (one for each of this machine's processes
    under ``torchrun``), else the CPU; other names pass through.

    Example:
        >>> resolve_device("cpu").type
        'cpu'
    """
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        processes, gpus = local_processes(), torch.cuda.device_count()
        if processes > gpus:
            _warn_gpus_too_few(processes, gpus)
            return torch.device("cpu")
        return torch.device("cuda")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but no GPU is available; use 'auto' or 'cpu'"
        )
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and device.index is not None and device.index >= gpus:
        raise ConfigError(
            f"device {name!r} does not exist: this machine has {gpus} GPU(s), cuda:0 to "
            f"cuda:{gpus - 1}; use 'cuda' or 'auto'"
        )
    if device.type == "cuda" and local_processes() > gpus:
        raise ConfigError(
            f"device 'cuda' with {local_processes()} processes on this machine needs a GPU for "
            f"each, and it has {gpus}; start at most {gpus} processes (--processes), or use "
            "--device cpu"
        )
    return device


def local_processes() -> int:
    """How many training processes ``torchrun`` started on this machine (1 outside it).

    Example:
        >>> local_processes() >= 1
        True
    """
    if "WORLD_SIZE" not in os.environ:
        return 1
    count = os.environ.get("LOCAL_WORLD_SIZE") or os.environ["WORLD_SIZE"]
    return int(count) if count.isdigit() and int(count) > 0 else 1


@functools.cache
def _warn_gpus_too_few(processes: int, gpus: int) -> None:
    warnings.warn(
        f"{processes} processes on this machine and {gpus} GPU(s): each process needs a GPU "
        f"of its own, so they train on the CPU; start at most {gpus} processes to train on "
        "the GPUs",
        DeepfitWarning,
        stacklevel=3,
    )
