"""The few TabM members the server runs: chosen on the validation rows, then taught.

After a TabM is trained, :func:`served_members` picks :data:`SERVED` of its members by greedy
forward selection on the validation rows (:mod:`deepfit.models.members`), slices them out,
and teaches that slice the whole ensemble's answers (:mod:`deepfit.training.distillation`).
The slice that is closer to all members on the validation rows, taught or not, is what the
server runs; ``deepfit predict`` and Python keep every member. The training summary records
the choice (``served_members``) and the model file keeps the taught slice's weights.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.split import even_rows
from deepfit.models.members import (
    MIN_VALIDATION_ROWS,
    find_tabm,
    keep_members,
    member_outputs,
    select_members,
)
from deepfit.models.network import TabularNetwork
from deepfit.tasks.base import Task
from deepfit.training.distillation import SECONDS, distil, output_gap

SERVED = 3  # of auto's 16; taught, 0.16-0.38% above all 16 on five fits (docs/architecture.md)
TIME_SHARE = 0.25  # of the fit's time limit, at most, for teaching them
SAMPLE = 50_000  # training rows to teach on, validation rows to choose and check on


_DEFERRED: ContextVar[bool] = ContextVar("deepfit_served_teaching_deferred", default=False)


@contextlib.contextmanager
def teaching_deferred() -> Iterator[None]:
    """Fits inside choose and slice the served members but do not teach them: models that
    are scored and dropped (cross-validation's folds, a search's trials) need not pay for it.
    Whoever keeps such a model calls :func:`served_members` on it to teach them.

    Example:
        >>> with teaching_deferred():
        ...     pass  # Regressor(...).fit(...) here records "distilled": False
    """
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


@dataclass
class Served:
    """What the server runs (``network``, a TabM of fewer members) and the training record."""

    network: TabularNetwork
    record: dict[str, Any]


def served_members(
    network: TabularNetwork,
    preprocessor: TabularPreprocessor,
    task: Task,
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    validation_target: Any,
    *,
    time_limit: float | None = None,
    teach: bool = True,
    precision: str = "fp32",
    verbose: bool = False,
) -> Served | None:
    """The members to serve, taught; None without a single TabM of more than :data:`SERVED`
    members, or with fewer than ``MIN_VALIDATION_ROWS`` validation rows to choose them on.
    Teaching takes at most :data:`TIME_SHARE` of the fit's ``time_limit`` (and at most
    :data:`~deepfit.training.distillation.SECONDS`); with no limit it takes the steps
    :func:`~deepfit.training.distillation.distil` sets, whatever the clock, so that such a
    fit repeats exactly. Without ``teach`` (a fit the user interrupted), or inside
    :func:`teaching_deferred`, the members are sliced only. ``precision`` is the fit's
    setting (``"auto"``, ``"fp32"`` or ``"bf16"``), which teaching follows on the CPU;
    ``verbose`` shows a line on standard error while it runs."""
    teach = teach and not _DEFERRED.get()
    tabm = find_tabm(network)
    if tabm is None or tabm.k <= SERVED or validation is None or validation_target is None:
        return None
    if len(validation) < MIN_VALIDATION_ROWS:
        return None
    rows = even_rows(len(validation), SAMPLE)
    held = preprocessor.transform(validation.iloc[rows])
    held_inputs = torch.tensor(held.numeric), torch.tensor(held.categorical)
    average = task.member_average
    choice = select_members(
        member_outputs(network, *held_inputs),
        task.encode(np.asarray(validation_target)[rows]),
        average=average,
        fewest=SERVED,
        tolerance=float("inf"),
    )
    members = choice.members[:SERVED]
    # a fit that only slices takes no step: the rows already prepared will do
    taught_on = preprocessor.transform(train.iloc[even_rows(len(train), SAMPLE)]) if teach else held
    seconds = math.inf if time_limit is None else min(SECONDS, TIME_SHARE * time_limit)
    with _status(verbose and teach, len(members), tabm.k, seconds):
        taught = distil(
            network,
            members,
            torch.tensor(taught_on.numeric),
            torch.tensor(taught_on.categorical),
            average=average,
            steps=None if teach else 0,
            seconds=seconds,
            precision=precision,
        )
    sliced = keep_members(network, members)
    assert isinstance(sliced, TabularNetwork)
    with torch.inference_mode():
        answers = network(*held_inputs)
    gap_sliced = output_gap(sliced, *held_inputs, answers, average=average)
    gap_taught = (
        output_gap(taught.network, *held_inputs, answers, average=average)
        if taught.steps
        else gap_sliced  # untaught, it is the slice
    )
    distilled = gap_taught < gap_sliced
    record = {
        "members": members,
        "of": choice.k,
        "distilled": distilled,
        "distil_steps": taught.steps,
        "distil_seconds": round(taught.seconds, 2),
        "distil_precision": taught.precision,
        "validation_gap": min(gap_taught, gap_sliced),
        "validation_gap_sliced": gap_sliced,
    }
    return Served(taught.network if distilled else sliced, record)


def _status(shown: bool, served: int, k: int, seconds: float) -> AbstractContextManager[object]:
    """A spinner that says what the pause after the progress bar is (gone when it ends)."""
    if not shown:
        return contextlib.nullcontext()
    bound = "" if math.isinf(seconds) else f", up to {seconds:.0f} s"
    text = f"teaching the {served} members the server runs to answer as all {k} do{bound}"
    return Console(file=sys.stderr).status(text)
