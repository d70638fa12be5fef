"""A few TabM members taught to answer as all of them do, so the server can run only those.

Every row costs a TabM its ``k`` members' arithmetic, and auto's k=16 is too dear to serve
(``benchmarks/results/serve.md``). Members sliced out of the trained network
(:func:`deepfit.models.members.keep_members`) answer for less, but not as well: on a
California housing model, 4 of 16 members chosen at random were 0.7% worse on the test rows
than all 16 (1.0% at the 90th percentile), 3 chosen on the validation rows 0.4-0.8%.

:func:`distil` trains such a slice on the whole ensemble's answers (knowledge distillation,
Hinton et al., 2015, "Distilling the Knowledge in a Neural Network"), on the training rows
with a little Gaussian noise on their numeric features, so that the student meets the
teacher between the rows too: the teacher's answer is free for any input, and the noise
supplies inputs the training rows alone do not. Each step draws a fresh batch and fresh
noise, so the cost is set by ``steps`` and ``seconds``, not by the number of rows. On that
model, 3 members taught so were 0.15-0.30% worse than all 16, against 0.8% sliced; without
the noise, 0.3-0.6%. Taught for 60 s in bfloat16 (7,510 steps) instead of 24 s in float32
(1,362), another California model's 3 members went from 0.57% to 0.38% worse than all 16.

Example:
    >>> from deepfit.models import build_network
    >>> _ = torch.manual_seed(0)
    >>> teacher = build_network("ensemble", medians=[0.0, 0.0], scales=[1.0, 1.0],
    ...     missing_indicators=[False, False], cardinalities=[], options={
    ...     "hidden_layers": (16,), "activation": "relu", "dropout": 0.0, "norm": None,
    ...     "k": 8}).eval()
    >>> numeric, codes = torch.randn(200, 2), torch.zeros(200, 0, dtype=torch.long)
    >>> sliced = keep_members(teacher, [0, 1])
    >>> taught = distil(teacher, [0, 1], numeric, codes, average="outputs", steps=50)
    >>> answers = teacher(numeric, codes).detach()
    >>> before = output_gap(sliced, numeric, codes, answers, average="outputs")
    >>> output_gap(taught.network, numeric, codes, answers, average="outputs") < before
    True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from deepfit.models.members import keep_members
from deepfit.models.network import TabularNetwork
from deepfit.training.precision import choose_precision, step_precision

STEPS = 10_000  # at most, however many rows (California housing's 14,448 get 8,466)
PASSES = 150  # over the rows taught on, at most: a small table needs fewer steps
SECONDS = 60.0  # at most, whatever the steps
BATCH = 256
LEARNING_RATE = 1e-3  # cosine to zero: the student starts from trained weights
NOISE = 0.05  # of each numeric feature's scale; 0.15 was worse, 0 worse still


@dataclass
class Distilled:
    """The taught members (``network``), and the steps, seconds and precision that taught
    them."""

    network: TabularNetwork
    steps: int
    seconds: float
    precision: str = "fp32"


def distil(
    teacher: TabularNetwork,
    members: list[int],
    numeric: torch.Tensor,
    codes: torch.Tensor,
    *,
    average: str,
    steps: int | None = None,
    seconds: float = SECONDS,
    noise: float = NOISE,
    seed: int = 0,
    precision: str = "fp32",
) -> Distilled:
    """``teacher``'s ``members`` (a sliced copy), taught on ``teacher``'s answers for the rows
    ``numeric`` and ``codes`` (the training rows, prepared) with ``noise`` on the numeric
    features. ``average`` is how the members join (``"outputs"`` or ``"probabilities"``):
    the student matches the mean output in squared error, or the mean class probabilities
    in cross-entropy (:func:`output_gap` measures how close it came). Under a log link the
    raw outputs are logarithms; matching in the target's units as well (the fit's own loss)
    was worse on both California and diamonds (+0.39% and +0.75% test RMSE above all
    members, against +0.34% and +0.57%).

    ``steps`` defaults to :data:`PASSES` over the rows (at most :data:`STEPS`); ``seconds``
    bounds them all the same. ``precision`` is the steps' number format, as in training
    (:func:`deepfit.training.precision.choose_precision`; ``"auto"`` asks the hardware): the
    teacher's answers in bfloat16 differed from its float32 ones by 1% of the student's
    remaining gap, and a step took a third of the time."""
    teacher = teacher.eval()
    if steps is None:
        steps = min(STEPS, math.ceil(PASSES * len(numeric) / BATCH))
    device = numeric.device
    if steps > 0:  # a fit that only slices (deferred, interrupted) need not probe the hardware
        inputs = {"numeric": numeric[:BATCH], "categorical": codes[:BATCH]}
        precision = choose_precision(precision, device, teacher, inputs)
    student = keep_members(teacher, members)
    assert isinstance(student, TabularNetwork)
    student.eval()  # no dropout: the student copies a function, it does not fit noise
    generator = torch.Generator().manual_seed(seed)
    scales = teacher.numeric_input.scales.to(numeric.dtype)
    optimizer = torch.optim.AdamW(student.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    started = time.perf_counter()
    done = 0
    while done < steps:
        progress = max(done / steps, (time.perf_counter() - started) / seconds)
        if progress >= 1:
            break
        for group in optimizer.param_groups:
            group["lr"] = LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * progress))
        rows = torch.randint(len(numeric), (BATCH,), generator=generator)
        x = numeric[rows]
        x = x + noise * scales * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        with step_precision(precision, device):
            with torch.no_grad():
                target = teacher(x, codes[rows]).float()
            answer = student(x, codes[rows]).float()
        difference = _loss(answer, target, average)
        optimizer.zero_grad(set_to_none=True)
        difference.backward()
        optimizer.step()
        done += 1
    for parameter in student.parameters():
        parameter.requires_grad_(False)
    seconds_taken = time.perf_counter() - started
    return Distilled(network=student.eval(), steps=done, seconds=seconds_taken, precision=precision)


def output_gap(
    student: nn.Module,
    numeric: torch.Tensor,
    codes: torch.Tensor,
    teacher_outputs: torch.Tensor,
    *,
    average: str,
) -> float:
    """How far ``student``'s raw outputs on these rows are from the teacher's
    (``teacher_outputs``, computed once for every student compared): their mean squared
    difference, or for ``average="probabilities"`` the KL divergence of the student's class
    probabilities from the teacher's."""
    with torch.inference_mode():
        return float(_loss(student(numeric, codes), teacher_outputs, average))


def _loss(student: torch.Tensor, teacher: torch.Tensor, average: str) -> torch.Tensor:
    if average == "probabilities":  # both are the log of the members' mean probabilities
        return (teacher.exp() * (teacher - student)).sum(dim=-1).mean()
    return ((student - teacher) ** 2).mean()
