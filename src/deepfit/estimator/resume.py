"""Checkpoints of one fit: the seed a resumed run keeps, the checkpoint to resume, and what a
checkpoint must match (the run's settings and data) to be resumed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepfit.errors import DeepfitWarning
from deepfit.estimator.params import ARCHITECTURE
from deepfit.training.checkpoint import (
    Checkpoint,
    Snapshot,
    check_fingerprint,
    checkpoint_path,
    file_digest,
    load_checkpoint,
)
from deepfit.training.loop import TrainConfig


def seed_for(random_state: int | None, snapshot: Snapshot | None = None) -> int:
    """``random_state``; when it is None, a resumed run's own seed or a fresh one."""
    if random_state is not None:
        return int(random_state)
    saved = None if snapshot is None else snapshot.fingerprint["settings"].get("seed")
    if isinstance(saved, int):
        return saved
    return int(np.random.default_rng().integers(2**31 - 1))


def saved_checkpoint(directory: str | Path) -> Snapshot | None:
    """The checkpoint to resume, or None (with a warning) when there is none yet."""
    path = checkpoint_path(directory)
    if not path.exists():
        warnings.warn(
            f"no checkpoint in {path.parent} to resume, so training starts from scratch",
            DeepfitWarning,
            stacklevel=4,
        )
        return None
    return load_checkpoint(path)


def checkpoint_callback(
    settings: dict[str, Any], run: dict[str, Any], snapshot: Snapshot | None
) -> Checkpoint:
    """The callback that saves this run, refusing a ``snapshot`` of another run."""
    directory = Path(settings["checkpoint_dir"])
    if snapshot is not None:
        check_fingerprint(snapshot, run)
    elif checkpoint_path(directory).exists():
        warnings.warn(
            f"{checkpoint_path(directory)} will be replaced by this new run; pass "
            "resume=True (--resume) to continue it instead",
            DeepfitWarning,
            stacklevel=4,
        )
    return Checkpoint(
        directory,
        every=int(settings["checkpoint_every"]),
        fingerprint=run,
        resume_from=snapshot,
    )


def run_settings(config: TrainConfig, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything besides the data that shapes a run, which a resumed run must share."""
    architecture = {name: settings[name] for name in ARCHITECTURE}
    architecture["hidden_layers"] = tuple(int(w) for w in architecture["hidden_layers"])
    init_from = settings["init_from"]
    return {
        **config.fingerprint(),
        **architecture,
        "patience": settings["patience"],
        "validation_fraction": float(settings["validation_fraction"]),
        "min_category_count": int(settings["min_category_count"]),
        "column_roles": settings["column_roles"],
        "init_from": None if init_from is None else file_digest(init_from),
        "train_last": settings["train_last"],
    }
