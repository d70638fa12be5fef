"""The in-memory batch source: what the loop sees of the data."""

from __future__ import annotations

import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.training.sources import TARGET, InMemorySource, inputs_and_target, inputs_of


def source(rows: int) -> InMemorySource:
    return InMemorySource(
        {"numeric": torch.arange(rows * 2.0).reshape(rows, 2), TARGET: torch.arange(rows * 1.0)}
    )


def test_an_epoch_gives_every_row_once_in_a_seeded_order() -> None:
    data = source(10)
    first = [b[TARGET] for b in data.batches(3, torch.Generator().manual_seed(0))]
    again = [b[TARGET] for b in data.batches(3, torch.Generator().manual_seed(0))]
    other = [b[TARGET] for b in data.batches(3, torch.Generator().manual_seed(1))]
    assert sorted(torch.cat(first).tolist()) == list(range(10))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(torch.cat(first), torch.cat(other))


def test_rows_stay_together_across_named_tensors() -> None:
    for batch in source(7).batches(2, torch.Generator().manual_seed(0)):
        assert torch.equal(batch["numeric"][:, 0], batch[TARGET] * 2)


def test_a_last_batch_of_one_row_is_folded_into_the_one_before() -> None:
    sizes = [len(b[TARGET]) for b in source(9).batches(4, torch.Generator().manual_seed(0))]
    assert sizes == [5, 4]
    assert source(9).n_batches(4) == 2
    assert source(3).n_batches(8) == 1


def test_ordered_gives_rows_in_order_and_inputs_without_the_target() -> None:
    batches = list(source(5).ordered(2))
    assert torch.cat([b[TARGET] for b in batches]).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert set(inputs_of(batches[0])) == {"numeric"}
    inputs, target = inputs_and_target(batches[0])
    assert set(inputs) == {"numeric"}
    assert target.tolist() == [0.0, 1.0]


def test_tensors_of_different_lengths_and_a_batch_without_target_are_refused() -> None:
    with pytest.raises(ConfigError, match="same rows"):
        InMemorySource({"numeric": torch.zeros(3, 1), TARGET: torch.zeros(4)})
    with pytest.raises(ConfigError, match="'target'"):
        inputs_and_target({"numeric": torch.zeros(3, 1)})


def test_subset_keeps_the_chosen_rows() -> None:
    picked = source(6).subset(torch.tensor([5, 0, 0]))
    assert picked.tensors[TARGET].tolist() == [5.0, 0.0, 0.0]
    assert len(picked) == 3
