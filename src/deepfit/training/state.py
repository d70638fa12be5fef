"""The typed state one training run carries from epoch to epoch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

INTERRUPTED = "interrupted"  # the stop reason after Ctrl-C
DIVERGED = "training diverged (loss is not finite); lower the learning rate"
ANNEALED = "the learning rate was annealed to zero"


@dataclass
class EpochRecord:
    """What one epoch measured. Losses are on the standardised target."""

    epoch: int
    train_loss: float
    validation_loss: float | None
    learning_rate: float
    seconds: float


@dataclass
class TrainState:
    """Where a training run is. A callback stops the run by setting ``stop`` and ``stop_reason``."""

    max_epochs: int
    epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_validation_loss: float | None = None
    stop: bool = False
    stop_reason: str = ""
    seconds: float = 0.0
    precision: str = "fp32"  # of the training steps, as chosen (see deepfit.training.precision)

    @property
    def last(self) -> EpochRecord | None:
        return self.history[-1] if self.history else None

    def records(self) -> list[dict[str, float | int | None]]:
        """The history as JSON-ready dicts, one per epoch (what a model file keeps)."""
        return [asdict(record) for record in self.history]
