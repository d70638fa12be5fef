# Usage: .venv/bin/python benchmarks/scale.py [--sizes 100000,1000000,10000000,20000000]
"""Training and prediction speed and peak memory from 100k to 20M rows of one Parquet file.

The bars (the streaming issue): a 20-million-row, 20-column Parquet file trains with peak
resident memory under 2 GB; training rows per second at 20M are within 20% of those at 1M;
``deepfit predict`` on the same file also stays under 2 GB.

For each size the synthetic file of ``benchmarks/scale_data.py`` (16 numeric columns, 4 string
columns, a nonlinear target ``y``) is generated chunk by chunk into the cache folder, or reused,
then, as a user would, with this interpreter's ``deepfit``:

1. ``deepfit train FILE --target y --model mlp --hidden-layers 256,256,256 --batch-size 1024
   --max-epochs 1 --patience 0 --time-limit none --no-baselines --quiet --force``, plus
   ``--memory-budget`` when the CLI has that option (``--extra-args`` adds more);
2. ``deepfit info MODEL --json`` for the training summary: training rows/s is
   ``train_rows * epochs / seconds`` (the training loop only, not the statistics pass nor the
   scoring after it); end-to-end rows/s is the file's rows over the command's wall seconds;
3. ``deepfit predict MODEL FILE --out PRED.parquet --force``, whose row count is checked from
   the Parquet footer before the predictions are deleted.

Peak memory of each command: the most of (a) ``ru_maxrss`` of the child from ``os.wait4`` (what
``/usr/bin/time -v`` reports: the exact high-water mark of the largest single process) and
(b) the sum of the resident memory of every process in the child's session (data-loader
workers included), read from ``/proc`` every 0.2 s. The sum counts pages that forked workers
share once per process, so it errs high.

Which path ran is the word ``streaming`` or ``in memory`` in the command's output, else ``?``.

Speeds need a quiet machine: on 2 cores shared with other work, torch's two intra-op threads
can run ten times slower than one thread, which swamps the 20M-against-1M ratio. The table
gives the load average before each size; ``--threads 1`` (``OMP_NUM_THREADS`` for the
commands) keeps a busy machine's numbers comparable.

Prints the table, then writes it with the bars, the command and the machine to
``benchmarks/results/scale.md`` (a section added per run) and one JSON line per size to
``scale.jsonl``. Run from the repository root with the project's environment; ``--sizes
20000,100000`` is a quick check of the script itself (a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from scale_data import CACHE, default_path, generate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (100_000, 1_000_000, 10_000_000, 20_000_000)
REFERENCE = 1_000_000  # the issue compares rows/s at the largest size with those at 1M
MEMORY_BAR_MB = 2048.0
RATIO_BAR = 0.8
POLL_SECONDS = 0.2
PATH_WORDS = {"streaming": ("streaming", "streamed"), "in memory": ("in memory", "into memory")}
TRAIN_ARGS = (
    "--target y --model mlp --hidden-layers 256,256,256 --batch-size 1024 --max-epochs 1 "
    "--patience 0 --time-limit none --no-baselines --quiet --force"
)
CHILD_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}  # plain, unwrapped output


@dataclass
class Measured:
    """One command's outcome: exit status, wall seconds, peak memory and its output."""

    command: list[str]
    returncode: int
    wall_s: float
    maxrss_mb: float  # ru_maxrss of the child (largest single process), exact
    tree_rss_mb: float  # most of the summed RSS of the child's session seen by polling
    timed_out: bool
    output: str = field(repr=False)

    @property
    def peak_rss_mb(self) -> float:
        return max(self.maxrss_mb, self.tree_rss_mb)


