"""``deepfit train --processes 2``: one training in two processes (torchrun, DDP on gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit import load
from tests.support.tables import make_table

TIMEOUT = 180
COMMON = ["--model", "mlp", "--hidden-layers", "16", "--dropout", "0", "--max-epochs", "3"]
COMMON += ["--time-limit", "none", "--patience", "0", "--no-baselines", "-q", "--force"]


def deepfit(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "deepfit", *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
    )


@pytest.fixture(scope="module")
def parquet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("processes") / "t.parquet"
    make_table(640).to_parquet(path, row_group_size=100)  # 448 training rows: 7 batches of 64
    return path


def test_two_processes_at_batch_b_train_what_one_trains_at_2b(parquet: Path, tmp_path: Path):
    two, one = tmp_path / "two.deepfit", tmp_path / "one.deepfit"
    run = deepfit(
        "train", parquet, "-t", "y", "-o", two, "--processes", 2, "--batch-size", 32, *COMMON
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.count("saved model to") == 1  # rank 0 alone prints and writes
    alone = deepfit("train", parquet, "-t", "y", "-o", one, "--batch-size", 64, *COMMON)
    assert alone.returncode == 0, alone.stderr
    rows = pd.read_parquet(parquet).drop(columns="y")
    assert np.allclose(load(two).predict(rows), load(one).predict(rows), rtol=1e-4, atol=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.deepfit", "two.deepfit"]


def test_streamed_in_two_processes_each_reads_its_own_pieces(parquet: Path, tmp_path: Path):
    model = tmp_path / "m.deepfit"
    run = deepfit(
        "train",
        parquet,
        "-t",
        "y",
        "-o",
        model,
        "--processes",
        2,
        "--memory-budget",
        "1KB",
        *COMMON,
    )
    assert run.returncode == 0, run.stderr
    assert "streaming" in run.stdout
    fitted = load(model)
    assert fitted.training_summary_["streamed"]["pieces"] == 7
    predictions = fitted.predict(pd.read_parquet(parquet).drop(columns="y"))
    assert np.isfinite(predictions).all()


def test_a_bad_input_in_two_processes_is_one_line(parquet: Path, tmp_path: Path):
    run = deepfit("train", parquet, "-t", "nope", "-o", tmp_path / "m.deepfit", "--processes", 2)
    assert run.returncode == 1
    # a GPU machine adds a note: one GPU for two processes sends them to the CPU
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("note:")]
    assert lines == [lines[0]], run.stderr
    assert lines[0].startswith("error: target column 'nope'")


def test_images_and_forecasts_train_in_one_process(tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    run = deepfit("train", folder, "-t", "y", "--labels", tmp_path / "l.csv", "--processes", 2)
    assert run.returncode == 1
    assert run.stderr.startswith("error: training across processes covers tables")
