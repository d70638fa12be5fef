"""The "anneal" schedule: when its decay starts, how long it lasts, and what rates it gives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepfit.training.anneal import AnnealSchedule


def schedule(**kwargs: object) -> AnnealSchedule:
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    return AnnealSchedule(optimizer, **kwargs)  # type: ignore[arg-type]


def run(anneal: AnnealSchedule, losses: list[float], seconds_per_epoch: float = 1.0) -> list[float]:
    """Step through ``losses`` (one per epoch, 4 batches each); the rate of every batch."""
    rates = []
    for epoch, loss in enumerate(losses):
        for batch in range(4):
            anneal.step_batch(epoch + (batch + 1) / 4)
            rates.append(anneal.optimizer.param_groups[0]["lr"])
        anneal.step_epoch(epoch + 1, validation_loss=loss, seconds=(epoch + 1) * seconds_per_epoch)
        if anneal.finished:
            break
    return rates


def test_the_decay_fills_the_last_quarter_of_the_time_budget_in_whole_epochs() -> None:
    # 10 s per epoch and a 100 s budget: 10 epochs fit; the last 2 (a quarter, rounded down) decay
    anneal = schedule(max_epochs=1000, time_budget=100.0)
    rates = run(anneal, [1.0 / (epoch + 1) for epoch in range(20)], seconds_per_epoch=10.0)
    assert (anneal.decay_start, anneal.decay_epochs) == (8.0, 2.0)
    assert anneal.finished
    assert len(rates) == 40  # it stops after epoch 10, when the rate is zero
    assert rates[:32] == [0.1] * 32
    assert rates[32:] == pytest.approx([0.1 * (1 - step / 8) for step in range(1, 9)])


def test_a_budget_of_few_epochs_still_decays_over_the_last_one() -> None:
    anneal = schedule(max_epochs=1000, time_budget=35.0)  # 3.5 epochs of 10 s
    run(anneal, [1.0, 0.9, 0.8, 0.7], seconds_per_epoch=10.0)
    assert (anneal.decay_start, anneal.decay_epochs) == (2.0, 1.0)


def test_the_decay_fills_the_last_quarter_of_max_epochs_without_a_time_budget() -> None:
    anneal = schedule(max_epochs=20)
    rates = run(anneal, [1.0 / (epoch + 1) for epoch in range(20)])
    assert (anneal.decay_start, anneal.decay_epochs) == (15.0, 5.0)
    assert rates[-1] == 0.0
    assert len(rates) == 80


def test_a_stalled_validation_loss_starts_a_decay_of_a_quarter_of_the_epochs_so_far() -> None:
    anneal = schedule(max_epochs=1000, stall_epochs=4)
    losses = [1.0 / (epoch + 1) for epoch in range(30)] + [1.0] * 20  # best at epoch 30
    run(anneal, losses)
    assert anneal.decay_start == 34.0  # 4 epochs without improvement
    assert anneal.decay_epochs == pytest.approx(0.25 * 34)
    assert anneal.finished


def test_a_short_stall_decays_over_at_least_the_stall_epochs() -> None:
    anneal = schedule(max_epochs=1000, stall_epochs=4)
    run(anneal, [1.0, 0.5] + [0.6] * 20)
    assert (anneal.decay_start, anneal.decay_epochs) == (6.0, 4.0)


def test_no_decay_while_the_loss_improves_and_the_budget_lasts() -> None:
    anneal = schedule(max_epochs=1000, time_budget=1e6, stall_epochs=4)
    rates = run(anneal, [1.0 / (epoch + 1) for epoch in range(50)])
    assert anneal.decay_start is None
    assert set(rates) == {0.1}


def test_state_dict_round_trip_keeps_the_decay() -> None:
    anneal = schedule(max_epochs=20)
    run(anneal, [1.0 / (epoch + 1) for epoch in range(17)])
    restored = schedule(max_epochs=20)
    restored.load_state_dict(anneal.state_dict())
    assert restored.state_dict() == anneal.state_dict()
    assert restored.multiplier(17.5) == anneal.multiplier(17.5) == pytest.approx(0.5)


def test_dropout_falls_with_the_rate_and_is_given_back() -> None:
    layers = [nn.Dropout(0.1), nn.Dropout(0.3)]
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    anneal = AnnealSchedule(optimizer, max_epochs=8, dropouts=layers)
    seen = []
    for epoch in range(8):
        for batch in range(4):
            anneal.step_batch(epoch + (batch + 1) / 4)
            seen.append((optimizer.param_groups[0]["lr"], layers[0].p, layers[1].p))
        anneal.step_epoch(epoch + 1, validation_loss=1.0, seconds=epoch + 1.0)
    assert seen[:24] == [(0.1, 0.1, 0.3)] * 24  # constant until the decay over the last 2 epochs
    for rate, first, second in seen[24:]:
        assert (first, second) == pytest.approx((rate, 3 * rate))
    assert seen[-1][1:] == (0.0, 0.0)
    anneal.restore_dropout()
    assert [layer.p for layer in layers] == [0.1, 0.3]
