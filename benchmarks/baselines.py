"""deepfit's default network beside the baselines, on real data, one seeded split per seed.

Usage: python benchmarks/baselines.py [--seeds 0 1 2] [--datasets diamonds california]
Prints one table per dataset and writes benchmarks/results/baselines.md.

Datasets: ggplot2's diamonds (ships with plotnine; target price) and California housing
(read from ../shared/data/california_housing.csv, never copied here; target
median_house_value). A dataset whose file is missing is skipped with a message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from deepfit.data.datasets import load_diamonds
from deepfit.workflow import train_table

ROOT = Path(__file__).resolve().parents[1]
CALIFORNIA = ROOT.parent / "shared" / "data" / "california_housing.csv"
RESULTS = ROOT / "benchmarks" / "results" / "baselines.md"
MODELS = ("deepfit", "lightgbm", "tree", "ridge", "mean")


def _california() -> pd.DataFrame:
    if not CALIFORNIA.exists():
        raise FileNotFoundError(f"{CALIFORNIA} is missing")
    return pd.read_csv(CALIFORNIA)


DATASETS: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "diamonds": (load_diamonds, "price"),
    "california": (_california, "median_house_value"),
}


def run(name: str, seeds: list[int]) -> str | None:
    loader, target = DATASETS[name]
    try:
        frame = loader()
    except FileNotFoundError as error:
        print(f"skipping {name}: {error}", file=sys.stderr)
        return None
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for seed in seeds:
        start = time.perf_counter()
        result = train_table(frame, target=target, seed=seed)
        fit_seconds = result.model.training_summary_["seconds"]
        for model, by_split in result.metrics.items():
            for metric in ("rmse", "mae", "r2"):
                scores[model][metric].append(by_split["test"][metric])
        scores["deepfit"]["seconds"].append(fit_seconds)
        scores["deepfit"]["epochs"].append(result.model.training_summary_["epochs"])
        print(
            f"{name} seed {seed}: deepfit {scores['deepfit']['rmse'][-1]:,.1f}, "
            f"lightgbm {scores['lightgbm']['rmse'][-1]:,.1f} "
            f"({time.perf_counter() - start:.0f} s with baselines)",
            file=sys.stderr,
        )
    return _table(name, target, len(frame), seeds, scores)


def _mean_std(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:,.{digits}f} ± {spread:,.{digits}f}"


def _table(
    name: str, target: str, rows: int, seeds: list[int], scores: dict[str, dict[str, list[float]]]
) -> str:
    deepfit = scores["deepfit"]
    lines = [
        f"### {name} ({rows:,} rows, target `{target}`, seeds {seeds}, test split)",
        "",
        "| model | test RMSE | test MAE | test R² | RMSE vs deepfit |",
        "|---|---:|---:|---:|---:|",
    ]
    reference = statistics.fmean(deepfit["rmse"])
    for model in MODELS:
        if model not in scores:
            continue
        rmse = statistics.fmean(scores[model]["rmse"])
        lines.append(
            f"| {model} | {_mean_std(scores[model]['rmse'], 1)} | "
            f"{_mean_std(scores[model]['mae'], 1)} | {_mean_std(scores[model]['r2'], 4)} | "
            f"{rmse / reference - 1:+.1%} |"
        )
    lines += [
        "",
        f"deepfit trained {_mean_std(deepfit['epochs'], 0)} epochs in "
        f"{_mean_std(deepfit['seconds'], 0)} s per fit (2-core CPU, default settings).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    args = parser.parse_args()
    sections = [table for name in args.datasets if (table := run(name, args.seeds))]
    header = (
        "# deepfit default vs baselines\n\n"
        "Written by `python benchmarks/baselines.py`. Each seed draws its own 70/15/15 split; "
        "all models see the same rows. LightGBM uses its defaults and stops at its best "
        "iteration on the validation split; the tree's leaf size is picked on validation; "
        "ridge's alpha by RidgeCV.\n\n"
    )
    text = header + "\n".join(sections)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
