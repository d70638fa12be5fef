"""The ``"anneal"`` schedule: a constant learning rate, then a linear decay to zero.

Training at a constant rate and decaying only at the end ("warmup-stable-decay", Hu et al. 2024,
MiniCPM; "budgeted training", Li et al. 2020) suits runs whose length is not known in advance:
the decay starts when the run is about to end, and is what brings the validation loss down the
last steps. It starts at the end of the first epoch after which

* the time budget's last ``fraction`` begins (it then lasts as many whole epochs as the time
  left holds at the pace so far; at least the last epoch that fits is a decay),
* the last ``fraction`` of ``max_epochs`` begins (it lasts until ``max_epochs``), or
* the validation loss has not improved for ``stall_epochs`` epochs (it lasts ``fraction`` of the
  epochs so far, at least ``stall_epochs``, and no longer than the time left holds).

The rate falls with every batch, and the run is over when it reaches zero; early stopping
waits while the rate decays (:class:`~deepfit.training.callbacks.EarlyStopping`). Once
started, the decay is counted in epochs, so a checkpoint can save it (:meth:`state_dict`) and
a resumed run goes on with the same rates.

The rate of the network's dropout layers (``dropouts``) falls with the learning rate, as
RealMLP schedules its dropout (Holzmüller et al. 2024), so the last epochs train the network
that is evaluated: without dropout's noise, to which a network trained at a constant rate has
fitted its weights. On a near-deterministic target (nycflights13 weather's temperature from the
dew point and humidity, ``benchmarks/unseen_tables.py``) auto's test RMSE fell from 0.467 to
0.359 (dropout switched off altogether: 0.324; it cost California housing 1.8% on seed 0); on
the eight sets of ``benchmarks/accuracy.py`` (3 seeds, 240 s) every mean moved by less than
0.75%, from flights' -0.73% to ames' +0.40% (California +0.29%; ``docs/architecture.md``,
"Dropout falls with the rate"). :meth:`AnnealSchedule.restore_dropout` gives the layers their
rates back after training.

A stalled run's decay was tried at the length of all the epochs so far (up to the time left)
rather than a quarter of them: on California housing (auto, 240 s) seeds 0 and 1 scored
44,740 and 44,920 against 44,381 and 44,678, so a quarter it stays.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from deepfit.errors import ConfigError

DECAY_FRACTION = 0.25
IMPROVEMENT = 1e-4  # relative drop in validation loss that counts as better (as the loop)


class AnnealSchedule:
    """Constant rate, then a linear decay to zero; see the module's documentation.

    Example:
        >>> from torch import nn
        >>> optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        >>> schedule = AnnealSchedule(optimizer, max_epochs=8)
        >>> for epoch in range(8):
        ...     schedule.step_batch(epoch + 0.5)
        ...     schedule.step_epoch(epoch + 1, validation_loss=1.0, seconds=epoch + 1.0)
        >>> schedule.decay_start, schedule.decay_epochs, schedule.finished
        (6.0, 2.0, True)
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        max_epochs: int,
        time_budget: float | None = None,
        stall_epochs: int | None = None,
        fraction: float = DECAY_FRACTION,
        dropouts: list[nn.Dropout] | None = None,
    ) -> None:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"the decay fraction must be in (0, 1), however: {fraction}")
        self.optimizer = optimizer
        self.base_rates = [float(group["lr"]) for group in optimizer.param_groups]
        self.max_epochs = int(max_epochs)
        self.time_budget = time_budget
        self.stall_epochs = stall_epochs
        self.fraction = fraction
        self.dropouts = [(module, float(module.p)) for module in dropouts or []]
        self.decay_start: float | None = None
        self.decay_epochs = 0.0
        self.finished = False  # the rate has reached zero: the run should stop
        self.best_loss: float | None = None
        self.best_epoch = 0
        self.first_epoch: int | None = None  # the first epoch this process ran (for its pace)

    @property
    def decaying(self) -> bool:
        """Whether the decay has started and not yet reached zero."""
        return self.decay_start is not None and not self.finished

    def multiplier(self, progress: float) -> float:
        """The share of the base rate at ``progress`` epochs (fractional within an epoch)."""
        if self.decay_start is None or progress <= self.decay_start:
            return 1.0
        return max(0.0, 1.0 - (progress - self.decay_start) / self.decay_epochs)

    def step_batch(self, progress: float) -> None:
        """Set the rate for the batch that ends at ``progress`` epochs."""
        if self.decay_start is None:
            return
        share = self.multiplier(progress)
        for group, base in zip(self.optimizer.param_groups, self.base_rates, strict=True):
            group["lr"] = base * share
        for module, rate in self.dropouts:
            module.p = rate * share

    def restore_dropout(self) -> None:
        """Give the dropout layers back the rates they had before the decay."""
        for module, rate in self.dropouts:
            module.p = rate

    def step_epoch(self, epoch: int, *, validation_loss: float | None, seconds: float) -> None:
        """After ``epoch`` epochs (``seconds`` of them in this process): start the decay if due,
        and note when it has ended."""
        if self.first_epoch is None:
            self.first_epoch = epoch - 1
        self._track(epoch, validation_loss)
        if self.decay_start is not None:
            self.finished = epoch >= self.decay_start + self.decay_epochs - 1e-9
            return
        budget = self._budget_in_epochs(epoch, seconds)
        epochs_left = None if budget is None else budget[1]
        if budget is not None and 1 <= budget[1] <= max(1.0, self.fraction * budget[0]):
            self._start(epoch, budget[1])
        elif epoch >= (1.0 - self.fraction) * self.max_epochs:
            self._start(epoch, self.max_epochs - epoch)
        elif self.stall_epochs is not None and epoch - self.best_epoch >= self.stall_epochs:
            length = max(float(self.stall_epochs), self.fraction * epoch)
            self._start(epoch, length if epochs_left is None else min(length, epochs_left))

    def _start(self, epoch: int, length: float) -> None:
        self.decay_start = float(epoch)
        self.decay_epochs = float(max(1.0, length))

    def _track(self, epoch: int, validation_loss: float | None) -> None:
        if validation_loss is None or not math.isfinite(validation_loss):
            return
        best = self.best_loss
        if best is None or validation_loss < best - IMPROVEMENT * abs(best):
            self.best_loss, self.best_epoch = validation_loss, epoch

    def _budget_in_epochs(self, epoch: int, seconds: float) -> tuple[float, int] | None:
        """How many epochs the time budget holds at this process's pace: in all, and the whole
        epochs left (the time limit starts an epoch only if it can end in time)."""
        ran = epoch - (self.first_epoch or 0)
        if self.time_budget is None or ran <= 0 or seconds <= 0:
            return None
        pace = seconds / ran
        left = max(0.0, (self.time_budget - seconds) / pace)
        return self.time_budget / pace, math.floor(left + 1e-9)

    def state_dict(self) -> dict[str, Any]:
        """The decay's position, and the best loss it has seen, for a checkpoint."""
        return {
            "decay_start": self.decay_start,
            "decay_epochs": self.decay_epochs,
            "finished": self.finished,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""
        start = state.get("decay_start")
        self.decay_start = None if start is None else float(start)
        self.decay_epochs = float(state.get("decay_epochs", 0.0))
        self.finished = bool(state.get("finished", False))
        best = state.get("best_loss")
        self.best_loss = None if best is None else float(best)
        self.best_epoch = int(state.get("best_epoch", 0))
