"""The same seed, data, settings and thread count give the same model, bit for bit, in any
process, when no time limit decides how long training runs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_tensors

from deepfit import Regressor, load
from deepfit.cli.info import repeatability_line
from tests.support.tables import make_table

# One fit, in a fresh interpreter: its own import order, allocator and thread pool.
FIT = """
import sys, torch
torch.set_num_threads(1)
from deepfit import Regressor
from tests.support.tables import make_table
frame = make_table(200)
model = Regressor(model="mlp", hidden_layers=(16, 16), max_epochs=6, batch_size=32,
                  time_limit=None, random_state=7)
model.fit(frame.drop(columns="y"), frame["y"]).save(sys.argv[1])
"""


def weights(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as archive:
        return load_tensors(archive.read("weights.safetensors"))


def test_two_processes_with_one_seed_write_bit_identical_weights(tmp_path: Path) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    paths = [tmp_path / "first.deepfit", tmp_path / "second.deepfit"]
    runs = [subprocess.Popen([sys.executable, "-c", FIT, str(path)], env=env) for path in paths]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]  # side by side: half the wait
    first, second = (weights(path) for path in paths)
    assert first.keys() == second.keys()
    assert first
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name
    X = make_table(50, seed=1).drop(columns="y")
    a, b = (load(path) for path in paths)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    summary = a.training_summary_
    assert summary["threads"] == 1
    assert summary["time_limit"] is None
    assert summary["stopped_by_time_limit"] is False
    assert summary["epochs"] == b.training_summary_["epochs"] == 6


def test_a_run_ended_by_its_time_limit_is_recorded_as_such() -> None:
    frame = make_table(100)
    model = Regressor(  # a constant rate: the time limit ends it, not an anneal
        model="mlp",
        hidden_layers=(8,),
        max_epochs=100_000,
        patience=None,
        schedule="constant",
        time_limit=0.3,
    )
    model.fit(frame.drop(columns="y"), frame["y"])
    assert model.training_summary_["stopped_by_time_limit"] is True
    assert model.training_summary_["time_limit"] == 0.3


@pytest.mark.parametrize(
    ("summary", "says"),
    [
        ({"threads": 1, "time_limit": None}, "1 thread(s); no time limit: the same seed"),
        (
            {"threads": 2, "time_limit": 240.0, "stopped_by_time_limit": True},
            "the time limit of 240 s ended training, so a refit may run another number",
        ),
        ({"threads": 2, "time_limit": 60.0}, "a time limit of 60 s, not reached: a refit"),
        ({}, "thread count not recorded; whether a time limit shaped the run is not recorded"),
    ],
)
def test_info_says_what_a_refit_needs_to_repeat_the_model(
    summary: dict[str, object], says: str
) -> None:
    line = repeatability_line({"random_state": 3, "schedule": "cosine"}, summary)
    assert line.startswith("repeatability: seed 3, ")
    assert says in line


def test_info_names_the_precision_the_steps_ran_in_and_how_to_keep_it() -> None:
    summary = {"threads": 2, "time_limit": None, "precision": "bf16"}
    picked = repeatability_line({"random_state": 3, "precision": "auto"}, summary)
    assert "2 thread(s), bf16 steps (auto's pick: --precision bf16 fixes it)" in picked
    asked = repeatability_line({"random_state": 3, "precision": "bf16"}, summary)
    assert "2 thread(s), bf16 steps; no time limit" in asked
