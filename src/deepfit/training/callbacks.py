"""Callbacks: small objects the loop calls at named points. Each hook may set ``state.stop``."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from deepfit.errors import ConfigError
from deepfit.training.optim import Schedule
from deepfit.training.state import TrainState


@dataclass
class LoopParts:
    """Everything a training run changes as it goes, besides its :class:`TrainState`.

    A checkpoint saves these and puts them back; other callbacks can ignore them.
    """

    network: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    shuffler: torch.Generator  # draws each epoch's batch order
    callbacks: Sequence[Callback]


class Callback:
    """Base class: override the hooks you need.

    A callback that keeps state of its own across epochs returns it from :meth:`state_dict`
    (tensors and JSON-able values) so that a checkpoint can save and restore it.

    When several processes train together, every process calls every hook, except that a
    callback with ``main_only = True`` (one that only writes or shows, such as a progress bar
    or checkpoint saves) is called in rank 0 only, and there after the processes agreed on
    the epoch's stop decision; its ``on_setup`` runs everywhere, so that a resume does too.
    """

    main_only: ClassVar[bool] = False

    def on_setup(self, state: TrainState, parts: LoopParts) -> None:
        """Called once before ``on_train_start``; a checkpoint resuming a run restores it here."""

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        """Called after every epoch, once ``state.history`` holds its record."""

    def on_train_end(self, state: TrainState, network: nn.Module) -> None:
        """Called once after the last epoch, also when a callback stopped the run."""

    def on_close(self) -> None:
        """Called once when training is over in every process, also when it raised: release
        what ``on_setup`` took (a checkpoint folder's lock)."""

    def deadline(self) -> float | None:
        """A time (by ``time.perf_counter``) at which the current epoch ends early, its rows
        so far counting as the epoch; None for no deadline."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep to resume this callback; nothing by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for ``patience`` epochs; restore the best.

    Not while the ``"anneal"`` schedule decays the rate (``Schedule.decaying``): the decay has a
    set end, and the validation loss mostly improves in its last, slowest steps, so a stop
    part-way through would keep weights trained at a still-high rate.

    Example:
        >>> EarlyStopping(patience=10).patience
        10
    """

    def __init__(self, patience: int = 20) -> None:
        if patience < 1:
            raise ConfigError(f"patience must be a positive integer, however: patience={patience}")
        self.patience = patience
        self.best_weights: dict[str, Any] | None = None
        self.schedule: Schedule | None = None

    def on_setup(self, state: TrainState, parts: LoopParts) -> None:
        self.schedule = parts.schedule  # asked at each check (a resume restores it in place)

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        self._check_patience(state)  # a resumed run may have waited long enough already

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        record = state.last
        if record is None or state.best_epoch is None:
            return
        if state.best_epoch == record.epoch:
            self.best_weights = copy.deepcopy(network.state_dict())
        else:
            self._check_patience(state)

    def on_train_end(self, state: TrainState, network: nn.Module) -> None:
        if self.best_weights is not None:
            network.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        # The epochs without improvement are state.epoch - state.best_epoch, kept by the state.
        return {"best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_weights = state.get("best_weights")

    def _check_patience(self, state: TrainState) -> None:
        decaying = self.schedule is not None and self.schedule.decaying
        if decaying or state.stop:  # a finished decay has stopped the run already
            return
        if state.best_epoch is not None and state.epoch - state.best_epoch >= self.patience:
            state.stop = True
            state.stop_reason = (
                f"early stopping: validation loss did not improve for {self.patience} epochs"
            )


class TimeLimit(Callback):
    """Stop before the next epoch would end past ``seconds`` of training; an epoch longer
    than that (a large table streamed) ends at the limit."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = 0.0
        self.first_epoch = 0  # a resumed run counts its own epochs only

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        self.start = time.perf_counter()
        self.first_epoch = state.epoch

    def deadline(self) -> float | None:
        return self.start + self.seconds

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        elapsed = time.perf_counter() - self.start
        per_epoch = elapsed / max(1, state.epoch - self.first_epoch)
        if elapsed + per_epoch > self.seconds:
            state.stop = True
            state.stop_reason = f"time limit of {self.seconds:g} s reached"


class ProgressBar(Callback):
    """A terminal progress bar with the latest losses, drawn on standard error."""

    main_only = True

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        self.progress = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("", total=state.max_epochs, completed=state.epoch)

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        record = state.last
        if self.progress is None or record is None:
            return
        text = f"train {record.train_loss:.4f}"
        if record.validation_loss is not None:
            text += f"  val {record.validation_loss:.4f}  best {state.best_validation_loss:.4f}"
        self.progress.update(self.task, completed=record.epoch, description=text)

    def on_train_end(self, state: TrainState, network: nn.Module) -> None:
        if self.progress is not None:
            self.progress.stop()


def stopping_callbacks(
    *, patience: int | None, time_limit: float | None, verbose: int, has_validation: bool
) -> list[Callback]:
    """Early stopping (when there are validation rows and a patience), the time limit and the
    progress bar, as a fit's settings ask.

    Example:
        >>> [type(c).__name__ for c in stopping_callbacks(
        ...     patience=10, time_limit=60.0, verbose=0, has_validation=True)]
        ['EarlyStopping', 'TimeLimit']
    """
    callbacks: list[Callback] = []
    if has_validation and patience:
        callbacks.append(EarlyStopping(patience=int(patience)))
    if time_limit is not None:
        callbacks.append(TimeLimit(float(time_limit)))
    if verbose:
        callbacks.append(ProgressBar())
    return callbacks
