"""Checkpoints: resume gives the uninterrupted run's weights bit for bit; no pickle; Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from deepfit import ArtifactError, ConfigError, DataError, DeepfitWarning, Regressor, load
from deepfit.training.callbacks import Callback, EarlyStopping
from deepfit.training.checkpoint import CHECKPOINT_FILE, load_checkpoint
from deepfit.training.loop import TrainConfig, train
from deepfit.training.sources import InMemorySource
from deepfit.training.state import ANNEALED, INTERRUPTED
from tests.support.callbacks import Crash
from tests.support.sources import table_source
from tests.support.tables import make_table

SMALL: dict[str, Any] = {
    # bit for bit holds on the CPU; a GPU sums embedding gradients in no fixed order
    "device": "cpu",
    "hidden_layers": (16, 16),
    "batch_size": 32,
    "learning_rate": 3e-3,
    "dropout": 0.2,  # dropout draws from the global RNG, which a resume must restore
}


class Interrupt(Callback):
    """Send this process SIGINT (Ctrl-C) ``times`` times after epoch ``at``."""

    def __init__(self, at: int, times: int = 1) -> None:
        self.at = at
        self.times = times

    def on_epoch_end(self, state: Any, network: Any) -> None:
        if state.epoch == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def data(n_rows: int = 200, seed: int = 0) -> tuple[Any, Any]:
    frame = make_table(n_rows, seed=seed)
    return frame.drop(columns="y"), frame["y"]


def assert_same_weights(a: Regressor, b: Regressor) -> None:
    first, second = a.network_.state_dict(), b.network_.state_dict()
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "adamw", "schedule": "cosine", "norm": "batch"},
        {"optimizer": "sgd", "schedule": "plateau", "learning_rate": 0.01},
        {"optimizer": "rmsprop", "schedule": "constant", "norm": "layer"},
    ],
)
def test_resume_after_a_crash_gives_the_uninterrupted_weights_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any]
) -> None:
    X, y = data()
    params = {**SMALL, **settings, "max_epochs": 10, "patience": 50}
    uninterrupted = Regressor(**params).fit(X, y)

    folder = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        Regressor(**params, checkpoint_dir=folder, checkpoint_every=3).fit(
            X, y, callbacks=[Crash(at=7)]
        )
    assert load_checkpoint(folder / CHECKPOINT_FILE).epoch == 6  # epoch 7 is done again

    resumed = Regressor(**params, checkpoint_dir=folder, checkpoint_every=3)
    resumed.fit(X, y, resume=True)
    assert resumed.training_summary_["resumed_from_epoch"] == 6
    assert_same_weights(uninterrupted, resumed)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in uninterrupted.history_]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history_] == strip
    assert load_checkpoint(folder / CHECKPOINT_FILE).epoch == 10  # and one at the end


def test_resume_in_the_middle_of_an_anneal_decay_gives_the_same_rates_and_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data()
    # the decay starts after epoch 8 (the last quarter of 10) and lasts 2 epochs
    params = {**SMALL, "schedule": "anneal", "max_epochs": 10, "patience": 50}
    uninterrupted = Regressor(**params).fit(X, y)
    rates = [record["learning_rate"] for record in uninterrupted.history_]
    assert rates[:8] == [3e-3] * 8
    assert rates[8:] == pytest.approx([1.5e-3, 0.0])  # the last batch of epochs 9 and 10
    assert uninterrupted.training_summary_["stop_reason"] == ANNEALED

    folder = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        Regressor(**params, checkpoint_dir=folder, checkpoint_every=3).fit(
            X, y, callbacks=[Crash(at=10)]
        )
    resumed = Regressor(**params, checkpoint_dir=folder, checkpoint_every=3)
    resumed.fit(X, y, resume=True)
    assert resumed.training_summary_["resumed_from_epoch"] == 9  # in the middle of the decay
    assert [record["learning_rate"] for record in resumed.history_] == rates
    assert_same_weights(uninterrupted, resumed)


@pytest.mark.parametrize("saved", ["at the best epoch", "after the best epoch"])
def test_resume_keeps_early_stopping_state_and_a_finished_run_stays_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: str
) -> None:
    X, y = data()
    params = {
        **SMALL, "max_epochs": 200, "patience": 3, "learning_rate": 0.02, "schedule": "constant"
    }  # fmt: skip
    uninterrupted = Regressor(**params).fit(X, y)
    summary = uninterrupted.training_summary_
    assert "early stopping" in summary["stop_reason"]
    best = summary["best_epoch"]
    assert best >= 2
    if saved == "at the best epoch":  # its best weights must be in the checkpoint already
        every, crash_at = best, best + 1
    else:  # the best weights are not the last ones
        every, crash_at = 1, summary["epochs"] - 1
        assert crash_at > best

    folder = tmp_path / "run"
    params["checkpoint_every"] = every
    with pytest.raises(RuntimeError):
        Regressor(**params, checkpoint_dir=folder).fit(X, y, callbacks=[Crash(at=crash_at)])
    assert load_checkpoint(folder / CHECKPOINT_FILE).epoch == crash_at - 1
    resumed = Regressor(**params, checkpoint_dir=folder).fit(X, y, resume=True)
    assert resumed.training_summary_["epochs"] == summary["epochs"]
    assert resumed.training_summary_["best_epoch"] == best
    assert_same_weights(uninterrupted, resumed)

    again = Regressor(**params, checkpoint_dir=folder).fit(X, y, resume=True)
    assert again.training_summary_["resumed_from_epoch"] == summary["epochs"]
    assert again.training_summary_["stop_reason"] == summary["stop_reason"]
    assert_same_weights(uninterrupted, again)


def test_a_run_stopped_by_its_time_limit_goes_on_when_resumed(tmp_path: Path) -> None:
    X, y = data(100)
    params = {**SMALL, "max_epochs": 100_000, "patience": None, "checkpoint_dir": tmp_path}
    params["schedule"] = "constant"  # so the time limit stops it, not an anneal that ends first
    first = Regressor(**params, time_limit=0.3).fit(X, y)
    done = first.training_summary_["epochs"]
    assert "time limit" in first.training_summary_["stop_reason"]
    resumed = Regressor(**params, time_limit=0.3).fit(X, y, resume=True)  # a new time budget
    assert resumed.training_summary_["resumed_from_epoch"] == done
    assert resumed.training_summary_["epochs"] > done


def test_a_checkpoint_of_other_settings_or_data_is_refused(tmp_path: Path) -> None:
    X, y = data(120)
    params = {**SMALL, "max_epochs": 2, "checkpoint_dir": tmp_path}
    Regressor(**params).fit(X, y)
    with pytest.raises(ConfigError, match=r"learning_rate 0\.003 then, 0\.01 now.*--resume"):
        Regressor(**{**params, "learning_rate": 0.01}).fit(X, y, resume=True)
    with pytest.raises(ConfigError, match="hidden_layers"):
        Regressor(**{**params, "hidden_layers": (8,)}).fit(X, y, resume=True)
    with pytest.raises(DataError, match="train rows 102 then, 85 now"):
        Regressor(**params).fit(X.iloc[:100], y.iloc[:100], resume=True)
    changed = y.copy()
    changed.iloc[0] += 1.0
    with pytest.raises(DataError, match=r"same shape, but other values.*--checkpoint-dir"):
        Regressor(**params).fit(X, changed, resume=True)
    with pytest.raises(ConfigError, match="seed 0 then, 5 now") as error:
        Regressor(**{**params, "random_state": 5}).fit(X, y, resume=True)
    assert "\n" not in str(error.value)


def test_resume_without_a_checkpoint_starts_from_scratch_with_a_warning(tmp_path: Path) -> None:
    X, y = data(120)
    params = {**SMALL, "max_epochs": 3}
    with pytest.warns(DeepfitWarning, match="no checkpoint in .* starts from scratch"):
        model = Regressor(**params, checkpoint_dir=tmp_path / "new").fit(X, y, resume=True)
    assert "resumed_from_epoch" not in model.training_summary_
    assert_same_weights(model, Regressor(**params).fit(X, y))
    assert (tmp_path / "new" / CHECKPOINT_FILE).exists()
    with pytest.raises(ConfigError, match="resume needs a checkpoint folder"):
        Regressor(**params).fit(X, y, resume=True)
    with pytest.raises(ConfigError, match="checkpoint_every"):
        Regressor(**params, checkpoint_dir=tmp_path, checkpoint_every=0).fit(X, y)


def test_a_new_run_over_an_old_checkpoint_says_it_replaces_it(tmp_path: Path) -> None:
    X, y = data(120)
    params = {**SMALL, "max_epochs": 2, "checkpoint_dir": tmp_path}
    Regressor(**params).fit(X, y)
    with pytest.warns(DeepfitWarning, match="will be replaced.*--resume"):
        Regressor(**params).fit(X, y)


def test_random_state_none_resumes_with_the_saved_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data(120)
    params = {**SMALL, "max_epochs": 6, "random_state": None, "checkpoint_dir": tmp_path}
    with pytest.raises(RuntimeError):
        Regressor(**params).fit(X, y, callbacks=[Crash(at=3)])
    seed = load_checkpoint(tmp_path / CHECKPOINT_FILE).fingerprint["settings"]["seed"]
    resumed = Regressor(**params).fit(X, y, resume=True)
    assert resumed.training_summary_["resumed_from_epoch"] == 2  # the crash came before 3
    reference = Regressor(**{**params, "random_state": seed, "checkpoint_dir": None}).fit(X, y)
    assert_same_weights(resumed, reference)


def test_the_checkpoint_is_safetensors_with_json_and_no_pickle(tmp_path: Path) -> None:
    X, y = data(120)
    Regressor(**SMALL, max_epochs=2, patience=5, checkpoint_dir=tmp_path).fit(X, y)
    path = tmp_path / CHECKPOINT_FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]  # no temp files
    raw = path.read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    assert raw[8:9] == b"{"  # a safetensors JSON header, then raw tensor bytes
    json.loads(raw[8 : 8 + header_size])
    assert not raw.startswith(b"PK")  # not a zip (torch.save)
    assert b"PK\x03\x04" not in raw
    # not a pickle stream (whose protocol byte follows 0x80; a header length may start 0x80)
    assert raw[:2] not in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
    for protocol in (b"\x80\x02", b"\x80\x03", b"\x80\x04\x95", b"\x80\x05\x95"):
        assert protocol not in raw[: 8 + header_size]
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        names = list(handle.keys())
        rng = handle.get_tensor("rng.torch")
        shuffler = handle.get_tensor("rng.shuffler")
    assert metadata["format"] == "deepfit-checkpoint"
    state = json.loads(metadata["state"])
    assert state["epoch"] == 2
    assert len(state["history"]) == 2
    assert set(state["fingerprint"]) == {"settings", "data"}
    assert state["fingerprint"]["settings"]["seed"] == 0
    assert rng.dtype == torch.uint8
    assert shuffler.dtype == torch.uint8
    assert any(name.startswith("network.") for name in names)
    assert any(name.startswith("optimizer.state.") for name in names)
    assert any(name.startswith("callbacks.EarlyStopping.best_weights.") for name in names)


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    X, y = data(120)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ArtifactError, match=r"unreadable.*--checkpoint-dir"):
        Regressor(**SMALL, max_epochs=2, checkpoint_dir=tmp_path).fit(X, y, resume=True)


# ---------------------------------------------------------------------------------- Ctrl-C
class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.layer(numeric).squeeze(-1)


def linear_data(n: int = 256, seed: int = 0) -> InMemorySource:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + torch.randn(n, generator=generator)
    return table_source(x, y)


def test_ctrl_c_stops_after_the_batch_restores_the_best_and_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = data(120)
    previous = signal.getsignal(signal.SIGINT)  # SIG_IGN when the runner ignores Ctrl-C
    model = Regressor(**SMALL, max_epochs=50, patience=20)
    with pytest.warns(DeepfitWarning, match="interrupted"):
        model.fit(X, y, callbacks=[Interrupt(at=4)])
    summary = model.training_summary_
    assert summary["stop_reason"] == INTERRUPTED
    assert summary["epochs"] == 4  # the epoch under way when Ctrl-C came is not counted
    assert signal.getsignal(signal.SIGINT) is previous

    net, validation = Linear(), linear_data(64, seed=1)
    stopping = EarlyStopping(patience=20)
    config = TrainConfig(learning_rate=0.3, max_epochs=50, batch_size=16, schedule="constant")
    state = train(net, linear_data(), validation, config, [stopping, Interrupt(at=6)])
    assert state.stop_reason == INTERRUPTED
    assert stopping.best_weights is not None
    for name, weight in net.state_dict().items():
        assert torch.equal(weight, stopping.best_weights[name])


def test_a_second_ctrl_c_aborts_at_once_and_the_handler_comes_back() -> None:
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train(Linear(), linear_data(), None, TrainConfig(max_epochs=50), [Interrupt(2, times=2)])
    assert signal.getsignal(signal.SIGINT) is previous


def test_training_in_another_thread_installs_no_handler() -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            train(Linear(), linear_data(), None, TrainConfig(max_epochs=2))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []


# ------------------------------------------------------------ the command, as real processes
TRAIN_ARGS = [
    "--target", "y", "--model", "mlp", "--hidden-layers", "32,32", "--batch-size", "16",
    "--patience", "0", "--no-baselines", "-q",
]  # fmt: skip
DEADLINE = 180.0  # seconds any one process may take before the test fails


def start_training(folder: Path, data_csv: Path, *args: object) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "deepfit.cli", "train", data_csv, *TRAIN_ARGS, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [str(part) for part in command],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def saved_epoch(path: Path) -> int:
    """The epoch of the checkpoint at ``path``; 0 while there is none."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return int(json.loads(handle.metadata()["state"])["epoch"])
    except Exception:  # not written yet
        return 0


