"""Stop a bad trial early: report its learning curve to Optuna and stop when told to prune."""

from __future__ import annotations

import math

import optuna
from torch import nn

from deepfit.training.callbacks import Callback
from deepfit.training.state import TrainState


class PruningCallback(Callback):
    """After each epoch, report the best validation loss so far to ``trial``; stop if pruned.

    The value reported is the training loss on the validation rows (standardised target),
    the best so far, so the curve only goes down and trials of the same study compare.
    The run then ends like any stopped run (best weights restored); the caller sees
    ``pruned_at`` and raises ``optuna.TrialPruned``.

    Example:
        >>> model = Regressor(max_epochs=50)  # doctest: +SKIP
        >>> pruner = PruningCallback(trial)  # doctest: +SKIP
        >>> model.fit(X, y, X_val=X_val, y_val=y_val, callbacks=[pruner])  # doctest: +SKIP
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        value = state.best_validation_loss
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), state.epoch)
        if self.trial.should_prune():
            self.pruned_at = state.epoch
            state.stop = True
            state.stop_reason = f"pruned by the tuner after epoch {state.epoch}"
