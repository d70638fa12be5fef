"""Where the training loop gets its batches: a batch is a mapping of named tensors.

The loop hands a batch to the network by name (``network(**inputs)``) and scores the output
against ``batch[TARGET]``; it knows nothing else about the data. A table's batch holds
``numeric`` and ``categorical``; a sequence or image source will hold its own names.

:class:`InMemorySource` is today's source: tensors already on the device, batches cut as
index slices of one shuffled permutation per epoch (no per-row DataLoader). A source that
streams from disk implements :class:`BatchSource` too.

Example:
    >>> source = InMemorySource({"numeric": torch.zeros(5, 2), TARGET: torch.arange(5.0)})
    >>> [batch[TARGET].tolist() for batch in source.ordered(2)]
    [[0.0, 1.0], [2.0, 3.0], [4.0]]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

import torch

from deepfit.errors import ConfigError

TARGET = "target"
Batch = dict[str, torch.Tensor]


class BatchSource(Protocol):
    """What the loop needs from its data."""

    def __len__(self) -> int:
        """The number of rows."""
        ...

    @property
    def device(self) -> torch.device:
        """Where the batches' tensors live."""
        ...

    def n_batches(self, batch_size: int) -> int:
        """How many batches :meth:`batches` gives in one epoch."""
        ...

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """One epoch of training batches in an order drawn from ``generator``."""
        ...

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        """Every row once, in order (for evaluation and prediction)."""
        ...


class InMemorySource:
    """Named tensors with one row per example, on one device; batches are index slices.

    A last training batch of one row is folded into the one before it, because a single row
    breaks batch norm and adds noise.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        if not tensors:
            raise ConfigError("a batch source needs at least one tensor")
        rows = {int(tensor.shape[0]) for tensor in tensors.values()}
        devices = {tensor.device for tensor in tensors.values()}
        if len(rows) != 1 or len(devices) != 1:
            shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
            raise ConfigError(
                f"a batch source's tensors must have the same rows on one device, however: "
                f"{shapes} on {sorted(map(str, devices))}"
            )
        self.tensors: dict[str, torch.Tensor] = dict(tensors)
        self._rows = rows.pop()
        self._device = devices.pop()

    def __len__(self) -> int:
        return self._rows

    @property
    def device(self) -> torch.device:
        return self._device

    def n_batches(self, batch_size: int) -> int:
        return max(1, self._rows // batch_size) if self._rows > batch_size else 1

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(self._rows, generator=generator).to(self._device)
        for rows in torch.tensor_split(order, self.n_batches(batch_size)):
            yield self.rows(rows)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for rows in torch.arange(self._rows, device=self._device).split(batch_size):
            yield self.rows(rows)

    def rows(self, rows: torch.Tensor) -> Batch:
        """The batch of the rows at positions ``rows``."""
        return {name: tensor[rows] for name, tensor in self.tensors.items()}

    def subset(self, rows: torch.Tensor) -> InMemorySource:
        """A source holding only the rows at positions ``rows`` (e.g. a bootstrap resample)."""
        return InMemorySource(self.rows(rows.to(self._device)))

    def to(self, device: torch.device) -> InMemorySource:
        """The same rows on ``device``."""
        return InMemorySource({name: t.to(device) for name, t in self.tensors.items()})


def inputs_and_target(batch: Batch) -> tuple[Batch, torch.Tensor]:
    """The network's inputs (every tensor but the target) and the target of a training batch.

    Example:
        >>> inputs_and_target({"numeric": torch.zeros(1, 1), TARGET: torch.ones(1)})[1]
        tensor([1.])
    """
    if TARGET not in batch:
        raise ConfigError(f"a training batch needs a {TARGET!r} tensor, however: {sorted(batch)}")
    return inputs_of(batch), batch[TARGET]


def inputs_of(batch: Batch) -> Batch:
    """The network's inputs: every tensor of ``batch`` but the target."""
    return {name: tensor for name, tensor in batch.items() if name != TARGET}
