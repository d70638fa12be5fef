"""Run a one-factor-at-a-time study: every value of a factor, several seeds, the rest held.

The task (regression or classification) is inferred from the target as ``deepfit train``
does, or given; each run fits its estimator and is scored with its metrics. Each seed fixes
one train/validation/test split (the one ``deepfit.workflow.train_table`` makes with that
seed, stratified by label for classification), shared by every value of every factor, so
values differ only by the factor. A run that diverges (non-finite loss or answers) is
recorded with NaN metrics and a note, and the study carries on.

Example:
    >>> from deepfit.study import run_study
    >>> result = run_study("data.csv", target="y",  # doctest: +SKIP
    ...     vary={"learning_rate": [0.01, 0.1, 1]}, seeds=(0, 1, 2), out="study")
    >>> result.factors["learning_rate"].summary[["value", "rmse_mean", "r2_mean"]]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.split import Split, train_validation_test_split
from deepfit.errors import ConfigError, DataError, DeepfitError, DeepfitWarning, brief
from deepfit.estimator import Estimator, estimator_for
from deepfit.estimator.served import teaching_deferred
from deepfit.study.factors import (
    Level,
    check_factor,
    estimator_params,
    parameter_level,
    parse_level,
    parse_levels,
)
from deepfit.study.result import FactorResult, StudyResult
from deepfit.study.table import study_metrics, summarize
from deepfit.tasks import make_task
from deepfit.tasks.inference import TaskChoice
from deepfit.trained import choose_task, split_target
from deepfit.training.state import DIVERGED

RunRow = dict[str, Any]
Progress = Callable[[str, int, int, RunRow], None]  # factor, runs done, runs in all, the run


def run_study(
    data: Any,
    *,
    target: str,
    vary: Mapping[str, Sequence[Any]],
    seeds: Iterable[int] = (0, 1, 2),
    settings: Mapping[str, Any] | None = None,
    task: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    command: str = "",
    on_start: Callable[[TaskChoice], None] | None = None,
    on_run: Progress | None = None,
    on_factor: Callable[[FactorResult], None] | None = None,
) -> StudyResult:
    """Vary each factor of ``vary`` alone over its values, for every seed; summarise it.

    ``task`` is ``"regression"`` or ``"classification"``; None infers it from the target as
    ``deepfit train`` does (a warning says when a numeric target looks like classes). Each
    run fits the task's estimator and is scored with the task's metrics on the test split
    (stratified by label for classification). ``settings`` are the held estimator settings
    (``{"max_epochs": 30}``; a named factor such as ``regularization`` or ``train_size`` works
    too). With ``out``, a new or empty folder (``overwrite`` allows a non-empty one), each
    factor's ``<factor>.md``, ``<factor>.csv``, ``<factor>_runs.csv`` and ``<factor>.png``
    are written as it completes, then a ``README.md`` index. ``on_start`` gets the task
    chosen once everything is checked, before the first run; ``on_run`` and ``on_factor``
    report progress.
    """
    from deepfit.study.output import check_folder, write_factor, write_index

    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ConfigError("a study needs at least one seed, e.g. seeds=(0, 1, 2)")
    if not vary:
        raise ConfigError(
            "nothing to vary; give a factor and its values, e.g. learning_rate=0.01,0.1"
        )
    frame = read_table(data)
    choice = choose_task(frame, target, task)
    held, plan = study_plan(vary, settings or {}, choice.task)
    folder = None if out is None else Path(out)
    if folder is not None:
        check_folder(folder, overwrite=overwrite)
    study = study_data(frame, target, choice.task, seeds)
    for levels in plan.values():
        for level in [held, *levels]:
            feature_columns(study.X, combine(held, level))
    if on_start is not None:
        on_start(choice)
    if choice.warning:
        warnings.warn(choice.warning, DeepfitWarning, stacklevel=2)
    result = StudyResult(
        target=target,
        task=choice.task,
        seeds=seeds,
        held=held.settings,
        command=command,
        task_line=choice.line,
    )
    for name, levels in plan.items():
        factor = run_factor(study, name, held, levels, on_run=on_run)
        result.factors[name] = factor
        if folder is not None:
            result.files.extend(write_factor(factor, folder, target=target, overwrite=overwrite))
        if on_factor is not None:
            on_factor(factor)
    if folder is not None:
        result.files.append(write_index(result, folder, overwrite=overwrite))
    return result


@dataclass(frozen=True)
class Study:
    """What every run of a study shares: the data, one split per seed, the target and task."""

    X: pd.DataFrame
    y: np.ndarray
    splits: dict[int, Split]
    target: str
    task: str


def study_data(frame: pd.DataFrame, target: str, task: str, seeds: list[int]) -> Study:
    """The features and the checked target of ``frame``, and each seed's split (stratified
    by label for classification)."""
    checker = make_task(task)
    X, y = split_target(frame, target, checker)
    labels = checker.split_labels(y)
    splits = {seed: train_validation_test_split(len(X), seed=seed, labels=labels) for seed in seeds}
    return Study(X, y, splits, target=target, task=task)


def study_plan(
    vary: Mapping[str, Sequence[Any]], settings: Mapping[str, Any], task: str
) -> tuple[Level, dict[str, list[Level]]]:
    """The held settings and each factor's levels; a one-line ConfigError for a bad one."""
    held = held_level(settings, task=task)
    plan = {
        name: parse_levels(name, list(values), held.settings, task=task)
        for name, values in vary.items()
    }
    return held, plan


