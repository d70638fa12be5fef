"""Output heads: what turns a network's raw output into the task's answer, inside the module.

A task (:mod:`deepfit.tasks`) makes the head; the network carries it, so an exported graph or
a server gives exactly what ``predict`` gives. A head holds what the task learned about the
target (its mean and scale, a temperature) in buffers that are not saved with the weights:
the model file keeps them as the task's JSON and the loader rebuilds the head from it.

* :class:`TargetUnits` (regression): the standardised output back in the target's units.
* :class:`Probabilities` (classification): logits divided by a temperature, then softmax.

Both compute in float64, so predictions do not depend on the network's float32 rounding
of the last step.

Example:
    >>> TargetUnits(mean=10.0, std=2.0)(torch.tensor([0.5])).tolist()
    [11.0]
    >>> Probabilities(temperature=1.0)(torch.zeros(1, 4)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
"""

from __future__ import annotations

import torch
from torch import nn

from deepfit.errors import ConfigError


class TargetUnits(nn.Module):
    """``raw * std + mean`` in float64: a regression network's output in the target's units;
    with ``log``, ``exp(raw * std + mean)`` (the network learned the target's logarithm).

    Works on any shape (one output per row, or one per quantile).

    Example:
        >>> TargetUnits(mean=1.0, std=2.0, log=True)(torch.tensor([0.0])).tolist()
        [2.718281828459045]
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, *, mean: float = 0.0, std: float = 1.0, log: bool = False) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float64), persistent=False)
        self.log = log

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        units = raw.double() * self.std + self.mean
        return units.exp() if self.log else units


class Probabilities(nn.Module):
    """``softmax(logits / temperature)`` in float64: class probabilities ``[rows, classes]``.

    A temperature above one softens over-confident probabilities; it never changes which
    class is the most probable (see :mod:`deepfit.evaluation.temperature`).
    """

    temperature: torch.Tensor

    def __init__(self, *, temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, however: {temperature}")
        self.register_buffer(
            "temperature", torch.tensor(temperature, dtype=torch.float64), persistent=False
        )

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.double() / self.temperature, dim=-1)
