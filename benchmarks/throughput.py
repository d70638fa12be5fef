"""Training throughput of deepfit's networks against the machine's matmul peak and its peers.

Usage (in the benchmark's own environment, made by ``bash benchmarks/setup_peers.sh``):
    .bench-venv/bin/python benchmarks/throughput.py [--networks mlp-3x256-b256 ...]
        [--peers deepfit-fp32 sklearn skorch pytorch-tabular keras tabm]
        [--epochs-short 2 --epochs-long 6]
        [--threads N] [--skip-tta] [--tta-limit 120] [--tta-datasets california diamonds]
        [--device cpu|cuda] [--output PATH]
    smoke test (under 2 minutes): ... --quick [--threads 1]

Appends one dated section to benchmarks/results/throughput.md (``--quick``: to a file in the
temporary folder, unless ``--output`` says otherwise) and prints it:

1. The peak: a 2048 x 2048 by 2048 x 2048 matrix product with torch in float32 and bfloat16,
   GFLOP/s (2 n³ FLOPs) of the best of a few repeats after two warm-up products, on
   ``--threads`` threads (default: every core).
2. Throughput on diamonds' training rows (benchmarks/epoch_time.py's split: 34,521 rows) of
   five networks: MLP 3x256 at batch 256 and 1,024, MLP 3x512 at batch 256, MLP 3x256 at
   batch 256 without dropout (scikit-learn's network exactly, since its MLP has none), and
   auto's TabM (``model="ensemble"``, 3x256, piecewise embeddings, k=16) at batch 512. Every
   library fits
   in a fresh process (benchmarks/throughput_peers.py, which describes the settings) with the
   same thread count (torch, OpenMP, BLAS): first a 1-epoch warm-up fit on two batches, then
   a ``--epochs-short`` and an ``--epochs-long`` fit from scratch. A peer's seconds per epoch
   are the difference of the two fits' seconds over the difference of their epochs, so the
   set-up each fit pays cancels out; deepfit's are the median of the long fit's epochs after
   the first, read from its own ``history_`` (the difference method is given below the table
   as a check). rows/s = training rows / s per epoch. GFLOP/s: the FLOPs of one training step
   (forward and backward, counted by ``torch.utils.flop_counter.FlopCounterMode`` on the
   library's network, or on a torch MLP of the same layers for sklearn and Keras; it counts
   matrix products only) / batch x rows / s per epoch. The speed-up column is the peer's
   seconds per epoch over deepfit's on the same network.
3. Time to accuracy (``--skip-tta`` leaves it out): on California housing and diamonds,
   benchmarks/accuracy.py's split (seed 0), LightGBM as benchmarks/accuracy_peers.py fits it
   (defaults, early stopping on the validation split) and deepfit's ``Regressor()`` (model
   auto) with ``time_limit=--tta-limit``, each in its own process: deepfit's test RMSE after
   every epoch against the seconds since ``fit`` was called, and the first second at which it
   matched LightGBM's test RMSE. The weights are copied at each epoch's end (the copy's time
   is subtracted) and scored on the test rows after training, so scoring costs deepfit
   nothing, not even on its own clock (time limit, anneal schedule).

``--device cuda`` trains deepfit and the torch peers (skorch, Keras, TabM) on the GPU, with the
peak measured there (8192 x 8192 products, fp32 without TF32, and bf16); scikit-learn's MLP has
no GPU and trains on the CPU's cores in the same table, and LightGBM too in time to accuracy.

A library that is not installed, or whose fit fails, gets its one-line reason in the table, and
the run goes on. Runtime on 2 idle cores: about 11 minutes, 6 for the throughput table (2 of
them the two TabM networks) and 5 for the two 120 s time-to-accuracy runs; ``--quick`` (3,000
rows, 1 and 3 epochs, an 8 s limit) takes about 2 minutes. Run it on otherwise idle cores:
with another busy process on this 2-core machine, 2-thread torch epochs took 50-100 times
longer (0.06 s became 4.5 s) and the table meant nothing (the header records the load).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from throughput_peers import LIBRARIES, NETWORKS, runs, synchronize

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "throughput.md"
CHILD = HERE / "throughput_peers.py"

PEERS = [name for name in LIBRARIES if name != "deepfit"]
CPU_ONLY = {"sklearn"}  # no GPU: trains on the CPU's cores in a --device cuda run too
TTA_DATASETS = ("california", "diamonds")
QUICK_ROWS, QUICK_LIMIT = 3_000, 8.0
# Why a peer is not in .bench-venv (see benchmarks/requirements-peers.txt).
NOT_INSTALLED = {
    "pytorch-tabular": (
        "would not install: pytorch-tabular 1.2.0 requires pandas<3 and torchmetrics<1.9, so "
        "pip would downgrade .bench-venv's pandas 3.1.1 and torchmetrics 1.9.0 (and it imports "
        "requests without declaring it)"
    ),
}


def matmul_peak(threads: int, repeats: int, device: str = "cpu") -> dict[str, float]:
    """GFLOP/s of a square matrix product in float32 and bfloat16 on ``device``: the best of
    ``repeats`` after two warm-up products (2048 x 2048 on the CPU; on a GPU 8192 x 8192, ten
    products a repeat, float32 without TF32)."""
    torch.set_num_threads(threads)
    gpu = device != "cpu"
    (n, products), peak = (8192, 10) if gpu else (2048, 1), {}
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = False
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=generator).to(device, dtype)
        b = torch.randn(n, n, generator=generator).to(device, dtype)
        for _ in range(2):
            torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            for _ in range(products):
                torch.mm(a, b)
            synchronize(device)
            best = min(best, (time.perf_counter() - start) / products)
        peak[name] = 2 * n**3 / best / 1e9
    return peak


def child(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``job`` in a fresh process of benchmarks/throughput_peers.py on ``job["threads"]``
    threads, in a temporary folder (Lightning and Keras write there); its result, or
    ``{"error": ...}`` with the process's last words."""
    threads = str(job["threads"])
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONWARNINGS="ignore")
    if job.get("device", "cpu") == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # Keras and skorch would take a GPU that is there
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
    with tempfile.TemporaryDirectory(prefix="throughput-") as folder:
        command = [sys.executable, str(CHILD), json.dumps(job)]
        try:
            done = subprocess.run(
                command, env=env, cwd=folder, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {timeout:.0f} s"}
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if results:
        result: dict[str, Any] = json.loads(results[-1][len("RESULT ") :])
        return result
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return {"error": f"crashed: {last[:200]}"}


def cell(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def throughput_table(
    args: argparse.Namespace, peak: dict[str, float]
) -> tuple[list[str], list[str], dict[str, str]]:
    """The table's rows, the notes below it, and each library's version."""
    rows, notes, versions = [], [], {}
    for key in args.networks:
        net = NETWORKS[key]
        deepfit_seconds = None
        for library in ["deepfit", *args.peers]:
            if not runs(library, key):
                continue
            job = {"kind": "epoch", "library": library, "network": key, "rows": args.rows}
            job["device"] = "cpu" if library in CPU_ONLY else args.device
            job |= {"short": args.epochs_short, "long": args.epochs_long}
            result: dict[str, Any]
            if importlib.util.find_spec(LIBRARIES[library].module) is None:
                result = {"error": f"not installed (no module {LIBRARIES[library].module})"}
            else:
                result = child(job | {"threads": args.threads}, args.timeout)
            start = f"| {library} | {net.name} | {net.batch:,} |"
            if "error" in result:
                reason = result["error"]
                if reason.startswith("not installed") and library in NOT_INSTALLED:
                    reason = NOT_INSTALLED[library]
                rows.append(f"{start} {reason} | | | | | | | |")
                print(rows[-1], flush=True)
                continue
            versions[library] = result["version"]
            seconds = result["difference"]
            precision = result.get("precision", "fp32")
            where = " (CPU)" if args.device != "cpu" and job["device"] == "cpu" else ""
            if library.startswith("deepfit"):
                if result.get("history") is not None:
                    seconds = result["history"]
                notes.append(
                    f"{library} ({precision}), {net.name}: {result['difference']:.3f} s/epoch by "
                    f"the difference method, {seconds:.3f} by its history (in the table)"
                )
            if seconds <= 0:
                rows.append(f"{start} no time: the long fit was not slower (noise) | | | | | | | |")
                print(rows[-1], flush=True)
                continue
            flops_row = result["step_flops"] / net.batch
            gflops = flops_row * result["rows"] / seconds / 1e9
            if library == "deepfit":
                deepfit_seconds, speed = seconds, "(reference)"
            elif deepfit_seconds is None:
                speed = "deepfit failed"
            else:
                speed = f"{library} / deepfit = {seconds / deepfit_seconds:.2f}x"
            rows.append(
                f"{start} {precision}{where} | {seconds:.3f} | {cell(result['rows'] / seconds)} "
                f"| {gflops:.1f} | {gflops / peak['fp32']:.1%} | {gflops / peak[precision]:.1%} "
                f"| {flops_row / 1e6:.2f} | {speed} |"
            )
            print(rows[-1], flush=True)
    return rows, notes, versions


def tta_points(curve: list[list[float]], limit: float, reached: int | None) -> list[list[float]]:
    """A handful of the curve's points: the first epoch, the last epoch before each of 1/24,
    1/12, 1/6, 1/4, 1/2 and 3/4 of the limit, the one that reached LightGBM, the last."""
    marks = [limit * share for share in (1 / 24, 1 / 12, 1 / 6, 1 / 4, 1 / 2, 3 / 4)]
    chosen = {0, len(curve) - 1} | ({reached} if reached is not None else set())
    for mark in marks:
        before = [index for index, point in enumerate(curve) if point[0] <= mark]
        if before:
            chosen.add(before[-1])
    return [curve[index] for index in sorted(chosen)]


def tta_section(args: argparse.Namespace) -> list[str]:
    """The time-to-accuracy tables, one per dataset, as markdown lines."""
    lines = [
        "",
        f"### Time to accuracy: deepfit `Regressor(time_limit={args.tta_limit:g})` (model auto) "
        "against LightGBM",
        "",
        "benchmarks/accuracy.py's split (seed 0: 64% train, 16% validation, 20% test); both "
        "early-stop on the validation rows. Seconds since `fit` was called in a fresh process "
        "(deepfit's preprocessing and torch's first-call imports included; the copies of the "
        "weights that are scored afterwards are not).",
    ]
    for dataset in args.tta_datasets:
        part = [
            "",
            f"**{dataset}**" + (f" ({args.tta_rows:,} rows drawn at random)" if args.quick else ""),
        ]
        part += tta_dataset(dataset, args)
        print("\n".join(part), flush=True)
        lines += part
    return lines


def tta_dataset(dataset: str, args: argparse.Namespace) -> list[str]:
    """One dataset's time to accuracy: a line of totals and the curve's table."""
    job = {"dataset": dataset, "rows": args.tta_rows, "limit": args.tta_limit}
    job["threads"] = args.threads
    lightgbm = child(job | {"kind": "tta-lightgbm", "device": "cpu"}, args.timeout)
    if "DatasetUnavailableError" in lightgbm.get("error", ""):
        return ["", f"skipped: {lightgbm['error'].split(': ', 1)[-1]}"]
    deepfit = child(job | {"kind": "tta-deepfit", "device": args.device}, args.tta_limit * 4 + 300)
    if "error" in lightgbm or "error" in deepfit:
        return ["", f"failed: {lightgbm.get('error') or deepfit.get('error')}"]
    target, curve = lightgbm["rmse"], deepfit["curve"]
    reached = next((i for i, point in enumerate(curve) if point[2] <= target), None)
    n_train, n_val, n_test = lightgbm["rows"]
    when = (
        f"reached it after {curve[reached][0]:.1f} s (epoch {curve[reached][1]})"
        if reached is not None
        else "did not reach it"
    )
    lines = [
        "",
        f"{n_train:,} / {n_val:,} / {n_test:,} rows. LightGBM {lightgbm['version']}: test "
        f"RMSE {cell(target, 1)} after {lightgbm['seconds']:.1f} s (best iteration "
        f"{lightgbm['best_iteration']}). deepfit ({deepfit['network']}): {when}; the final "
        f"model (best epoch {deepfit['best_epoch']}'s weights) scores "
        f"{cell(deepfit['final_rmse'], 1)}, {deepfit['final_rmse'] / target - 1:+.1%} against "
        f"LightGBM, after {deepfit['seconds']:.1f} s ({deepfit['stop_reason']}).",
        "",
        "| seconds | epoch | test RMSE | vs LightGBM |",
        "|---:|---:|---:|---:|",
    ]
    for seconds, epoch, error in tta_points(curve, args.tta_limit, reached):
        lines.append(
            f"| {seconds:.1f} | {epoch:.0f} | {cell(error, 1)} | {error / target - 1:+.1%} |"
        )
    return lines


def cpu_name() -> str:
    """The CPU's model and whether it has AVX-512 BF16 and AMX (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = [line.split(":", 1) for line in text.splitlines() if ":" in line]
    model = next((value.strip() for key, value in fields if key.strip() == "model name"), "?")
    flags = set(next((value.split() for key, value in fields if key.strip() == "flags"), []))
    has = {name: "yes" if name in flags else "no" for name in ("avx512_bf16", "amx_bf16")}
    return f"{model} (avx512_bf16: {has['avx512_bf16']}, amx_bf16: {has['amx_bf16']})"


def gpu_name(device: str) -> str:
    """``, on <the GPU's name>`` for a GPU run, else nothing."""
    if device == "cpu":
        return ""
    return f", training on {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--networks",
        nargs="*",
        choices=list(NETWORKS),
        default=list(NETWORKS),
        help="the throughput table's networks (none: time to accuracy alone)",
    )
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=PEERS)
    parser.add_argument("--epochs-short", type=int, default=2)
    parser.add_argument("--epochs-long", type=int, default=6)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-tta", action="store_true", help="leave out time to accuracy")
    parser.add_argument("--tta-limit", type=float, default=120.0, help="deepfit's time_limit")
    parser.add_argument("--tta-datasets", nargs="+", choices=TTA_DATASETS, default=TTA_DATASETS)
    parser.add_argument("--quick", action="store_true", help="smoke test: 3,000 rows, 1/3 epochs")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--output", type=Path, default=None, help="the markdown file to append")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU here (torch.cuda.is_available() is False)")
    if args.epochs_long <= args.epochs_short or args.epochs_short < 1:
        parser.error("--epochs-long must be more than --epochs-short, which must be at least 1")
    args.rows = args.tta_rows = None
    args.timeout = 3600.0
    if args.quick:
        args.rows = args.tta_rows = QUICK_ROWS
        args.epochs_short, args.epochs_long = 1, 3
        args.tta_limit = min(args.tta_limit, QUICK_LIMIT)
        args.timeout = 300.0
    if args.output is None:
        quick = Path(tempfile.gettempdir()) / "deepfit-throughput-quick.md"
        args.output = quick if args.quick else RESULTS
    return args