def run_factor(
    study: Study, name: str, held: Level, levels: list[Level], *, on_run: Progress | None = None
) -> FactorResult:
    """Every level of factor ``name`` on every seed, and their summary."""
    rows: list[RunRow] = []
    total = len(levels) * len(study.splits)
    for level in levels:
        for seed, split in study.splits.items():
            row = run_once(study, split, combine(held, level), seed=seed)
            rows.append({"factor": name, "value": level.label, "seed": seed, **row})
            if on_run is not None:
                on_run(name, len(rows), total, rows[-1])
    runs = pd.DataFrame(rows)
    return FactorResult(
        name=name,
        values=[level.value for level in levels],
        runs=runs,
        summary=summarize(runs, [level.label for level in levels], task=study.task),
        task=study.task,
    )


def held_level(settings: Mapping[str, Any], *, task: str) -> Level:
    """The held settings as one :class:`Level`; estimator parameters are taken as they are."""
    held = Level("held", "held")
    parameters = estimator_params(task)
    for name, value in settings.items():
        check_factor(name, task)
        if name in parameters and name != "hidden_layers":
            change = parameter_level(name, value)  # --set max_epochs=30 keeps early stopping
        else:
            change = parse_level(name, value, held.settings)
        held = combine(held, change)
    return held


def combine(held: Level, level: Level) -> Level:
    """``level`` on top of ``held``: its settings and data changes win."""
    return Level(
        label=level.label,
        value=level.value,
        settings={**held.settings, **level.settings},
        keep=level.keep if level.keep is not None or level.drop else held.keep,
        drop=level.drop if level.keep is not None or level.drop else held.drop,
        train_size=level.train_size if level.train_size is not None else held.train_size,
    )


def feature_columns(X: pd.DataFrame, level: Level) -> list[str]:
    """The feature columns ``level`` keeps; a DataError names any column not in the data."""
    columns = [str(column) for column in X.columns]
    named = list(level.keep or ()) + list(level.drop)
    unknown = [column for column in named if column not in columns]
    if unknown:
        raise DataError(
            f"feature(s) {', '.join(unknown)} are not in the data; the feature columns are: "
            f"{', '.join(columns)}"
        )
    kept = list(level.keep) if level.keep is not None else columns
    kept = [column for column in kept if column not in level.drop]
    if not kept:
        raise DataError(f"features={level.label} leaves no feature columns to train on")
    return kept


