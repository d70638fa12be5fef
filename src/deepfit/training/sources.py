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

    def sample(self) -> Batch:
        """Rows that stand for the data: all of them (a streamed table's source gives a
        seeded sample); input layers fit their statistics to them."""
        return self.tensors

    def rows(self, rows: torch.Tensor) -> Batch:
        """The batch of the rows at positions ``rows``."""
        return {name: tensor[rows] for name, tensor in self.tensors.items()}

    def shard(self, rank: int, world_size: int) -> ShardedSource:
        """Process ``rank``'s share of these rows when ``world_size`` processes train together
        (see :class:`ShardedSource`)."""
        return ShardedSource(self, rank, world_size)

    def subset(self, rows: torch.Tensor) -> InMemorySource:
        """A source holding only the rows at positions ``rows`` (e.g. a bootstrap resample)."""
        return InMemorySource(self.rows(rows.to(self._device)))

    def to(self, device: torch.device) -> InMemorySource:
        """The same rows on ``device``."""
        return InMemorySource({name: t.to(device) for name, t in self.tensors.items()})


class ShardedSource:
    """Process ``rank``'s share of an in-memory source when ``world_size`` processes train on it.

    Each epoch draws one permutation of all the rows from the generator (the same seed in
    every process gives the same one), cuts it into batches as :class:`InMemorySource` does
    for ``batch_size * world_size`` rows, and gives this process its slice of each batch. So
    the processes see between them, batch by batch, exactly what one process sees with that
    global batch size, and all have as many batches. When the slices are equal (a global
    batch's rows divide by ``world_size``), DDP's averaged gradients are the one process's.

    For evaluation (:meth:`ordered`, ``len``) it holds a fixed block of about
    ``1 / world_size`` of the rows, so that the blocks' summed losses cover every row once.

    Example:
        >>> data = InMemorySource({TARGET: torch.arange(8.0)})
        >>> [batch[TARGET].tolist() for batch in data.shard(1, 2).ordered(10)]
        [[4.0, 5.0, 6.0, 7.0]]
    """

    def __init__(self, source: InMemorySource, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ConfigError(
                f"rank must be at least 0 and below world_size, however: rank={rank}, "
                f"world_size={world_size}"
            )
        if len(source) < world_size:
            raise ConfigError(
                f"{len(source)} training rows cannot be shared by {world_size} processes; "
                "use fewer processes or more rows"
            )
        self.source, self.rank, self.world_size = source, rank, world_size
        everything = torch.arange(len(source), device=source.device)
        self._block = torch.tensor_split(everything, world_size)[rank]

    def __len__(self) -> int:
        return len(self._block)

    @property
    def device(self) -> torch.device:
        return self.source.device

    def n_batches(self, batch_size: int) -> int:
        return self.source.n_batches(batch_size * self.world_size)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self.source), generator=generator).to(self.device)
        for rows in torch.tensor_split(order, self.n_batches(batch_size)):
            yield self.source.rows(torch.tensor_split(rows, self.world_size)[self.rank])

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for rows in self._block.split(batch_size):
            yield self.source.rows(rows)

    def sample(self) -> Batch:
        """Rows that stand for all the data, the same in every process: all of them."""
        return self.source.sample()


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
