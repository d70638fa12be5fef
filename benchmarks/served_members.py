"""What serving a few TabM members costs in accuracy: taught, sliced, and all of them.

Usage:
    .bench-venv/bin/python benchmarks/served_members.py [--datasets california diamonds]
        [--seeds 0 1] [--time-limit 240]

For each dataset and seed, auto's default ``Regressor`` is fitted on ``benchmarks/accuracy.py``'s
split (the validation rows stop it early and choose the served members), and scored on the
test rows three ways: every member (what ``predict`` gives), the members the server runs
(chosen on the validation rows and taught all members' answers, ``served_network_``), and the
rule before teaching (the smallest greedy subset, of at least k/4 members, whose validation
loss is no higher than all members', sliced). The bar (issue 16): served test RMSE within
0.5% of all members'. Appends a table to benchmarks/results/served_members.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from accuracy_data import DATASETS, DatasetUnavailableError, split_rows  # noqa: E402
from throughput import cpu_name  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "served_members.md"


def rmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(truth) - np.asarray(predicted)) ** 2)))


def one(name: str, seed: int, time_limit: float) -> str:
    """The table row for dataset ``name`` and ``seed``."""
    import deepfit
    from deepfit.models.members import find_tabm, keep_members, member_outputs, select_members

    dataset = DATASETS[name]
    split = split_rows(dataset.load(), dataset.target, seed)
    started = time.perf_counter()
    model = deepfit.Regressor(random_state=seed, time_limit=time_limit, verbose=0)
    model.fit(split.X_train, split.y_train, X_val=split.X_val, y_val=split.y_val)
    seconds = time.perf_counter() - started
    record = model.training_summary_.get("served_members")
    tabm = find_tabm(model.network_)
    if record is None or tabm is None:
        return f"| {name} | {seed} | no members chosen (model {model.settings_['model']}) |"

    def score(network: torch.nn.Module, X: object) -> np.ndarray:
        features = model.preprocessor_.transform(X)
        inputs = torch.tensor(features.numeric), torch.tensor(features.categorical)
        with torch.inference_mode():
            return network.answer(*inputs).numpy().astype(np.float64)

    y_test = split.y_test.to_numpy()
    every = rmse(y_test, score(model.network_, split.X_test))
    taught = rmse(y_test, score(model.served_network_, split.X_test))
    held = model.preprocessor_.transform(split.X_val)
    outputs = member_outputs(
        model.network_, torch.tensor(held.numeric), torch.tensor(held.categorical)
    )
    old = select_members(
        outputs,
        model.task_.encode(split.y_val.to_numpy()),
        average="outputs",
        fewest=max(2, tabm.k // 4),
        tolerance=0.0,
    ).members
    sliced = rmse(y_test, score(keep_members(model.network_, old), split.X_test))
    return (
        f"| {name} | {seed} | {every:,.2f} | {taught:,.2f} ({taught / every - 1:+.2%}, "
        f"{len(record['members'])} of {tabm.k}) | {sliced:,.2f} ({sliced / every - 1:+.2%}, "
        f"{len(old)} of {tabm.k}) | {record['distil_seconds']:.1f} | {seconds:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["california", "diamonds"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--time-limit", type=float, default=240.0)
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            try:
                rows.append(one(name, seed, args.time_limit))
            except DatasetUnavailableError as error:
                rows.append(f"| {name} | {seed} | skipped: {error} |")
            print(rows[-1], flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    table = "\n".join(
        [
            f"## {stamp}, {cpu_name()}, {os.cpu_count()} cores, "
            f"torch {torch.__version__}, time limit {args.time_limit:g} s",
            "",
            "Test RMSE of auto's default: every member; the served members, taught (the "
            "difference from every member's, and how many); the rule before teaching, sliced; "
            "the seconds teaching took; the whole fit's seconds.",
            "",
            "| dataset | seed | all members | served, taught | before: sliced "
            "| teaching s | fit s |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(("" if not RESULTS.exists() or RESULTS.stat().st_size == 0 else "\n") + table)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