def training_rows(split: Split, train_size: float | int | None, seed: int) -> np.ndarray:
    """The training rows used: all, a fraction, or a count; smaller sizes nest in larger ones."""
    rows = split.train
    if train_size is None:
        return rows
    n_rows = round(len(rows) * train_size) if isinstance(train_size, float) else int(train_size)
    if n_rows > len(rows):
        raise DataError(
            f"train_size={train_size} is more than the {len(rows)} rows of the training split; "
            "give a fraction or a smaller count"
        )
    if n_rows < 2:
        raise DataError(f"train_size={train_size} leaves {n_rows} training row(s); use at least 2")
    order = np.random.default_rng(seed).permutation(len(rows))
    return np.sort(rows[order[:n_rows]])


def run_once(study: Study, split: Split, level: Level, *, seed: int) -> RunRow:
    """Fit one model for ``level`` on ``split``; its test metrics, losses, epochs and seconds."""
    metrics = study_metrics(study.task)
    train = training_rows(split, level.train_size, seed)
    row: RunRow = {name: math.nan for name in metrics.columns}
    row.update({"train_rows": len(train), "note": ""})
    start = time.perf_counter()
    try:
        model, answers = fit_and_answer(study, split, level, train, seed=seed)
    except ConfigError:
        raise  # a bad setting: the user's to fix, not a result
    except (DeepfitError, ValueError, RuntimeError, FloatingPointError) as error:
        row.update(seconds=time.perf_counter() - start, note=f"failed: {brief(error)}")
        return row
    history = model.history_
    last = history[-1] if history else {}
    row.update(
        final_train_loss=_number(last.get("train_loss")),
        final_validation_loss=_number(last.get("validation_loss")),
        epochs=_number(model.training_summary_.get("epochs")),
        seconds=time.perf_counter() - start,
    )
    note = divergence(model.training_summary_.get("stop_reason"), history, answers)
    if note:
        row["note"] = note
        if note.startswith("diverged"):
            return row
    try:
        scores = model.task_.metrics(study.y[split.test], answers)
    except (DeepfitError, ValueError) as error:  # e.g. a test label the run never trained on
        row["note"] = f"failed: {brief(error)}"
        return row
    row.update({name: scores.get(name, math.nan) for name in metrics.test})
    return row


def fit_and_answer(
    study: Study, split: Split, level: Level, train: np.ndarray, *, seed: int
) -> tuple[Estimator, np.ndarray]:
    """The task's estimator fitted with ``level``'s settings on the ``train`` rows (early
    stopping on the split's validation rows), and its answers for the test rows."""
    X, y = study.X, study.y
    columns = feature_columns(X, level)
    with warnings.catch_warnings(), teaching_deferred():  # scored, then dropped: not served
        warnings.simplefilter("ignore", DeepfitWarning)
        model = estimator_for(study.task)(**{**level.settings, "random_state": seed, "verbose": 0})
        model.fit(
            X.iloc[train][columns],
            pd.Series(y[train], name=study.target),
            X_val=X.iloc[split.validation][columns],
            y_val=y[split.validation],
        )
        return model, model.predict_answers(X.iloc[split.test][columns])


# A training loss above this (on the standardised target, where predicting the mean scores
# about 1 with the mse loss; in cross-entropy, where a uniform guess scores log(classes))
# means the run blew up at some point; if early stopping then kept finite weights from a
# better epoch, the run is scored but marked unstable.
UNSTABLE_LOSS = 1e3


def divergence(stop_reason: Any, history: list[dict[str, Any]], answers: np.ndarray) -> str:
    """``"diverged: ..."`` (no usable model: NaN metrics), ``"unstable: ..."`` (the loss
    exploded but the kept weights give finite answers, so the run is scored), or ``""``.

    Example:
        >>> divergence("", [{"train_loss": 0.5}, {"train_loss": 4e3}], np.zeros(3))
        'unstable: train loss 4e+03 at epoch 2'
    """
    losses = [float(record["train_loss"]) for record in history]
    if stop_reason == DIVERGED or not all(math.isfinite(loss) for loss in losses):
        return f"diverged: loss not finite at epoch {len(losses)}"
    if not np.isfinite(answers).all():
        return "diverged: predictions not finite"
    if losses and max(losses) > UNSTABLE_LOSS:
        epoch = int(np.argmax(losses)) + 1
        return f"unstable: train loss {max(losses):.3g} at epoch {epoch}"
    return ""


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
