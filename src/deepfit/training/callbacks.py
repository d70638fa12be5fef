"""Callbacks: small objects the loop calls at named points. Each hook may set ``state.stop``."""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from deepfit.errors import ConfigError
from deepfit.training.state import TrainState


class Callback:
    """Base class: override the hooks you need."""

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        """Called after every epoch, once ``state.history`` holds its record."""

    def on_train_end(self, state: TrainState, network: nn.Module) -> None:
        """Called once after the last epoch, also when a callback stopped the run."""


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for ``patience`` epochs; restore the best.

    Example:
        >>> EarlyStopping(patience=10).patience
        10
    """

    def __init__(self, patience: int = 20) -> None:
        if patience < 1:
            raise ConfigError(f"patience must be a positive integer, however: patience={patience}")
        self.patience = patience
        self.best_weights: dict[str, Any] | None = None

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        record = state.last
        if record is None or state.best_epoch is None:
            return
        if state.best_epoch == record.epoch:
            self.best_weights = copy.deepcopy(network.state_dict())
        elif record.epoch - state.best_epoch >= self.patience:
            state.stop = True
            state.stop_reason = (
                f"early stopping: validation loss did not improve for {self.patience} epochs"
            )

    def on_train_end(self, state: TrainState, network: nn.Module) -> None:
        if self.best_weights is not None:
            network.load_state_dict(self.best_weights)


class TimeLimit(Callback):
    """Stop before the next epoch would end past ``seconds`` of training."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = 0.0

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        elapsed = time.perf_counter() - self.start
        per_epoch = elapsed / max(1, len(state.history))
        if elapsed + per_epoch > self.seconds:
            state.stop = True
            state.stop_reason = f"time limit of {self.seconds:g} s reached"


class ProgressBar(Callback):
    """A terminal progress bar with the latest losses, drawn on standard error."""

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
        self.task = self.progress.add_task("", total=state.max_epochs)

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
