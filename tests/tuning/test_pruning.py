"""PruningCallback: reports the best validation loss each epoch and stops a pruned run."""

from __future__ import annotations

from typing import Any

from torch import nn

from deepfit.training.state import EpochRecord, TrainState
from deepfit.tuning.pruning import PruningCallback


class FakeTrial:
    """Records reports; says "prune" from ``prune_from`` on."""

    def __init__(self, prune_from: int) -> None:
        self.prune_from = prune_from
        self.reports: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return self.reports[-1][1] >= self.prune_from


def _epoch(state: TrainState, loss: float) -> None:
    state.epoch += 1
    state.history.append(EpochRecord(state.epoch, 1.0, loss, 1e-3, 0.1))
    if state.best_validation_loss is None or loss < state.best_validation_loss:
        state.best_validation_loss, state.best_epoch = loss, state.epoch


def test_reports_the_best_loss_so_far_and_stops_when_pruned() -> None:
    trial: Any = FakeTrial(prune_from=3)
    callback = PruningCallback(trial)
    state = TrainState(max_epochs=10)
    for loss in (0.9, 1.2, 0.8):
        assert not state.stop
        _epoch(state, loss)
        callback.on_epoch_end(state, nn.Identity())
    assert trial.reports == [(0.9, 1), (0.9, 2), (0.8, 3)]
    assert state.stop
    assert callback.pruned_at == 3
    assert "pruned" in state.stop_reason


def test_nothing_is_reported_without_validation_loss() -> None:
    trial: Any = FakeTrial(prune_from=1)
    callback = PruningCallback(trial)
    state = TrainState(max_epochs=10, epoch=1)
    callback.on_epoch_end(state, nn.Identity())
    assert trial.reports == []
    assert not state.stop
