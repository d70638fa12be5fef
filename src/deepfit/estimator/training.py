"""Training the model's networks: one, or the members of an ensemble, and the interval
network of quantile intervals; each run by the one loop with the fit's callbacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from deepfit.data.preprocess import TabularPreprocessor
from deepfit.errors import ConfigError
from deepfit.estimator.finetune import train_only_last
from deepfit.estimator.resume import checkpoint_callback, run_settings
from deepfit.evaluation.intervals import QUANTILE_LEVELS
from deepfit.kinds.table import build_member
from deepfit.models.network import TabularNetwork
from deepfit.tasks.base import Task
from deepfit.training.callbacks import Callback, EarlyStopping, ProgressBar, TimeLimit
from deepfit.training.checkpoint import Snapshot, fingerprint
from deepfit.training.distributed import start
from deepfit.training.loop import TrainConfig, train
from deepfit.training.sources import BatchSource, InMemorySource, inputs_of
from deepfit.training.state import INTERRUPTED, TrainState
from deepfit.training.streaming import StreamingSource

QUANTILE_SEED = 0x9A4E  # the interval network's seed offset, apart from the members'
BOOTSTRAP_STREAM = 0xB007  # keeps bootstrap draws apart from the validation split's
TIME_LIMIT = "time limit"  # how the stop reason of :class:`TimeLimit` starts


@dataclass
class Run:
    """What every network of one fit shares: settings, data, task and outside callbacks."""

    settings: dict[str, Any]
    task: Task
    preprocessor: TabularPreprocessor
    train_data: InMemorySource | StreamingSource
    val_data: InMemorySource | None
    seed: int
    batch_size: int
    callbacks: Sequence[Callback] = ()
    base: TabularNetwork | None = None  # the network being fine-tuned
    snapshot: Snapshot | None = None  # the checkpoint being resumed


def train_config(run: Run, seed: int, time_budget: float | None) -> TrainConfig:
    settings = run.settings
    patience = settings["patience"]
    stall = int(patience) // 2 if patience and run.val_data is not None else None
    return TrainConfig(
        **run.task.loss_settings(settings),
        optimizer=settings["optimizer"],
        learning_rate=float(settings["learning_rate"]),
        weight_decay=float(settings["weight_decay"]),
        momentum=float(settings["momentum"]),
        schedule=settings["schedule"],
        l1=float(settings["l1"]),
        l2=float(settings["l2"]),
        batch_size=run.batch_size,
        max_epochs=int(settings["max_epochs"]),
        seed=seed,
        time_budget=time_budget,
        stall_epochs=max(1, stall) if stall is not None else None,
        precision=settings["precision"],
    )


def stopping_callbacks(run: Run, time_limit: float | None) -> list[Callback]:
    """Early stopping, the time limit and the progress bar, as the settings ask."""
    callbacks: list[Callback] = []
    patience = run.settings["patience"]
    if run.val_data is not None and patience:
        callbacks.append(EarlyStopping(patience=int(patience)))
    if time_limit is not None:
        callbacks.append(TimeLimit(time_limit))
    if run.settings["verbose"]:
        callbacks.append(ProgressBar())
    return callbacks


def time_share(run: Run, done: list[TrainState]) -> float | None:
    """The next member's seconds: an equal share of what the earlier members left."""
    limit = run.settings["time_limit"]
    if limit is None:
        return None
    left = float(limit) - sum(state.seconds for state in done)
    return max(left, 0.0) / (int(run.settings["n_ensemble"]) - len(done))


