"""One run at a time in a checkpoint folder: a second live run is refused, a finished or
crashed one lets the next in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deepfit import ConfigError, Regressor
from deepfit.training import checkpoint as checkpoint_module
from deepfit.training.checkpoint import Checkpoint
from deepfit.training.distributed import Runtime
from deepfit.training.state import TrainState
from tests.support.callbacks import Crash
from tests.support.tables import make_table

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the folder lock needs fcntl")

FAST: dict[str, Any] = {
    "hidden_layers": (8,),
    "batch_size": 64,
    "max_epochs": 2,
    "patience": 5,
    "random_state": 0,
}

# Another run: it locks the folder as a checkpointing run does, until told to stop.
HOLDER = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.readline()
"""


@contextmanager
def another_run(folder: Path) -> Iterator[subprocess.Popen[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder / checkpoint_module.LOCK_FILE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        yield child
    finally:
        if child.poll() is None:
            assert child.stdin is not None
            child.stdin.write("\n")
            child.stdin.flush()
        child.wait(timeout=30)


def data() -> tuple[Any, Any]:
    frame = make_table(120, seed=0)
    return frame.drop(columns="y"), frame["y"]


def test_a_folder_another_live_run_holds_is_refused_until_it_ends(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    X, y = data()
    with another_run(folder) as child:
        with pytest.raises(ConfigError, match="in use by another run") as refused:
            Regressor(**FAST, checkpoint_dir=folder).fit(X, y)
        message = str(refused.value)
        assert str(folder) in message
        assert "\n" not in message
        assert "choose another" in message
        assert child.poll() is None
    assert not (folder / "checkpoint.safetensors").exists()
    Regressor(**FAST, checkpoint_dir=folder).fit(X, y)  # the other run ended: free
    assert (folder / "checkpoint.safetensors").exists()


def test_the_lock_is_released_after_a_run_that_raised(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    X, y = data()
    params = {**FAST, "max_epochs": 3, "checkpoint_dir": folder}
    with pytest.raises(RuntimeError, match="simulated crash"):
        Regressor(**params).fit(X, y, callbacks=[Crash(at=2)])
    assert (folder / "checkpoint.safetensors").exists()
    with another_run(folder) as child:  # it could take the lock: nobody holds it
        assert child.poll() is None
    Regressor(**params).fit(X, y, resume=True)  # and so can this process


def test_a_second_checkpoint_in_this_process_is_refused_while_the_first_holds(
    tmp_path: Path,
) -> None:
    state = TrainState(max_epochs=1)
    first, second = (Checkpoint(tmp_path, fingerprint={}) for _ in range(2))
    first.on_setup(state, None)  # type: ignore[arg-type]
    try:
        with pytest.raises(ConfigError, match="in use by another run"):
            second.on_setup(state, None)  # type: ignore[arg-type]
    finally:
        first.on_close()
        second.on_close()
    second.on_setup(state, None)  # type: ignore[arg-type]
    second.on_close()
    second.on_close()  # closing twice is harmless


def test_only_rank_0_locks_under_ddp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_module, "current", lambda: Runtime(rank=1, world_size=2))
    state = TrainState(max_epochs=1)
    leftover = tmp_path / ".checkpoint.safetensors.abc.tmp"  # maybe rank 0's, being written
    leftover.write_bytes(b"")
    with another_run(tmp_path):
        rank_1 = Checkpoint(tmp_path, fingerprint={})
        rank_1.on_setup(state, None)  # type: ignore[arg-type]
        rank_1.on_close()
    assert leftover.exists()


def test_without_fcntl_the_lock_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_module, "fcntl", None)
    state = TrainState(max_epochs=1)
    first, second = (Checkpoint(tmp_path, fingerprint={}) for _ in range(2))
    first.on_setup(state, None)  # type: ignore[arg-type]
    second.on_setup(state, None)  # type: ignore[arg-type]
    first.on_close()
    second.on_close()