def wait_for_epoch(process: subprocess.Popen[bytes], path: Path, epoch: int) -> int:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and process.poll() is None:
        reached = saved_epoch(path)
        if reached >= epoch:
            return reached
        time.sleep(0.01)
    process.kill()
    _, stderr = process.communicate(timeout=30)
    pytest.fail(f"training never checkpointed epoch {epoch}: {stderr.decode()[-2000:]}")


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=30)
        pytest.fail("training did not finish in time")
    return process.returncode, stderr.decode()


def test_a_killed_training_resumed_gives_the_uninterrupted_model(tmp_path: Path) -> None:
    data_csv = tmp_path / "data.csv"
    make_table(400).to_csv(data_csv, index=False)
    epochs = ("--max-epochs", 80)  # a margin of many epochs between the kill and the end
    reference = start_training(tmp_path, data_csv, *epochs, "--out", "m2.deepfit",
                               "--checkpoint-dir", "other")  # fmt: skip
    killed = start_training(tmp_path, data_csv, *epochs, "--out", "m1.deepfit",
                            "--checkpoint-dir", "run")  # fmt: skip
    checkpoint = tmp_path / "run" / CHECKPOINT_FILE
    wait_for_epoch(killed, checkpoint, 3)
    killed.send_signal(signal.SIGKILL)
    assert finish(killed)[0] == -signal.SIGKILL
    assert 3 <= saved_epoch(checkpoint) < 80, "the run finished before it could be killed"
    assert not (tmp_path / "m1.deepfit").exists()

    resumed = start_training(tmp_path, data_csv, *epochs, "--out", "m1.deepfit",
                             "--checkpoint-dir", "run", "--resume")  # fmt: skip
    for process in (resumed, reference):
        code, stderr = finish(process)
        assert code == 0, stderr
    first, second = load(tmp_path / "m1.deepfit"), load(tmp_path / "m2.deepfit")
    assert first.training_summary_["resumed_from_epoch"] >= 3
    assert first.training_summary_["epochs"] == second.training_summary_["epochs"] == 80
    X = make_table(400).drop(columns="y")
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert_same_weights(first, second)


def test_ctrl_c_during_training_saves_the_model_and_exits_130(tmp_path: Path) -> None:
    data_csv = tmp_path / "data.csv"
    make_table(200).to_csv(data_csv, index=False)
    process = start_training(tmp_path, data_csv, "--max-epochs", 100_000, "--out", "m.deepfit",
                             "--checkpoint-dir", "run")  # fmt: skip
    wait_for_epoch(process, tmp_path / "run" / CHECKPOINT_FILE, 2)
    process.send_signal(signal.SIGINT)
    code, stderr = finish(process)
    assert code == 130, stderr
    assert "interrupted (Ctrl-C) after" in stderr
    assert "--resume continues" in stderr
    assert "Traceback" not in stderr
    model = load(tmp_path / "m.deepfit")
    assert model.training_summary_["stop_reason"] == INTERRUPTED
    assert "deepfit" in model.metrics_  # scored as usual
