"""Training across processes: two processes on this machine (gloo on loopback) give the weights
one process gives with twice the batch, end uneven epochs together, and agree to stop.

The two-process runs start ``torchrun`` (twice at once, to share the start-up time) on
tests/training/ddp_worker.py; every run is killed, and the test failed, after ``TIMEOUT``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.training import distributed
from deepfit.training.callbacks import Callback
from deepfit.training.checkpoint import Checkpoint
from deepfit.training.distributed import LOCAL, Runtime
from deepfit.training.loop import train
from deepfit.training.sources import TARGET, InMemorySource, ShardedSource
from deepfit.training.state import TrainState
from tests.training import ddp_worker
from tests.training.ddp_worker import BATCH, EPOCHS, Net, config, data

TIMEOUT = 90  # seconds for one torchrun; a hang fails the test instead of stalling the suite
WORKER = Path(ddp_worker.__file__)
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
STANDALONE = ["equivalence", "uneven", "stop", "interrupt", "resume"]
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(arguments: list[str]) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if key not in TORCHRUN_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", TORCH_ELASTIC_SHUTDOWN_TIMEOUT="5")
    return subprocess.Popen(
        [*TORCHRUN, *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str], what: str) -> None:
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.terminate()  # torchrun passes it on to its workers
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"{what} hung for {TIMEOUT} s:\n{output[-12000:]}")
    assert process.returncode == 0, f"{what} failed:\n{output[-12000:]}"


def _results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both launches: one torchrun of two processes, and two torchruns of one process each
    meeting at a c10d rendezvous on localhost as two "nodes"."""
    standalone = tmp_path_factory.mktemp("standalone")
    nodes = tmp_path_factory.mktemp("nodes")
    _reference_checkpoint(standalone / "reference")
    port = _free_port()
    node_args = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d"]
    node_args += ["--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "deepfit-test"]
    processes = {
        "standalone": _start(
            ["--standalone", "--nproc-per-node", "2", str(WORKER), str(standalone), *STANDALONE]
        ),
        **{
            f"node {rank}": _start(
                [
                    *node_args,
                    "--node-rank",
                    str(rank),
                    "--rdzv-conf",
                    f"is_host={int(rank == 0)}",
                    str(WORKER),
                    str(nodes),
                    "equivalence",
                ]
            )
            for rank in (0, 1)
        },
    }
    for what, process in processes.items():
        _finish(process, f"torchrun ({what})")
    return {"standalone": standalone, "nodes": nodes}


def _reference_checkpoint(folder: Path) -> None:
    """The first epoch of the one-process run, saved, for the two processes to resume."""

    class StopAfterOne(Callback):
        def on_epoch_end(self, state: TrainState, network: torch.nn.Module) -> None:
            state.stop = True

    keeper = Checkpoint(folder, fingerprint={})
    train(Net(), data(), data(64, 1), config(batch_size=2 * BATCH), [StopAfterOne(), keeper])


@pytest.fixture(scope="module")
def one_process() -> tuple[dict[str, torch.Tensor], TrainState]:
    """What the two processes must match: one process, twice the batch, all the rows."""
    network = Net()
    state = train(network, data(), data(64, 1), config(batch_size=2 * BATCH))
    return network.state_dict(), state


def _assert_same_weights(found: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert found.keys() == expected.keys()  # no "module." prefix from DDP
    for name, tensor in expected.items():
        assert (found[name] - tensor).abs().max() < 1e-5, name


# ---------------------------------------------------------------------------- two processes
@pytest.mark.parametrize("launch", ["standalone", "nodes"])
def test_two_processes_at_batch_b_train_as_one_at_batch_2b(runs, one_process, launch) -> None:
    expected, state = one_process
    for rank, result in enumerate(_results(runs[launch])):
        assert result["runtime"] == [rank, 2, rank if launch == "standalone" else 0]
        weights = torch.load(runs[launch] / f"equivalence-rank{rank}.pt", weights_only=True)
        _assert_same_weights(weights, expected)
        seen = result["equivalence"]
        assert seen["epoch"] == EPOCHS
        assert seen["train_loss"] == pytest.approx([r.train_loss for r in state.history], 1e-6)
        validation = [r.validation_loss for r in state.history]
        assert seen["validation_loss"] == pytest.approx(validation, 1e-6)


@pytest.mark.parametrize("launch", ["standalone", "nodes"])
def test_stop_leaves_no_thread_of_the_group_behind(runs, launch) -> None:
    for result in _results(runs[launch]):
        assert result["group_threads_left"] in ([], None)


def test_uneven_shards_end_each_epoch_together(runs) -> None:
    first, second = (result["uneven"] for result in _results(runs["standalone"]))
    assert (first["n_batches"], second["n_batches"]) == (5, 3)
    assert first["steps"] == second["steps"] == 2 * 3  # two epochs of the shorter shard
    assert first["epoch"] == second["epoch"] == 2
    assert first["w"] == second["w"]  # DDP kept the weights equal, and batch norm's statistics
    assert first["train_loss"] == second["train_loss"]  # summed over both processes


def test_a_stop_in_one_process_stops_both_with_the_lowest_ranks_reason(runs) -> None:
    first, second = (result["stop"] for result in _results(runs["standalone"]))
    for seen in (first, second):
        assert (seen["one"]["epoch"], seen["one"]["stop_reason"]) == (1, "rank 1 stops")
        assert (seen["both"]["epoch"], seen["both"]["stop_reason"]) == (2, "rank 0 stops")
    # A main-only callback acts in rank 0 alone, after the stop was agreed; on_setup everywhere.
    assert first["report"] == ["setup", "start", "epoch 1 stop=True", "end"]
    assert second["report"] == ["setup"]


def test_ctrl_c_in_one_process_stops_both_at_the_end_of_the_batch(runs) -> None:
    for seen in (result["interrupt"] for result in _results(runs["standalone"])):
        assert seen["stop_reason"] == "interrupted"
        assert seen["epoch"] == 1  # the second epoch, cut short, is not recorded
        assert seen["steps"] == seen["press_at"]  # the pressed batch was the last for both


def test_both_processes_resume_a_one_process_checkpoint(runs, one_process) -> None:
    expected, state = one_process
    for rank, result in enumerate(_results(runs["standalone"])):
        weights = torch.load(runs["standalone"] / f"resume-rank{rank}.pt", weights_only=True)
        _assert_same_weights(weights, expected)
        seen = result["resume"]
        assert seen["epoch"] == EPOCHS
        assert seen["train_loss"] == pytest.approx([r.train_loss for r in state.history], 1e-6)


# -------------------------------------------------------------------------- one process
def test_the_local_runtime_is_one_process_and_its_collectives_the_identity() -> None:
    assert distributed.current() == LOCAL == Runtime()
    assert (LOCAL.distributed, LOCAL.is_main) == (False, True)
    other = Runtime(rank=1, world_size=2)
    assert (other.distributed, other.is_main) == (True, False)
    assert (LOCAL.any(True), LOCAL.any(False)) == (True, False)
    assert LOCAL.any_each([True, False]) == [True, False]
    assert LOCAL.sum([1.0, 2.5]) == [1.0, 2.5]
    assert LOCAL.broadcast({"a": 1}) == {"a": 1}
    assert LOCAL.gather(3) == [3]
    LOCAL.barrier()
    network = torch.nn.Linear(2, 1)
    assert LOCAL.wrap(network) is network


def test_start_outside_torchrun_is_local_and_refuses_a_half_set_environment(monkeypatch) -> None:
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.under_torchrun()
    assert distributed.start() == LOCAL
    distributed.stop()  # no group: nothing to do
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.under_torchrun()
    with pytest.raises(
        ConfigError, match="WORLD_SIZE is set but not RANK, MASTER_ADDR, MASTER_PORT"
    ):
        distributed.start()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.start() == LOCAL  # torchrun of one process: no group needed


def test_launch_refuses_no_processes_and_a_launch_inside_torchrun(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for processes in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="processes must be a positive integer"):
            distributed.launch(processes, ["train"])  # type: ignore[arg-type]
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="already runs under torchrun"):
        distributed.launch(2, ["train"])


def test_launch_runs_torchrun_and_passes_ctrl_c_on(monkeypatch, tmp_path) -> None:
    """A stand-in for python records its arguments and exits 42 on SIGINT (0 after 10 s)."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/args\ntrap "exit 42" INT\n'
        "i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(distributed.sys, "executable", str(fake))
    # A job started in the background of a script ignores SIGINT, and so would the stand-in.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    press = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    press.start()
    try:
        assert distributed.launch(3, ["train", "x.csv"]) == distributed.INTERRUPTED  # 42: got it
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        press.cancel()
        signal.signal(signal.SIGINT, outer)
    assert (tmp_path / "args").read_text() == (
        "-m torch.distributed.run --standalone --nproc-per-node 3 -m deepfit train x.csv\n"
    )


def test_a_shard_of_one_process_batches_as_the_source_itself() -> None:
    source = data(100)
    shard = source.shard(0, 1)
    for batch_size in (7, 16, 100, 300):
        assert shard.n_batches(batch_size) == source.n_batches(batch_size)
        mine = shard.batches(batch_size, torch.Generator().manual_seed(5))
        theirs = source.batches(batch_size, torch.Generator().manual_seed(5))
        for a, b in zip(mine, theirs, strict=True):
            assert torch.equal(a[TARGET], b[TARGET])


def test_two_shards_split_each_global_batch_and_hold_half_the_rows_each() -> None:
    source = InMemorySource({TARGET: torch.arange(100.0)})
    shards = [ShardedSource(source, rank, 2) for rank in (0, 1)]
    assert shards[0].n_batches(8) == shards[1].n_batches(8) == source.n_batches(16) == 6
    parts = [list(s.batches(8, torch.Generator().manual_seed(1))) for s in shards]
    whole = list(source.batches(16, torch.Generator().manual_seed(1)))
    for first, second, both in zip(*parts, whole, strict=True):
        assert torch.equal(torch.cat([first[TARGET], second[TARGET]]), both[TARGET])
        assert abs(len(first[TARGET]) - len(second[TARGET])) <= 1
    blocks = [torch.cat([b[TARGET] for b in s.ordered(30)]) for s in shards]
    assert torch.equal(torch.cat(blocks), torch.arange(100.0))
    assert [len(s) for s in shards] == [50, 50]
    assert shards[1].sample() is source.sample()


@pytest.mark.parametrize(("rank", "world_size", "rows"), [(2, 2, 10), (-1, 2, 10), (0, 4, 3)])
def test_a_shard_that_cannot_be_is_refused(rank, world_size, rows) -> None:
    with pytest.raises(ConfigError, match=r"rank must be|cannot be shared"):
        InMemorySource({TARGET: torch.zeros(rows)}).shard(rank, world_size)
