"""Does streaming cost accuracy? The streamed and the in-memory path on the same rows.

Usage:
    .venv/bin/python benchmarks/stream_accuracy.py [--seeds 0,1,2] [--max-epochs 40]

For each dataset and seed, the rows are split once (the seed's 20% test rows, the rest to
train). The training rows are written to one Parquet file in row groups of 2,000 rows, and
``train_table`` fits it twice with auto's defaults: read into memory, and streamed (a memory
budget of 1 byte forces it). Each path holds out its own 15% of the file for early stopping
(the in-memory path by a seeded permutation, the streamed one by a hash of the row number),
and both are scored on the same test rows. The time limit is off and the epochs are capped,
so the work does not depend on the machine's load.

The bar (issue 15): mean test RMSE of the streamed path within 1% of the in-memory path's.
Appends a table to benchmarks/results/scale.md and rows to benchmarks/results/scale.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from accuracy_data import load_california, load_diamonds  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DATASETS = {
    "california": (load_california, "median_house_value"),
    "diamonds": (load_diamonds, "price"),
}
TEST_SHARE = 0.2
ROW_GROUP = 2_000


def rmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(truth) - np.asarray(predicted)) ** 2)))


def one(name: str, seed: int, max_epochs: int, folder: Path) -> dict[str, Any]:
    """Both paths on dataset ``name`` for ``seed``."""
    from deepfit.workflow import train_table

    load, target = DATASETS[name]
    frame = load()
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = round(len(frame) * TEST_SHARE)
    test, train = frame.iloc[np.sort(order[:n_test])], frame.iloc[np.sort(order[n_test:])]
    path = folder / f"{name}-{seed}.parquet"
    train.reset_index(drop=True).to_parquet(path, row_group_size=ROW_GROUP)
    row: dict[str, Any] = {"dataset": name, "seed": seed, "train_rows": len(train)}
    for label, budget in (("memory", 1 << 50), ("streamed", 1)):
        start = time.perf_counter()
        result = train_table(
            path,
            target=target,
            seed=seed,
            test_fraction=0.0,
            baselines=False,
            memory_budget=budget,
            time_limit=None,
            max_epochs=max_epochs,
            verbose=0,
        )
        predicted = result.model.predict(test.drop(columns=[target]))
        row[f"{label}_rmse"] = rmse(test[target].to_numpy(), predicted)
        row[f"{label}_seconds"] = round(time.perf_counter() - start, 1)
        row[f"{label}_epochs"] = result.model.training_summary_["epochs"]
        row[f"{label}_streamed"] = "streamed" in result.model.training_summary_
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"## Streamed vs in memory, same rows ({time.strftime('%Y-%m-%d')})",
        "",
        f"`{command}`; {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}. Auto's defaults, "
        "time limit off, epochs capped; both paths scored on the same 20% test rows.",
        "",
        "| dataset | seed | in-memory RMSE | streamed RMSE | ratio | epochs (mem / stream) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['dataset']} | {row['seed']} | {row['memory_rmse']:,.4g} | "
            f"{row['streamed_rmse']:,.4g} | {row['streamed_rmse'] / row['memory_rmse']:.3f} | "
            f"{row['memory_epochs']} / {row['streamed_epochs']} |"
        )
    lines.append("")
    for name in sorted({row["dataset"] for row in rows}):
        mine = [row for row in rows if row["dataset"] == name]
        memory = float(np.mean([row["memory_rmse"] for row in mine]))
        streamed = float(np.mean([row["streamed_rmse"] for row in mine]))
        verdict = "PASS" if streamed <= 1.01 * memory else "MISS"
        lines.append(
            f"- {name}: mean over {len(mine)} seeds, streamed {streamed:,.4g} vs in memory "
            f"{memory:,.4g} (ratio {streamed / memory:.3f}; bar <= 1.01: {verdict})"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--max-epochs", type=int, default=40)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="stream-accuracy-") as folder:
        for name in args.datasets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                rows.append(one(name, seed, args.max_epochs, Path(folder)))
    command = "python benchmarks/stream_accuracy.py " + " ".join(sys.argv[1:])
    text = table(rows, command.strip())
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "scale.md").open("a") as handle:
        handle.write("\n" + text)
    with (RESULTS / "scale.jsonl").open("a") as handle:
        for row in rows:
            handle.write(json.dumps({"kind": "stream_accuracy", **row}) + "\n")


if __name__ == "__main__":
    main()
