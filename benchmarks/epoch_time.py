"""Seconds per training epoch on diamonds, to check that a change to the loop costs nothing.

Usage: python benchmarks/epoch_time.py [--label before] [--repeats 3]
Appends one table to benchmarks/results/epoch_time.md and prints it.

Every fit uses explicit settings (no ``auto``), a fixed split (64% of diamonds' 53,940 rows
train, 16% validation), no early stopping and no time limit, on this machine's threads. The
per-epoch time is the median of the epochs after the first (the first pays for warm-up),
read from the model's own history; the best of ``--repeats`` fits is kept.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepfit import Regressor
from deepfit.data.datasets import load_diamonds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "epoch_time.md"
NETWORKS: dict[str, dict[str, Any]] = {
    "mlp 3x256, batch 256": {"model": "mlp", "hidden_layers": (256, 256, 256), "batch_size": 256},
    "mlp 3x256, batch 1024": {
        "model": "mlp",
        "hidden_layers": (256, 256, 256),
        "batch_size": 1024,
    },
    "tabm k=16 + piecewise, batch 512": {
        "model": "ensemble",
        "hidden_layers": (256, 256, 256),
        "numeric_embedding": "piecewise",
        "model_options": {"k": 16},
        "batch_size": 512,
    },
}
EPOCHS = 5


def epoch_seconds(settings: dict[str, Any], X: Any, y: Any, X_val: Any, y_val: Any) -> float:
    model = Regressor(
        **settings,
        max_epochs=EPOCHS,
        patience=None,
        time_limit=None,
        learning_rate=1e-3,
        schedule="constant",
        dropout=0.1,
        device="cpu",
        random_state=0,
    )
    model.fit(X, y, X_val=X_val, y_val=y_val)
    return statistics.median(record["seconds"] for record in model.history_[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    frame = load_diamonds()
    order = np.random.default_rng(0).permutation(len(frame))
    train, val = (
        order[: int(0.64 * len(frame))],
        order[int(0.64 * len(frame)) : int(0.8 * len(frame))],
    )
    X, y = frame.drop(columns="price"), frame["price"]
    rows = []
    for name, settings in NETWORKS.items():
        best = min(
            epoch_seconds(settings, X.iloc[train], y.iloc[train], X.iloc[val], y.iloc[val])
            for _ in range(args.repeats)
        )
        rows.append(f"| {name} | {len(train):,} | {best:.3f} | {len(train) / best:,.0f} |")
        print(rows[-1], flush=True)
    header = (
        f"\n## {args.label}: {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}\n\n"
        "| network | train rows | s/epoch (best of "
        f"{args.repeats}) | rows/s |\n|---|---:|---:|---:|\n"
    )
    table = header + "\n".join(rows) + "\n"
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(table)


if __name__ == "__main__":
    main()
