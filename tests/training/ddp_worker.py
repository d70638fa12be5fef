"""One process of a two-process training, run by torchrun for tests/training/test_distributed.py.

``ddp_worker.py OUT SCENARIO...`` joins the process group, runs each scenario and writes what
it saw to ``OUT/rank<r>.json`` (and weights to ``OUT/<scenario>-rank<r>.pt``). The network,
data and settings are also what the test's one-process reference uses, so they live here.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepfit.training import distributed
from deepfit.training.callbacks import Callback
from deepfit.training.checkpoint import Checkpoint, load_checkpoint
from deepfit.training.loop import TrainConfig, train
from deepfit.training.sources import TARGET, InMemorySource
from deepfit.training.state import TrainState

BATCH = 16  # per process; one process uses 2 * BATCH
EPOCHS = 3


class Net(nn.Module):
    """A small MLP without dropout, seeded; with batch norm (buffers) if ``norm``."""

    def __init__(self, seed: int = 0, norm: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        middle = nn.BatchNorm1d(16) if norm else nn.Identity()
        self.layers = nn.Sequential(nn.Linear(4, 16), middle, nn.Tanh(), nn.Linear(16, 1))

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        return self.layers(numeric).squeeze(-1)


def data(rows: int = 256, seed: int = 0) -> InMemorySource:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 4, generator=generator)
    y = torch.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * torch.randn(rows, generator=generator)
    return InMemorySource({"numeric": x, TARGET: y})


def config(batch_size: int = BATCH, max_epochs: int = EPOCHS) -> TrainConfig:
    return TrainConfig(batch_size=batch_size, max_epochs=max_epochs, learning_rate=0.01, seed=3)


class StopAt(Callback):
    """Stops the run after ``epoch`` in the process of rank ``rank`` only."""

    def __init__(self, rank: int, epoch: int, runtime: distributed.Runtime) -> None:
        self.rank, self.epoch, self.runtime = rank, epoch, runtime

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        if self.runtime.rank == self.rank and state.epoch == self.epoch:
            state.stop, state.stop_reason = True, f"rank {self.rank} stops"


class Report(Callback):
    """A main-only callback: notes every hook it sees (and the stop flag at each epoch end)."""

    main_only = True

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_setup(self, state: TrainState, parts: Any) -> None:
        self.seen.append("setup")

    def on_train_start(self, state: TrainState, network: nn.Module) -> None:
        self.seen.append("start")

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        self.seen.append(f"epoch {state.epoch} stop={state.stop}")

    def on_train_end(self, state: TrainState, network: nn.Module) -> None:
        self.seen.append("end")


def _training_forwards(network: nn.Module, then: Any = None) -> list[int]:
    """A counter of the network's forward passes in training mode; ``then(count)`` after each."""
    count = [0]

    def hook(module: nn.Module, args: Any) -> None:
        if module.training:
            count[0] += 1
            if then is not None:
                then(count[0])

    network.register_forward_pre_hook(hook)
    return count


def _summary(state: TrainState) -> dict[str, Any]:
    return {
        "epoch": state.epoch,
        "stop_reason": state.stop_reason,
        "train_loss": [record.train_loss for record in state.history],
        "validation_loss": [record.validation_loss for record in state.history],
    }


def equivalence(runtime: distributed.Runtime, out: Path) -> dict[str, Any]:
    network = Net()
    rank, world = runtime.rank, runtime.world_size
    state = train(network, data().shard(rank, world), data(64, 1).shard(rank, world), config())
    torch.save(network.state_dict(), out / f"equivalence-rank{rank}.pt")
    return _summary(state)


def uneven(runtime: distributed.Runtime, out: Path) -> dict[str, Any]:
    network = Net(norm=True)
    steps = _training_forwards(network)
    own = data(BATCH * (5 if runtime.rank == 0 else 3), seed=10 + runtime.rank)
    state = train(network, own, data(64, 1), config(max_epochs=2))
    weights = [float(p.detach().double().sum()) for p in network.state_dict().values()]
    return {**_summary(state), "n_batches": own.n_batches(BATCH), "steps": steps[0], "w": weights}


def stop(runtime: distributed.Runtime, out: Path) -> dict[str, Any]:
    report = Report()
    one = train(Net(), data(), None, config(max_epochs=5), [StopAt(1, 1, runtime), report])
    both = train(
        Net(), data(), None, config(max_epochs=5), [StopAt(1, 2, runtime), StopAt(0, 2, runtime)]
    )
    return {"one": _summary(one), "both": _summary(both), "report": report.seen}


def interrupt(runtime: distributed.Runtime, out: Path) -> dict[str, Any]:
    network = Net()
    source = data().shard(runtime.rank, runtime.world_size)
    press_at = source.n_batches(BATCH) + 2  # the second batch of the second epoch

    def press(count: int) -> None:
        if runtime.rank == 1 and count == press_at:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in this process's terminal does

    steps = _training_forwards(network, press)
    state = train(network, source, None, config())
    return {**_summary(state), "steps": steps[0], "press_at": press_at}


def resume(runtime: distributed.Runtime, out: Path) -> dict[str, Any]:
    network = Net(seed=99)  # the checkpoint's weights must replace these in every process
    rank, world = runtime.rank, runtime.world_size
    snapshot = load_checkpoint(out / "reference" / "checkpoint.safetensors")
    keeper = Checkpoint(out / f"resumed-rank{rank}", fingerprint={}, resume_from=snapshot)
    state = train(
        network, data().shard(rank, world), data(64, 1).shard(rank, world), config(), [keeper]
    )
    torch.save(network.state_dict(), out / f"resume-rank{rank}.pt")
    return _summary(state)


SCENARIOS = {
    "equivalence": equivalence,
    "uneven": uneven,
    "stop": stop,
    "interrupt": interrupt,
    "resume": resume,
}


def main() -> None:
    out, names = Path(sys.argv[1]), sys.argv[2:]
    runtime = distributed.start(timeout_s=60)
    if runtime.world_size != 2:
        raise SystemExit(f"expected two processes, however: {runtime}")
    results = {"runtime": [runtime.rank, runtime.world_size, runtime.local_rank]}
    results.update({name: SCENARIOS[name](runtime, out) for name in names})
    distributed.stop()
    results["group_threads_left"] = _group_threads()
    (out / f"rank{runtime.rank}.json").write_text(json.dumps(results))


def _group_threads() -> list[str] | None:
    """The names of this process's gloo and store threads (None where /proc cannot tell):
    left after stop(), they may abort the process as it exits."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    names = [(task / "comm").read_text().strip() for task in tasks.iterdir()]
    return [name for name in names if "gloo" in name or "tcpstore" in name]


if __name__ == "__main__":
    main()
