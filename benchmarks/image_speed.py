"""Images per second of a CPU training step of the image networks, in three variants.

Usage:
    python benchmarks/image_speed.py            # quick: 1 warm-up and 3 timed steps, ~2 min
    python benchmarks/image_speed.py --full     # 3 warm-up and 10 timed steps, ~6 min

Writes benchmarks/results/image_speed.md and prints it.

A step is forward, MSE loss, backward and an AdamW step on one batch of 128 random images
(``--batch``), for each network (``resnet`` and ``cnn``, width 32), image size (32, 64) and stem
stride (1, 2), in three variants:

* ``fp32``: float32, contiguous (NCHW) images and weights;
* ``channels_last``: float32, images and weights in ``torch.channels_last`` (NHWC);
* ``bf16``: channels-last, the forward under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

The three variants of a cell take their steps in turn (fp32, channels_last, bf16, fp32, ...),
so a machine that slows down over the run slows all three alike; a cell's speed is the batch
over the median timed step. The first steps of a network are slow (oneDNN builds its kernels),
hence the warm-up steps.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepfit.models.convnet import ImageShape, build_image_network, image_cost

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "image_speed.md"
VARIANTS = ("fp32", "channels_last", "bf16")
CHANNELS = 3


@dataclass(frozen=True)
class Cell:
    model: str
    size: int
    stem_stride: int


@dataclass
class Runner:
    """One variant's network, optimiser and batch, ready to take training steps."""

    network: nn.Module
    optimiser: torch.optim.Optimizer
    images: torch.Tensor
    target: torch.Tensor
    autocast: bool

    def step(self) -> float:
        """Seconds of one training step."""
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            output = self.network(image=self.images)
        loss = nn.functional.mse_loss(output.float(), self.target)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return time.perf_counter() - start


def runner(cell: Cell, variant: str, *, width: int, batch: int) -> Runner:
    torch.manual_seed(0)
    shape = ImageShape(channels=CHANNELS, size=cell.size)
    network = build_image_network(cell.model, shape, width=width, stem_stride=cell.stem_stride)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, CHANNELS, cell.size, cell.size, generator=generator)
    target = torch.randn(batch, generator=generator)
    if variant != "fp32":
        network = network.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-3)
    return Runner(network.train(), optimiser, images, target, autocast=variant == "bf16")


def images_per_second(
    cell: Cell, *, width: int, batch: int, warmup: int, steps: int
) -> dict[str, float]:
    """Each variant's images per second in ``cell``, the variants' steps interleaved."""
    runners = {variant: runner(cell, variant, width=width, batch=batch) for variant in VARIANTS}
    seconds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for index in range(warmup + steps):
        for variant, each in runners.items():
            elapsed = each.step()
            if index >= warmup:
                seconds[variant].append(elapsed)
    return {variant: batch / statistics.median(seconds[variant]) for variant in VARIANTS}


def cpu_flags() -> str:
    """The CPU's bfloat16-related instruction sets, from /proc/cpuinfo (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    wanted = [flag for flag in flags if flag in {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}]
    return ", ".join(wanted) or "none of avx512f, avx512_bf16, amx_bf16"


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(value) for value in values) / len(values))


def conclusion(results: dict[Cell, dict[str, float]]) -> str:
    """What the table says: each variant's speed against fp32 and how often it was fastest."""
    lines = []
    cells = list(results)
    for variant in VARIANTS[1:]:
        ratios = [results[cell][variant] / results[cell]["fp32"] for cell in cells]
        faster = sum(ratio > 1.0 for ratio in ratios)
        lines.append(
            f"* {variant}: {geometric_mean(ratios):.2f}x the images/s of fp32 (geometric mean; "
            f"from {min(ratios):.2f}x to {max(ratios):.2f}x), faster in {faster} of "
            f"{len(cells)} cells."
        )
    wins = {variant: 0 for variant in VARIANTS}
    for cell in cells:
        wins[max(VARIANTS, key=lambda variant: results[cell][variant])] += 1
    lines.append(
        "* fastest variant per cell: "
        + ", ".join(f"{variant} {count}" for variant, count in wins.items())
        + "."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="3 warm-up and 10 timed steps")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per variant")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--models", nargs="+", default=["resnet", "cnn"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--strides", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else (3 if args.full else 1)
    steps = args.steps if args.steps is not None else (10 if args.full else 3)
    torch.set_num_threads(args.threads)

    started, load_before = time.time(), os.getloadavg()[0]
    columns = (
        "| model | size | stem stride | MMAC/image | fp32 img/s | channels_last img/s "
        "| bf16 img/s | fastest |\n|---|---:|---:|---:|---:|---:|---:|---|"
    )
    print(columns, flush=True)
    rows, results = [], {}
    for model in args.models:
        for size in args.sizes:
            for stride in args.strides:
                cell = Cell(model, size, stride)
                speed = images_per_second(
                    cell, width=args.width, batch=args.batch, warmup=warmup, steps=steps
                )
                results[cell] = speed
                shape = ImageShape(channels=CHANNELS, size=size)
                macs = image_cost(model, shape, width=args.width, stem_stride=stride)
                fastest = max(VARIANTS, key=lambda variant: speed[variant])
                rows.append(
                    f"| {model} w{args.width} | {size} | {stride} | {macs / 1e6:,.0f} | "
                    + " | ".join(f"{speed[variant]:,.0f}" for variant in VARIANTS)
                    + f" | {fastest} |"
                )
                print(rows[-1], flush=True)

    report = (
        f"# Image network training speed on CPU\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}; CPU flags: {cpu_flags()}; "
        f"batch {args.batch}, {CHANNELS} channels, {warmup} warm-up and {steps} timed steps "
        f"per variant (median), interleaved; {time.time() - started:.0f} s; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n\n"
        f"A step is forward + MSE + backward + AdamW. fp32: contiguous float32; "
        f"channels_last: float32 in channels-last; bf16: channels-last under bfloat16 "
        f"autocast. MMAC/image is `image_cost` (forward multiply-accumulates).\n\n"
        f"{columns}\n" + "\n".join(rows) + "\n\n" + conclusion(results) + "\n"
    )
    print("\n" + conclusion(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
