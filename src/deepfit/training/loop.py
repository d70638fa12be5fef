"""The training loop: batches of named tensors from a source, handed to the network by name.

Read it top to bottom: set up (a checkpoint callback may restore an earlier run here), then
each epoch step through the source's shuffled batches, score the validation source, let the
callbacks look at the state, stop when one of them says so or Ctrl-C was pressed. What the
data is (a table, a sequence, images) is the source's business (:mod:`deepfit.training.sources`).

Across processes (:mod:`deepfit.training.distributed`) the same loop runs in each, on its share
of the batches, with the network under DDP. The processes agree before every batch whether all
still have one and nobody pressed Ctrl-C, sum the epoch's losses, and after the callbacks agree
whether to stop (any process stopping stops all, with the reason of the lowest rank that did).
Callbacks marked ``main_only`` (progress bar, checkpoint saves) act in rank 0 only.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any

import torch
from torch import nn

from deepfit.training.callbacks import Callback, LoopParts
from deepfit.training.distributed import Runtime, current
from deepfit.training.losses import make_loss
from deepfit.training.optim import Schedule, make_optimizer, penalized_weights, weight_penalty
from deepfit.training.precision import choose_precision, step_precision
from deepfit.training.sources import Batch, BatchSource, inputs_and_target, inputs_of
from deepfit.training.state import ANNEALED, DIVERGED, INTERRUPTED, EpochRecord, TrainState

IMPROVEMENT = 1e-4  # relative drop in validation loss that counts as better
EVAL_BATCH = 16_384


@dataclass
class TrainConfig:
    """Everything the loop needs besides the network and the data."""

    loss: str = "mse"
    huber_delta: float = 1.0
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    l1: float = 0.0
    l2: float = 0.0
    batch_size: int = 256
    max_epochs: int = 200
    seed: int = 0
    quantiles: tuple[float, ...] = ()  # the levels of the "quantile" (pinball) loss
    label_smoothing: float = 0.0  # of the "cross_entropy" loss
    class_weights: tuple[float, ...] = ()  # of the "cross_entropy" loss, one per class
    time_budget: float | None = None  # seconds: when the "anneal" schedule must have decayed
    stall_epochs: int | None = None  # "anneal" decays after this many epochs without progress
    log_link: tuple[float, float, float] | None = None  # the loss's LogLink: mean, std, unit
    skip_missing_target: bool = False  # NaN targets (unobserved forecast steps) are not scored
    precision: str = "fp32"  # of the steps' forward pass: "fp32", "bf16" (autocast) or "auto"

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the checkpoint's: all but the time
        budget (the time limit may change on resuming) and the precision ("auto" may pick
        the other one on another machine)."""
        return {k: v for k, v in asdict(self).items() if k not in ("time_budget", "precision")}


def train(
    network: nn.Module,
    train_data: BatchSource,
    validation_data: BatchSource | None,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    runtime: Runtime | None = None,
) -> TrainState:
    """Train ``network`` in place and return the final state (history, best epoch, stop reason).

    Parameters with ``requires_grad=False`` stay frozen. Ctrl-C (SIGINT, in the main thread)
    stops the run at the end of the current batch with ``stop_reason == "interrupted"``; a
    second Ctrl-C raises KeyboardInterrupt at once.

    ``runtime`` (by default :func:`~deepfit.training.distributed.current`) says whether this
    process is one of several training together; each then passes its share of the training
    batches (e.g. :meth:`~deepfit.training.sources.InMemorySource.shard`) and the validation
    rows, whole or its share. Callbacks, checkpoints and the caller see ``network`` itself,
    never its DDP wrapper.
    """
    runtime = current() if runtime is None else runtime
    run = _Run(network, train_data, validation_data, config, callbacks, runtime)
    state = TrainState(max_epochs=config.max_epochs)
    start = time.perf_counter()
    try:
        for callback in callbacks:
            callback.on_setup(state, run.parts)  # a checkpoint resuming a run restores here
        state.precision = run.choose_precision()
        run.wrap()  # after a resume, so that DDP starts every process from the restored weights
        for callback in run.hooked:
            callback.on_train_start(state, network)
        with stop_on_interrupt() as interrupted:
            while state.epoch < config.max_epochs and not state.stop:
                epoch_start = time.perf_counter()
                total, rows, cut_short = run.epoch(state.epoch, interrupted)
                if cut_short:  # Ctrl-C: the unfinished epoch is not recorded
                    state.stop, state.stop_reason = True, INTERRUPTED
                    break
                run.record(state, total, rows, start=start, began=epoch_start)
                run.end_epoch(state)
        if not state.stop_reason:
            state.stop_reason = f"reached max_epochs={config.max_epochs}"
        for callback in run.hooked:
            callback.on_train_end(state, network)
    finally:
        run.parts.schedule.close()
        for callback in callbacks:
            callback.on_close()  # e.g. a checkpoint folder's lock, also after an error
    state.seconds = time.perf_counter() - start
    network.eval()
    return state


