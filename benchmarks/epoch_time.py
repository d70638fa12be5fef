"""Seconds per training epoch on diamonds, to check that a change to the loop costs nothing.

Usage:
    python benchmarks/epoch_time.py [--label now] [--repeats 3]
    python benchmarks/epoch_time.py --compare-with /path/to/old/checkout [--rounds 3]

Appends one table to benchmarks/results/epoch_time.md and prints it.

Every fit uses explicit settings (no ``auto``), a fixed split (64% of diamonds' 53,940 rows
train, 16% validation), no early stopping and no time limit, on this machine's threads. The
per-epoch time is the median of the epochs after the first (the first pays for warm-up),
read from the model's own history; the best of ``--repeats`` fits is kept.

A shared 2-core machine drifts by 10-20% over minutes, more than a loop change should cost.
``--compare-with`` therefore measures two versions interleaved: for each network and round,
one process runs the other checkout's ``src`` (through ``PYTHONPATH``) and one runs this one,
and the table gives each version's median over the rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

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


def epoch_seconds(name: str, repeats: int) -> float:
    """The best of ``repeats`` fits' median epoch seconds for the network ``name``."""
    from deepfit import Regressor
    from deepfit.data.datasets import load_diamonds

    frame = load_diamonds()
    order = np.random.default_rng(0).permutation(len(frame))
    n_rows = len(frame)
    train, val = order[: int(0.64 * n_rows)], order[int(0.64 * n_rows) : int(0.8 * n_rows)]
    X, y = frame.drop(columns="price"), frame["price"]
    best = []
    for _ in range(repeats):
        model = Regressor(
            **NETWORKS[name],
            max_epochs=EPOCHS,
            patience=None,
            time_limit=None,
            learning_rate=1e-3,
            schedule="constant",
            dropout=0.1,
            device="cpu",
            random_state=0,
        )
        model.fit(X.iloc[train], y.iloc[train], X_val=X.iloc[val], y_val=y.iloc[val])
        best.append(statistics.median(record["seconds"] for record in model.history_[1:]))
    return min(best)


def in_process(name: str, repeats: int, source: Path | None) -> float:
    """:func:`epoch_seconds` in a fresh process, on ``source``'s deepfit (None: this one)."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    command = [sys.executable, __file__, "--one", name, "--repeats", str(repeats)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return float(output.stdout.strip().splitlines()[-1])


def header(label: str, columns: str) -> str:
    return (
        f"\n## {label}: {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}\n\n"
        f"{columns}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--label", default="current")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare-with", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=list(NETWORKS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(epoch_seconds(args.one, args.repeats))
        return
    rows = []
    if args.compare_with is None:
        columns = f"| network | s/epoch (best of {args.repeats}) |\n|---|---:|"
        for name in NETWORKS:
            rows.append(f"| {name} | {epoch_seconds(name, args.repeats):.3f} |")
            print(rows[-1], flush=True)
        label = args.label
    else:
        columns = (
            f"| network | {args.compare_with.name}: s/epoch | this checkout: s/epoch | change "
            f"|\n|---|---:|---:|---:|"
        )
        for name in NETWORKS:
            old, new = [], []
            for _ in range(args.rounds):
                old.append(in_process(name, args.repeats, args.compare_with))
                new.append(in_process(name, args.repeats, None))
            before, after = statistics.median(old), statistics.median(new)
            rows.append(f"| {name} | {before:.3f} | {after:.3f} | {after / before - 1:+.1%} |")
            print(rows[-1], flush=True)
        label = (
            f"{args.label}: interleaved, median of {args.rounds} rounds, each the best of "
            f"{args.repeats} fits"
        )
    table = header(label, columns) + "\n".join(rows) + "\n"
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(table)


if __name__ == "__main__":
    main()
