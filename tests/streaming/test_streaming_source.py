"""StreamingSource: every row once per epoch, shuffled, repeatable, bounded."""

import pytest
import torch

from deepfit import ConfigError
from deepfit.training.sources import TARGET
from deepfit.training.streaming import StreamingSource

SIZES = [700, 300, 999, 1, 0, 250]


def pieces() -> list[dict[str, torch.Tensor]]:
    out, start = [], 0
    for rows in SIZES:
        values = torch.arange(start, start + rows, dtype=torch.float32)
        out.append({"x": values.unsqueeze(1), TARGET: values})
        start += rows
    return out


def source(**kwargs) -> StreamingSource:
    parts = pieces()
    return StreamingSource(parts.__getitem__, SIZES, sample=parts[0], **kwargs)


def epoch(data: StreamingSource, batch: int, seed: int) -> list[torch.Tensor]:
    return [b[TARGET] for b in data.batches(batch, torch.Generator().manual_seed(seed))]


def test_an_epoch_gives_every_row_once_in_as_many_batches_as_it_says():
    data = source(buffer_rows=512)
    batches = epoch(data, 64, seed=0)
    assert len(batches) == data.n_batches(64)
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(sum(SIZES)))
    assert all(len(b) == 64 for b in batches[:-1])
    assert all(torch.equal(b[TARGET], b["x"][:, 0]) for b in data.batches(64, torch.Generator()))


def test_epochs_repeat_for_a_seed_and_differ_between_seeds():
    data = source(buffer_rows=512)
    first, again = torch.cat(epoch(data, 64, 1)), torch.cat(epoch(data, 64, 1))
    assert torch.equal(first, again)
    assert not torch.equal(first, torch.cat(epoch(data, 64, 2)))


def test_rows_of_different_pieces_mix_in_a_batch():
    data = source(buffer_rows=2048)
    first = epoch(data, 128, seed=0)[0]
    assert len({int(row) // 1000 for row in first}) > 1


def test_a_last_batch_of_one_row_is_dropped():
    parts = [{"x": torch.zeros(65, 1), TARGET: torch.zeros(65)}]
    data = StreamingSource(parts.__getitem__, [65], sample=parts[0])
    assert [len(b) for b in epoch(data, 64, 0)] == [64]
    assert data.n_batches(64) == 1


def test_shards_split_the_pieces_between_processes():
    data = source()
    shards = [data.shard(rank, 2) for rank in range(2)]
    assert len(shards[0]) + len(shards[1]) == len(data)
    rows = [set(torch.cat(epoch(shard, 100, 0)).tolist()) for shard in shards]
    assert not rows[0] & rows[1]


def test_ordered_gives_rows_in_file_order():
    rows = torch.cat([b[TARGET] for b in source().ordered(100)])
    assert rows.tolist() == list(range(sum(SIZES)))


def test_a_piece_whose_size_changed_is_an_error():
    parts = pieces()
    data = StreamingSource(parts.__getitem__, [*SIZES[:-1], 251], sample=parts[0])
    with pytest.raises(ConfigError, match="did the file change"):
        epoch(data, 64, 0)


def test_the_buffer_needs_two_rows():
    with pytest.raises(ConfigError, match="at least 2 rows"):
        source(buffer_rows=1)
