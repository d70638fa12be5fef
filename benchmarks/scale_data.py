# Usage: .venv/bin/python benchmarks/scale_data.py --rows 1000000 [--out PATH] [--seed 0]
"""A synthetic regression table of any length, written to Parquet one chunk at a time.

For ``benchmarks/scale.py``: a file of 20 million rows must be written without ever holding
more than one chunk (``--chunk-rows``, a million rows by default, about 200 MB) in memory.
Each chunk becomes one Parquet row group and is drawn from its own generator, seeded by
``numpy.random.SeedSequence(seed).spawn``, so the first million rows are the same in every
file of the same seed whatever its length.

Columns:

- ``x0..x15``: float64, from normal, lognormal, uniform and heavy-tailed distributions; four of
  them (``x3``, ``x7``, ``x11``, ``x14``) miss about 2% of their values.
- ``c0..c3``: strings from 5, 20, 100 and 1,000 categories with Zipf-like frequencies.
- ``y``: a nonlinear function of some of the x's (sines, products, a tanh of an interaction,
  a log), one category effect that scales with ``x11`` and three additive ones, a shift where
  ``x3`` is missing, plus Gaussian noise: a network has something to learn that a linear
  model does not.

Files go to ``benchmarks/.cache/scale/`` by default (a ``.gitignore`` of ``*`` is written in
``benchmarks/.cache/``, so nothing there is ever committed). Beside each file is a JSON sidecar
with the parameters; a file whose sidecar matches is reused, not regenerated.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

VERSION = 1  # bump when the columns or the target change, so cached files are rebuilt
CACHE = Path(__file__).resolve().parent / ".cache" / "scale"
CHUNK_ROWS = 1_000_000
NUMERIC = 16
CARDINALITIES = (5, 20, 100, 1000)
MISSING = {"x3": 0.02, "x7": 0.02, "x11": 0.02, "x14": 0.02}
NOISE = 0.5


def default_path(rows: int, seed: int, cache: Path = CACHE) -> Path:
    """Where the cache keeps the file of ``rows`` rows drawn from ``seed``."""
    return cache / f"scale_{rows}_s{seed}.parquet"


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def parameters(rows: int, seed: int, chunk_rows: int) -> dict[str, Any]:
    """What decides a file's content: a cached file is reused only when all of it matches."""
    return {
        "version": VERSION,
        "rows": rows,
        "seed": seed,
        "chunk_rows": chunk_rows,
        "numeric": NUMERIC,
        "cardinalities": list(CARDINALITIES),
        "missing": MISSING,
        "noise": NOISE,
    }


def category_names(column: int, cardinality: int) -> pa.Array:
    return pa.array([f"c{column}_{k:04d}" for k in range(cardinality)], type=pa.string())


def category_effects(seed: int) -> list[np.ndarray]:
    """One effect per category of each string column, the same in every chunk of a file."""
    rng = np.random.default_rng([seed, 0xC47])
    scales = (1.0, 0.6, 0.4, 0.3)
    return [rng.normal(0.0, s, size=k) for s, k in zip(scales, CARDINALITIES, strict=True)]


def zipf_probabilities(cardinality: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, cardinality + 1) ** exponent
    return weights / weights.sum()


def numeric_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``x0..x15`` from mixed distributions, before any value is removed."""
    columns: dict[str, np.ndarray] = {}
    for i in range(6):
        columns[f"x{i}"] = rng.normal(0.0, 1.0, n)
    for i in range(6, 9):
        columns[f"x{i}"] = rng.lognormal(0.0, 0.75, n)
    for i in range(9, 13):
        columns[f"x{i}"] = rng.uniform(-1.0, 1.0, n)
    columns["x13"] = 50.0 + 10.0 * rng.standard_t(4, n)  # heavy tails, off-centre
    columns["x14"] = np.floor(rng.uniform(0.0, 100.0, n))  # integer-valued
    columns["x15"] = rng.exponential(2.0, n)
    return columns


def target(
    x: dict[str, np.ndarray], codes: list[np.ndarray], effects: list[np.ndarray]
) -> np.ndarray:
    """The noiseless target: nonlinear in the x's, with category effects and interactions."""
    signal = (
        1.5 * np.sin(2.0 * x["x0"])
        + x["x1"] * x["x2"]
        + 0.8 * np.tanh(x["x3"] * x["x4"])
        + 0.3 * x["x5"] ** 2
        + 0.5 * np.log(x["x6"])
        + np.cos(np.pi * x["x9"]) * x["x10"]
        + 0.4 * np.sqrt(x["x8"]) * x["x12"]
        + 0.02 * np.clip(x["x13"] - 50.0, -30.0, 30.0)
        + effects[0][codes[0]] * (1.0 + 0.5 * x["x11"])
        + effects[1][codes[1]]
        + effects[2][codes[2]]
        + effects[3][codes[3]]
    )
    return signal