class _Run:
    """One training run's parts (loss, optimiser, schedule, shuffler) and its steps."""

    def __init__(
        self,
        network: nn.Module,
        train_data: BatchSource,
        validation_data: BatchSource | None,
        config: TrainConfig,
        callbacks: Sequence[Callback],
        runtime: Runtime,
    ) -> None:
        self.network, self.config, self.runtime = network, config, runtime
        self.model = network  # what the training batches go through: under DDP, its wrapper
        self.train_data, self.validation_data = train_data, validation_data
        self.loss_fn = make_loss(
            config.loss,
            huber_delta=config.huber_delta,
            quantiles=config.quantiles,
            label_smoothing=config.label_smoothing,
            class_weights=config.class_weights,
            skip_missing=config.skip_missing_target,
            log_link=config.log_link,
        )
        optimizer = make_optimizer(
            config.optimizer,
            (parameter for parameter in network.parameters() if parameter.requires_grad),
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            momentum=config.momentum,
        )
        schedule = Schedule(
            config.schedule,
            optimizer,
            max_epochs=config.max_epochs,
            time_budget=config.time_budget,
            stall_epochs=config.stall_epochs,
            dropouts=[module for module in network.modules() if isinstance(module, nn.Dropout)],
        )
        self.weights = [weight for weight in penalized_weights(network) if weight.requires_grad]
        self.precision = config.precision if config.precision != "auto" else "fp32"
        shuffler = torch.Generator(device="cpu").manual_seed(config.seed)
        self.parts = LoopParts(network, optimizer, schedule, shuffler, callbacks)
        self.n_batches = train_data.n_batches(config.batch_size)
        # The callbacks this process calls after on_setup, and which of them decide at an
        # epoch's end (before the processes agree) or only report it (after, in rank 0).
        here = [c for c in callbacks if not (runtime.distributed and c.main_only)]
        self.hooked = list(callbacks) if runtime.is_main else here
        self.deciding = here
        self.reporting = [c for c in self.hooked if c not in here]

    def choose_precision(self) -> str:
        """The steps' precision: the config's, or what ``"auto"`` picks for this network and
        batch size (across processes, bf16 if any process picks it, so that all agree)."""
        if self.config.precision == "auto":
            first = next(iter(self.train_data.ordered(self.config.batch_size)), None)
            device = self.train_data.device
            bf16 = first is not None and (
                choose_precision("auto", device, self.network, inputs_of(first)) == "bf16"
            )
            if self.runtime.distributed:
                bf16 = self.runtime.any(bf16)
            self.precision = "bf16" if bf16 else "fp32"
        return self.precision

    def wrap(self) -> None:
        """Put the network under DDP when training across processes."""
        if self.runtime.distributed:
            self.model = self.runtime.wrap(self.network)
            # All step as often as the process with the fewest batches (see _epoch_together).
            self.n_batches = min(self.runtime.gather(self.n_batches))

    def epoch(self, done: int, interrupted: threading.Event) -> tuple[float, int, bool]:
        """One pass over the shuffled training batches: the summed loss and the number of the
        rows seen, and whether Ctrl-C cut it short. A callback's deadline (the time limit)
        ends it early; at least one batch is always taken."""
        self.model.train()
        batches = self.train_data.batches(self.config.batch_size, self.parts.shuffler)
        deadlines = [d for d in (c.deadline() for c in self.deciding) if d is not None]
        deadline = min(deadlines, default=math.inf)
        if self.runtime.distributed:
            return self._epoch_together(done, batches, interrupted, deadline)
        total: float | torch.Tensor = 0.0
        rows = 0
        for index, batch in enumerate(batches):
            if interrupted.is_set() or (index and time.perf_counter() > deadline):
                break
            loss, seen = self._step(done, index, batch)
            total, rows = total + loss, rows + seen
        return float(total), rows, interrupted.is_set()  # one read of the loss per epoch

    def _epoch_together(
        self,
        done: int,
        batches: Iterator[Batch],
        interrupted: threading.Event,
        deadline: float,
    ) -> tuple[float, int, bool]:
        """:meth:`epoch` across processes: each takes a step only if all have a batch, none
        is past its deadline and nobody pressed Ctrl-C, so that uneven shards end the epoch
        together, never hang."""
        total: float | torch.Tensor = 0.0
        rows, index = 0, 0
        while True:
            batch = next(batches, None)
            late = bool(index) and time.perf_counter() > deadline
            out_of_batches, cut_short, past = self.runtime.any_each(
                [batch is None, interrupted.is_set(), late]
            )
            if batch is None or out_of_batches or cut_short or past:
                return float(total), rows, cut_short
            loss, seen = self._step(done, index, batch)
            total, rows, index = total + loss, rows + seen, index + 1

    def _step(self, done: int, index: int, batch: Batch) -> tuple[torch.Tensor, int]:
        """Train on one batch (the ``index``-th of epoch ``done``): its summed loss, as a
        tensor on the device (read once per epoch: no wait for a GPU per batch), and rows."""
        config, parts = self.config, self.parts
        parts.schedule.step_batch(done + (index + 1) / self.n_batches)
        inputs, target = inputs_and_target(batch)
        with step_precision(self.precision, target.device):
            outputs = self.model(**inputs)
        loss = self.loss_fn(outputs.float(), target)
        total = loss.detach() * len(target)
        penalty = weight_penalty(self.weights, l1=config.l1, l2=config.l2)
        if penalty is not None:
            loss = loss + penalty
        parts.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        parts.optimizer.step()
        return total, len(target)

    def record(
        self, state: TrainState, total: float, rows: int, *, start: float, began: float
    ) -> None:
        """Score the validation rows, step the schedule, and add the epoch to ``state``
        (``total`` and ``rows``: the training loss summed over the rows seen; ``start`` and
        ``began``: when the run and the epoch began, by ``perf_counter``)."""
        runtime = self.runtime
        runtime.align(list(self.network.buffers()))  # e.g. batch norm's statistics, as rank 0's
        validation_total, validation_rows = 0.0, 0
        if self.validation_data is not None and len(self.validation_data):
            validation_total, validation_rows = _loss_sum(
                self.network, self.validation_data, self.loss_fn
            )
        seconds = time.perf_counter() - start
        if runtime.distributed:  # the sums over all processes, and rank 0's clock
            total, rows_all, validation_total, validation_all, seconds = runtime.sum(
                [total, rows, validation_total, validation_rows, seconds if runtime.is_main else 0]
            )
            rows, validation_rows = round(rows_all), round(validation_all)
        train_loss = total / rows
        validation_loss = validation_total / validation_rows if validation_rows else None
        learning_rate = float(self.parts.optimizer.param_groups[0]["lr"])
        state.epoch += 1
        self.parts.schedule.step(validation_loss, epoch=state.epoch, seconds=seconds)
        state.history.append(
            EpochRecord(
                state.epoch,
                train_loss,
                validation_loss,
                learning_rate,
                time.perf_counter() - began,
            )
        )
        _track_best(state, validation_loss)
        if not math.isfinite(train_loss):
            state.stop, state.stop_reason = True, DIVERGED
        elif self.parts.schedule.finished:
            state.stop, state.stop_reason = True, ANNEALED

    def end_epoch(self, state: TrainState) -> None:
        """Let the callbacks look at the epoch; across processes, agree whether to stop."""
        for callback in self.deciding:
            callback.on_epoch_end(state, self.network)
        if self.runtime.distributed and self.runtime.any(state.stop):
            reasons = self.runtime.gather(state.stop_reason if state.stop else None)
            state.stop = True
            state.stop_reason = next(reason for reason in reasons if reason is not None)
        for callback in self.reporting:
            callback.on_epoch_end(state, self.network)


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """An event that the first Ctrl-C sets instead of raising; the second one raises at once.

    The handler is installed only in the main thread (elsewhere the event never gets set), and
    the previous handler always comes back on exit.

    Example:
        >>> with stop_on_interrupt() as interrupted:
        ...     interrupted.is_set()
        False
    """
    interrupted = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield interrupted  # a handler not installed from Python could not be put back
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _track_best(state: TrainState, validation_loss: float | None) -> None:
    if validation_loss is None or not math.isfinite(validation_loss):
        return
    best = state.best_validation_loss
    if best is None or validation_loss < best - IMPROVEMENT * abs(best):
        state.best_validation_loss = validation_loss
        state.best_epoch = state.epoch


@torch.no_grad()
def evaluate_loss(network: nn.Module, data: BatchSource, loss_fn: nn.Module) -> float:
    """Mean loss of ``network`` on ``data`` in evaluation mode."""
    total, rows = _loss_sum(network, data, loss_fn)
    return total / rows


@torch.no_grad()
def _loss_sum(network: nn.Module, data: BatchSource, loss_fn: nn.Module) -> tuple[float, int]:
    """The loss of ``network`` summed over the rows of ``data``, and their number."""
    network.eval()
    total = 0.0
    for batch in data.ordered(EVAL_BATCH):
        inputs, target = inputs_and_target(batch)
        total += float(loss_fn(network(**inputs), target)) * len(target)
    return total, len(data)


@torch.no_grad()
def predict(network: nn.Module, data: BatchSource) -> torch.Tensor:
    """The network's raw output for every row of ``data``, in evaluation mode, in order.

    Raw means before the network's head: the standardised target of a regression network.
    """
    network.eval()
    parts = [network(**inputs_of(batch)) for batch in data.ordered(EVAL_BATCH)]
    return torch.cat(parts) if parts else torch.zeros((0,), device=data.device)