def main() -> None:
    args = parse_args()
    load = os.getloadavg()[0]
    peak = matmul_peak(args.threads, repeats=3 if args.quick else 5, device=args.device)
    title = "--quick smoke test" if args.quick else "throughput"
    size = 2048 if args.device == "cpu" else 8192
    lines = [
        "",
        f"## {title}: {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, "
        f"{args.threads} thread(s), {cpu_name()}{gpu_name(args.device)}",
        "",
        f"Matmul peak ({size}x{size} @ {size}x{size}, best of {3 if args.quick else 5}, on "
        f"{'the GPU' if args.device != 'cpu' else 'the CPU'}): "
        f"fp32 {peak['fp32']:.1f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s. Load average "
        f"(1 min) before the run: {load:.2f} on {os.cpu_count()} cores (other processes on the "
        "cores make every time here longer and far noisier, torch's threads most of all).",
    ]
    print("\n".join(lines), flush=True)
    if args.networks:
        lines += throughput_section(args, peak)
    if not args.skip_tta:
        lines += tta_section(args)
    lines += ["", f"Load average (1 min) after the run: {os.getloadavg()[0]:.2f}."]
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("a") as handle:
        handle.write(table)
    print(f"appended to {args.output}")


def throughput_section(args: argparse.Namespace, peak: dict[str, float]) -> list[str]:
    """The throughput table, its explanation and the notes below it, as markdown lines."""
    rows, notes, versions = throughput_table(args, peak)
    n_rows = f"the first {args.rows:,} of its 34,521 training rows" if args.rows else "34,521 rows"
    return [
        "",
        f"### Training throughput on diamonds ({n_rows})",
        "",
        f"s/epoch: peers by the difference method, (t({args.epochs_long} epochs) - "
        f"t({args.epochs_short} epochs)) / {args.epochs_long - args.epochs_short}, each fit "
        f"after a warm-up fit in the same process; deepfit by the median of its "
        f"{args.epochs_long}-epoch fit's epochs after the first (its own history). GFLOP/s "
        "counts matrix products of forward and backward (FlopCounterMode), as a share of "
        "the fp32 matmul peak above and of the peak of the precision the library trained in "
        "(deepfit: its default, precision='auto'; deepfit-fp32: float32). The last column is "
        "the peer's s/epoch over deepfit's.",
        "",
        "| library | network | batch | precision | s/epoch | rows/s | GFLOP/s | % of fp32 peak "
        "| % of its precision's peak | MFLOP/row | deepfit's speed-up |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        *(f"- {note}" for note in notes),
        "- versions: " + ", ".join(f"{name} {ver}" for name, ver in versions.items()),
    ]


if __name__ == "__main__":
    main()
