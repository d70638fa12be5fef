"""Callbacks that tests hand to the training loop."""

from __future__ import annotations

from typing import Any

from deepfit.training.callbacks import Callback


class Crash(Callback):
    """Raise after epoch ``at``, as a killed process would stop."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, state: Any, network: Any) -> None:
        if state.epoch == self.at:
            raise RuntimeError("simulated crash")