def chunk(rng: np.random.Generator, n: int, effects: list[np.ndarray]) -> pa.Table:
    """``n`` rows as an Arrow table (strings built by Arrow, never as Python objects)."""
    x = numeric_columns(rng, n)
    codes = [rng.choice(k, size=n, p=zipf_probabilities(k)) for k in CARDINALITIES]
    missing = {name: rng.random(n) < share for name, share in MISSING.items()}
    clean = {name: np.where(missing.get(name, False), 0.0, values) for name, values in x.items()}
    y = target(clean, codes, effects) + 0.7 * missing["x3"] + rng.normal(0.0, NOISE, n)
    for name, mask in missing.items():
        x[name][mask] = np.nan
    arrays: dict[str, pa.Array] = {name: pa.array(values) for name, values in x.items()}
    for i, (k, column) in enumerate(zip(CARDINALITIES, codes, strict=True)):
        arrays[f"c{i}"] = pc.take(category_names(i, k), pa.array(column.astype(np.int32)))
    arrays["y"] = pa.array(y)
    return pa.table(arrays)


def cached(path: Path, wanted: dict[str, Any]) -> bool:
    """Whether ``path`` exists, is whole, and was written with the ``wanted`` parameters."""
    meta = sidecar(path)
    if not (path.exists() and meta.exists()):
        return False
    try:
        if json.loads(meta.read_text()).get("parameters") != wanted:
            return False
        return bool(pq.ParquetFile(path).metadata.num_rows == wanted["rows"])
    except (OSError, ValueError, pa.ArrowInvalid):
        return False


def ignore_cache(cache: Path) -> None:
    """Keep a ``.gitignore`` of ``*`` at the top of ``benchmarks/.cache`` (nothing committed)."""
    top = CACHE.parent
    if cache.resolve().is_relative_to(top):
        top.mkdir(parents=True, exist_ok=True)
        marker = top / ".gitignore"
        if not marker.exists():
            marker.write_text("# benchmark data, generated; never commit\n*\n")


def generate(
    rows: int, out: Path | None = None, seed: int = 0, chunk_rows: int = CHUNK_ROWS
) -> Path:
    """Write (or reuse) the file of ``rows`` rows; return its path."""
    path = out if out is not None else default_path(rows, seed)
    wanted = parameters(rows, seed, chunk_rows)
    if cached(path, wanted):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore_cache(path.parent)
    effects = category_effects(seed)
    n_chunks = -(-rows // chunk_rows)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    partial = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    writer: pq.ParquetWriter | None = None
    try:
        for index, child in enumerate(seeds):
            n = min(chunk_rows, rows - index * chunk_rows)
            table = chunk(np.random.default_rng(child), n, effects)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=n)
            del table
    finally:
        if writer is not None:
            writer.close()
    os.replace(partial, path)
    seconds = time.perf_counter() - started
    record = {"parameters": wanted, "seconds": round(seconds, 2), "bytes": path.stat().st_size}
    sidecar(path).write_text(json.dumps(record, indent=2) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, default=None, help="default: the cache folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS)
    args = parser.parse_args()
    started = time.perf_counter()
    path = generate(args.rows, args.out, args.seed, args.chunk_rows)
    size = path.stat().st_size / 2**20
    print(f"{path}: {args.rows:,} rows, {size:,.1f} MB ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