def train_members(run: Run) -> tuple[list[TabularNetwork], list[TrainState]]:
    """Train one network, or each member of an ensemble with seeds ``seed + i``.

    A Ctrl-C stops after the member it interrupted; the members trained so far make the model.
    """
    members: list[TabularNetwork] = []
    states: list[TrainState] = []
    device = run.train_data.device
    for index in range(int(run.settings["n_ensemble"])):
        member_seed = run.seed + index
        torch.manual_seed(member_seed)
        if run.base is not None:
            network = run.base.to(device)
        else:
            network = build_member(
                run.settings,
                run.preprocessor,
                outputs=run.task.n_outputs,
                average=run.task.member_average,
            )
            network = network.to(device)
            network.initialise_from_data(**inputs_of(run.train_data.sample()))
        if run.settings["train_last"] is not None:
            train_only_last(network, int(run.settings["train_last"]))
        share = time_share(run, states)
        config = train_config(run, member_seed, share)
        callbacks = [*stopping_callbacks(run, share), *run.callbacks]
        if run.settings["checkpoint_dir"] is not None:  # single networks only: see checks
            identity = fingerprint(run_settings(config, run.settings), run.train_data, run.val_data)
            callbacks.append(checkpoint_callback(run.settings, identity, run.snapshot))  # last
        rows = (
            bootstrap(run.train_data, member_seed) if run.settings["bootstrap"] else run.train_data
        )
        states.append(train(network, *shares(rows, run.val_data), config, callbacks))
        members.append(network.requires_grad_(True).cpu().eval())
        if states[-1].stop_reason == INTERRUPTED:
            break
    return members, states


def train_quantiles(run: Run) -> TabularNetwork:
    """The interval network: the model's architecture with one output per quantile of
    :data:`~deepfit.evaluation.intervals.QUANTILE_LEVELS`, trained with the pinball loss."""
    torch.manual_seed(run.seed + QUANTILE_SEED)
    network = build_member(run.settings, run.preprocessor, outputs=len(QUANTILE_LEVELS))
    network = network.to(run.train_data.device)
    network.initialise_from_data(**inputs_of(run.train_data.sample()))
    limit = run.settings["time_limit"]
    config = replace(
        train_config(run, run.seed + QUANTILE_SEED, limit),
        loss="quantile",
        quantiles=QUANTILE_LEVELS,
    )
    train(network, *shares(run.train_data, run.val_data), config, stopping_callbacks(run, limit))
    return network.cpu().eval()


def shares(
    train_data: InMemorySource | StreamingSource, val_data: InMemorySource | None
) -> tuple[BatchSource, BatchSource | None]:
    """This process's share of the training and validation rows: all of them, unless several
    processes train together (under ``torchrun``; see :mod:`deepfit.training.distributed`)."""
    runtime = start(train_data.device.type)
    if not runtime.distributed:
        return train_data, val_data
    rank, world = runtime.rank, runtime.world_size
    return train_data.shard(rank, world), None if val_data is None else val_data.shard(rank, world)


def bootstrap(data: InMemorySource | StreamingSource, seed: int) -> InMemorySource:
    """A seeded bootstrap resample of ``data``'s rows (as many, drawn with replacement)."""
    if not isinstance(data, InMemorySource):
        raise ConfigError("bootstrap resamples rows held in memory, not streamed ones")
    drawn = np.random.default_rng([BOOTSTRAP_STREAM, seed]).integers(0, len(data), len(data))
    return data.subset(torch.tensor(np.sort(drawn)))


def summary(states: list[TrainState], run: Run) -> dict[str, Any]:
    """``training_summary_``: member 0's curve and stopping stand for an ensemble's."""
    first, last = states[0], states[-1]
    result: dict[str, Any] = {
        "epochs": first.epoch,
        "best_epoch": first.best_epoch,
        "best_validation_loss": first.best_validation_loss,
        "stop_reason": INTERRUPTED if last.stop_reason == INTERRUPTED else first.stop_reason,
        "seconds": round(sum(state.seconds for state in states), 3),
        "train_rows": len(run.train_data),
        "validation_rows": 0 if run.val_data is None else len(run.val_data),
        "batch_size": run.batch_size,
        "device": str(run.train_data.device),
        "precision": first.precision,
        # what else decides the weights: the thread count (sums are split differently), and
        # the clock when a time limit is set (how many epochs fit; when "anneal" decays)
        "threads": torch.get_num_threads(),
        "time_limit": run.settings["time_limit"],
        "stopped_by_time_limit": any(s.stop_reason.startswith(TIME_LIMIT) for s in states),
    }
    if int(run.settings["n_ensemble"]) > 1:
        result["members"] = [
            {
                "epochs": state.epoch,
                "best_epoch": state.best_epoch,
                "best_validation_loss": state.best_validation_loss,
                "seconds": round(state.seconds, 3),
            }
            for state in states
        ]
    return result
