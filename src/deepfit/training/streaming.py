"""A batch source that streams: pieces of rows read one at a time, never all at once.

Each epoch reads the pieces (a table's row groups) in an order drawn from the loop's
generator, while a background thread reads and prepares the next one as numpy arrays. Torch
work stays in the main thread (``finish``): a torch operation in a second thread starts a
second OpenMP pool beside the training's, which slowed training by a third here. Rows pass through a
shuffle buffer of at most ``buffer_rows`` rows: when it is full it is shuffled, its first half
goes out as batches and the second half waits to mix with the next piece. Memory stays at
about two pieces and one buffer, however large the data.

Every draw comes from the loop's generator, so an epoch repeats exactly for the same seed,
and a resumed run goes on as the uninterrupted one would. Batches are full except the last
of an epoch; a last batch of one row is dropped (one row breaks batch norm).

Example:
    >>> pieces = [{"x": torch.arange(3.0), "target": torch.zeros(3)}, {"x": torch.arange(2.0),
    ...     "target": torch.zeros(2)}]
    >>> source = StreamingSource(pieces.__getitem__, [3, 2], sample=pieces[0])
    >>> sum(len(b["target"]) for b in source.batches(2, torch.Generator().manual_seed(0)))
    5
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from deepfit.errors import ConfigError
from deepfit.memory import release_free_memory
from deepfit.training.sources import Batch

SHUFFLE_ROWS = 262_144


class StreamingSource:
    """Batches from pieces that ``read(index)`` gives (in a background thread), which
    ``finish`` turns into named CPU tensors (in the caller's thread).

    ``piece_rows[i]`` is how many rows piece ``i`` has (known from the statistics pass);
    ``sample`` is a fixed set of rows that stands for the data (:meth:`sample`); ``pieces``
    limits the source to some piece indices (a process's shard). By default ``read`` gives
    the tensors themselves.
    """

    def __init__(
        self,
        read: Callable[[int], Any],
        piece_rows: Sequence[int],
        *,
        sample: Batch,
        device: torch.device | None = None,
        buffer_rows: int = SHUFFLE_ROWS,
        pieces: Sequence[int] | None = None,
        finish: Callable[[Any], Batch] | None = None,
    ) -> None:
        if buffer_rows < 2:
            raise ConfigError(f"a shuffle buffer needs at least 2 rows, however: {buffer_rows}")
        self.read = read
        self.finish = finish
        self.piece_rows = [int(n) for n in piece_rows]
        self.pieces = [i for i in (range(len(piece_rows)) if pieces is None else pieces)]
        self.pieces = [i for i in self.pieces if self.piece_rows[i] > 0]
        self.buffer_rows = buffer_rows
        self._sample = sample
        self._device = device or torch.device("cpu")
        self._rows = sum(self.piece_rows[i] for i in self.pieces)

    def __len__(self) -> int:
        return self._rows

    @property
    def device(self) -> torch.device:
        return self._device

    def sample(self) -> Batch:
        """The rows that stand for the data, on the source's device."""
        return {name: tensor.to(self._device) for name, tensor in self._sample.items()}

    def shard(self, rank: int, world_size: int) -> StreamingSource:
        """The source of process ``rank`` of ``world_size``: every ``world_size``-th piece."""
        return StreamingSource(
            self.read,
            self.piece_rows,
            sample=self._sample,
            device=self._device,
            buffer_rows=self.buffer_rows,
            pieces=self.pieces[rank::world_size],
            finish=self.finish,
        )

    def n_batches(self, batch_size: int) -> int:
        full, rest = divmod(self._rows, batch_size)
        return max(1, full + (1 if rest >= 2 else 0))

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = [self.pieces[i] for i in torch.randperm(len(self.pieces), generator=generator)]
        held: list[Batch] = []
        rows = 0
        for piece in self._prefetched(order):
            held.append(piece)
            rows += _rows(piece)
            if rows >= self.buffer_rows:
                buffer = _shuffled(held, generator)
                out = (rows - self.buffer_rows // 2) // batch_size * batch_size
                yield from self._cut(buffer, out, batch_size)
                held, rows = [{k: t[out:] for k, t in buffer.items()}], rows - out
        if rows:
            buffer = _shuffled(held, generator)
            last = rows - 1 if rows % batch_size == 1 else rows
            yield from self._cut(buffer, last, batch_size)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for piece in self._prefetched(self.pieces):
            yield from self._cut(piece, _rows(piece), batch_size)

    def _cut(self, rows: Batch, stop: int, batch_size: int) -> Iterator[Batch]:
        """The first ``stop`` of ``rows`` in batches of ``batch_size`` (the last may be short)."""
        for begin in range(0, stop, batch_size):
            end = min(begin + batch_size, stop)
            yield {name: t[begin:end].to(self._device) for name, t in rows.items()}

    def _prefetched(self, order: Sequence[int]) -> Iterator[Batch]:
        """The pieces in ``order``, each read while the one before it is used."""
        if not order:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepfit-read") as pool:
            pending: Future[Any] = pool.submit(self._read, order[0])
            try:
                for index, following in zip(order, [*order[1:], None], strict=True):
                    piece = pending.result()
                    if following is not None:
                        pending = pool.submit(self._read, following)
                    yield self._checked(index, piece)
            finally:
                pending.cancel()

    def _read(self, index: int) -> Any:
        piece = self.read(index)
        release_free_memory()
        return piece

    def _checked(self, index: int, piece: Any) -> Batch:
        batch: Batch = piece if self.finish is None else self.finish(piece)
        if _rows(batch) != self.piece_rows[index]:
            raise ConfigError(
                f"piece {index} gave {_rows(batch)} rows where the statistics pass counted "
                f"{self.piece_rows[index]}; did the file change during training?"
            )
        return batch


def _rows(batch: Batch) -> int:
    return int(next(iter(batch.values())).shape[0]) if batch else 0


def _shuffled(pieces: list[Batch], generator: torch.Generator) -> Batch:
    names = list(pieces[0])
    joined = {name: torch.cat([piece[name] for piece in pieces]) for name in names}
    order = torch.randperm(_rows(joined), generator=generator)
    return {name: tensor[order] for name, tensor in joined.items()}