def deepfit_executable() -> str:
    """The ``deepfit`` beside this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "deepfit"
    if beside.exists():
        return str(beside)
    found = shutil.which("deepfit")
    if found is None:
        sys.exit("no deepfit executable: run with the project's .venv/bin/python")
    return found


def has_option(deepfit: str, command: str, option: str) -> bool:
    """Whether ``deepfit COMMAND --help`` lists ``option`` (e.g. ``--memory-budget``)."""
    env = os.environ | CHILD_ENV | {"COLUMNS": "300"}
    shown = subprocess.run(
        [deepfit, command, "--help"], capture_output=True, text=True, env=env, check=False
    )
    return option in shown.stdout + shown.stderr


def session_rss_kb(session: int, page_kb: int) -> int:
    """Summed resident memory (KB) of every process whose session id is ``session``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != session:  # after the name: state ppid pgrp session ...
                continue
            with open(f"/proc/{entry.name}/statm") as handle:
                total += int(handle.read().split()[1]) * page_kb
        except (OSError, IndexError, ValueError):
            continue  # gone between the listing and the read
    return total


def child_env(threads: int | None) -> dict[str, str]:
    """The children's environment: plain output, and ``threads`` CPU threads when given."""
    env = os.environ | CHILD_ENV
    if threads is not None:
        env |= {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return env


def load_average() -> float | None:
    """The 1-minute load average: how busy the machine was (other work skews the speeds)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def measure(command: list[str], timeout: float, log: Path, env: dict[str, str]) -> Measured:
    """Run ``command`` in its own session; its wall time, peak memory and output."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    tree_kb, timed_out = 0, False
    with log.open("w+") as output:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                tree_kb = max(tree_kb, session_rss_kb(child.pid, page_kb))
                if time.perf_counter() - started > timeout and not timed_out:
                    timed_out = True
                    os.killpg(child.pid, signal.SIGKILL)
                time.sleep(POLL_SECONDS)
        except BaseException:  # Ctrl-C: the child has its own session, so end it here
            os.killpg(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
            child.returncode = -signal.SIGKILL
            raise
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        output.seek(0)
        text = output.read()
    return Measured(
        command=command,
        returncode=child.returncode,
        wall_s=wall,
        maxrss_mb=usage.ru_maxrss / 1024,  # KB on Linux
        tree_rss_mb=tree_kb / 1024,
        timed_out=timed_out,
        output=text,
    )


def which_path(output: str) -> tuple[str, str]:
    """``streaming``, ``in memory`` or ``?``: the first line of output naming one, and that line.

    The CLI says e.g. "...: streaming it a piece at a time" or "...: reading it into memory".
    """
    for line in output.splitlines():
        lowered = line.lower()
        for label, words in PATH_WORDS.items():
            if any(word in lowered for word in words):
                return label, line.strip()
    return "?", ""


def training_summary(deepfit: str, model: Path) -> dict[str, Any]:
    """The model's training summary from ``deepfit info --json`` (``training`` key)."""
    shown = subprocess.run(
        [deepfit, "info", str(model), "--json"],
        capture_output=True,
        text=True,
        env=os.environ | CHILD_ENV,
        check=True,
    )
    info = json.loads(shown.stdout)
    summary = info.get("training") or info.get("training_summary") or {}
    return dict(summary)


def failure(step: str, measured: Measured) -> str:
    why = "timed out" if measured.timed_out else f"exit {measured.returncode}"
    tail = "\n".join(measured.output.strip().splitlines()[-15:])
    print(f"{step} failed ({why}): {shlex.join(measured.command)}\n{tail}", file=sys.stderr)
    return f"{step} {why}"


def run_size(
    rows: int, args: argparse.Namespace, options: dict[str, bool], work: Path
) -> dict[str, Any]:
    """Generate (or reuse) the file of ``rows`` rows, train and predict on it; one record."""
    deepfit = str(args.deepfit)
    started = time.perf_counter()
    data = generate(rows, default_path(rows, args.seed, args.cache), seed=args.seed)
    record: dict[str, Any] = {
        "rows": rows,
        "file": str(data),
        "file_mb": data.stat().st_size / 2**20,
        "data_s": time.perf_counter() - started,
        "load_before": load_average(),
    }
    model = work / f"scale_{rows}.deepfit"
    train = [deepfit, "train", str(data), "--out", str(model), *shlex.split(TRAIN_ARGS)]
    extra = shlex.split(args.extra_args)
    if options["train"] and "--memory-budget" not in extra:
        train += ["--memory-budget", args.memory_budget]
    env = child_env(args.threads)
    trained = measure([*train, *extra], args.timeout, work / f"train_{rows}.log", env)
    path, line = which_path(trained.output)
    record |= {
        "train_command": shlex.join(trained.command),
        "train_wall_s": trained.wall_s,
        "train_peak_mb": trained.peak_rss_mb,
        "train_maxrss_mb": trained.maxrss_mb,
        "train_tree_rss_mb": trained.tree_rss_mb,
        "path": path,
        "path_line": line,
        "end_to_end_rows_s": rows / trained.wall_s,
    }
    if trained.returncode != 0:
        return record | {"error": failure("train", trained)}
    try:
        summary = training_summary(deepfit, model)
    except (subprocess.CalledProcessError, json.JSONDecodeError) as error:
        return record | {"error": f"deepfit info failed: {error}"}
    epochs, seconds = summary.get("epochs") or 0, summary.get("seconds") or 0.0
    train_rows = summary.get("train_rows") or 0
    if record["path"] == "?" and "streamed" in summary:
        record["path"] = "streaming"  # the model file records a streamed run
    record |= {
        "summary": summary,
        "train_rows_s": train_rows * epochs / seconds if seconds else None,
    }
    predictions = work / f"pred_{rows}.parquet"
    predict = [deepfit, "predict", str(model), str(data), "--out", str(predictions), "--force"]
    if options["predict"]:
        predict += ["--memory-budget", args.memory_budget]
    predicted = measure(predict, args.timeout, work / f"predict_{rows}.log", env)
    predict_path, predict_line = which_path(predicted.output)
    record |= {
        "predict_command": shlex.join(predicted.command),
        "predict_wall_s": predicted.wall_s,
        "predict_peak_mb": predicted.peak_rss_mb,
        "predict_maxrss_mb": predicted.maxrss_mb,
        "predict_tree_rss_mb": predicted.tree_rss_mb,
        "predict_rows_s": rows / predicted.wall_s,
        "predict_path": predict_path,
        "predict_path_line": predict_line,
    }
    if predicted.returncode != 0:
        return record | {"error": failure("predict", predicted)}
    written = pq.ParquetFile(predictions).metadata.num_rows
    predictions.unlink()
    if written != rows:
        record["error"] = f"predict wrote {written:,} rows, not {rows:,}"
    return record


def number(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def table(records: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| rows | file MB | path | train wall s | train rows/s | end-to-end rows/s | "
        "train peak MB | predict wall s | predict rows/s | predict peak MB | load | note |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        path = r.get("path", "?")
        if r.get("predict_path", path) != path:
            path = f"{path} / predict {r['predict_path']}"
        lines.append(
            f"| {r['rows']:,} | {number(r['file_mb'], 1)} | {path} | "
            f"{number(r.get('train_wall_s'), 1)} | {number(r.get('train_rows_s'))} | "
            f"{number(r.get('end_to_end_rows_s'))} | {number(r.get('train_peak_mb'))} | "
            f"{number(r.get('predict_wall_s'), 1)} | {number(r.get('predict_rows_s'))} | "
            f"{number(r.get('predict_peak_mb'))} | {number(r.get('load_before'), 1)} | "
            f"{r.get('error', '')} |"
        )
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bars(records: list[dict[str, Any]]) -> list[str]:
    """The issue's bars against this run: memory at the largest size, rows/s vs 1M."""
    done = [r for r in records if "error" not in r]
    if not done:
        return ["No size ran through; no bar checked."]
    largest = max(done, key=lambda r: r["rows"])
    caveat = "" if largest["rows"] >= SIZES[-1] else "; the bar is at 20M"
    lines = []
    for step in ("train", "predict"):
        peak = largest[f"{step}_peak_mb"]
        lines.append(
            f"- {step} peak RSS at {largest['rows']:,} rows: {peak:,.0f} MB "
            f"(bar < {MEMORY_BAR_MB:,.0f} MB{caveat}): {verdict(peak < MEMORY_BAR_MB)}"
        )
    by_rows = {r["rows"]: r for r in done}
    base = by_rows.get(REFERENCE) or min(done, key=lambda r: r["rows"])
    if base["rows"] == largest["rows"]:
        return [*lines, "- rows/s ratio: needs two sizes."]
    judged = base["rows"] == REFERENCE and largest["rows"] >= SIZES[-1]
    for key, label in (("train_rows_s", "training"), ("end_to_end_rows_s", "end-to-end")):
        if largest.get(key) and base.get(key):
            ratio = largest[key] / base[key]
            shown = f"{label} rows/s at {largest['rows']:,} / at {base['rows']:,}: {ratio:.2f}"
            if key == "train_rows_s":
                shown += f" (bar >= {RATIO_BAR} at 20M vs 1M): " + (
                    verdict(ratio >= RATIO_BAR) if judged else "no verdict at these sizes"
                )
            lines.append(f"- {shown}")
    return lines


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and versions, for the results' header."""
    cpu, memory_gb = platform.processor() or platform.machine(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": None if memory_gb is None else round(memory_gb, 1),
        "torch": importlib.metadata.version("torch"),
        "deepfit": importlib.metadata.version("deepfit"),
        "python": platform.python_version(),
        "commit": commit,
    }


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def record_results(
    results: Path, section: list[str], records: list[dict[str, Any]], stamp: str
) -> None:
    """Add this run's section to scale.md and its records to scale.jsonl, each atomically."""
    markdown = results / "scale.md"
    before = markdown.read_text() if markdown.exists() else "# Scale: rows against time\n"
    write_atomically(markdown, before.rstrip("\n") + "\n\n" + "\n".join(section) + "\n")
    lines = results / "scale.jsonl"
    old = lines.read_text() if lines.exists() else ""
    new = "".join(json.dumps({"stamp": stamp, **r}, default=str) + "\n" for r in records)
    write_atomically(lines, old + new)


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive row counts: {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(SIZES), help="e.g. 1e5 as 100000")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the data files live")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-budget", default="1GB", help="passed when the CLI has it")
    parser.add_argument("--extra-args", default="", help="more options for deepfit train")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per command")
    parser.add_argument("--keep", action="store_true", help="keep the models and logs")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for deepfit (default: unset)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for scale.md")
    args = parser.parse_args()
    args.deepfit = deepfit_executable()
    options = {
        step: has_option(args.deepfit, step, "--memory-budget") for step in ("train", "predict")
    }
    stamp = time.strftime("%Y-%m-%d %H:%M")
    host = machine()
    print(f"{stamp}; {host}; --memory-budget in train: {options['train']}", flush=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.cache))
    records = []
    try:
        for rows in args.sizes:
            record = run_size(rows, args, options, work)
            records.append(record)
            print(table([record])[-1], flush=True)
    finally:
        if args.keep:
            print(f"models and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    train_args = f"{TRAIN_ARGS} {args.extra_args}".strip()
    budget = f"--memory-budget {args.memory_budget}" if options["train"] else "no --memory-budget"
    threads = "torch's default threads" if args.threads is None else f"{args.threads} threads"
    section = [
        f"## {stamp}",
        "",
        f"`{command}`",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['memory_gb']} GB RAM; "
        f"torch {host['torch']}, deepfit {host['deepfit']} ({host['commit']}), "
        f"Python {host['python']}. Train: `{train_args}`, {budget} "
        f"(the CLI {'has' if options['train'] else 'lacks'} it); {threads}. "
        "Load: the 1-minute load average before each size (other work skews the speeds).",
        "",
        *table(records),
        "",
        *bars(records),
    ]
    print("\n".join(section))
    extra = {"machine": host, "threads": args.threads}
    record_results(args.results, section, [r | extra for r in records], stamp)


if __name__ == "__main__":
    main()
