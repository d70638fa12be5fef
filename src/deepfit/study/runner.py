"""Run a one-factor-at-a-time study: every value of a factor, several seeds, the rest held.

Each seed fixes one train/validation/test split (the one ``deepfit.workflow.train_table``
makes with that seed), shared by every value of every factor, so values differ only by the
factor. A run that diverges (non-finite loss or predictions) is recorded with NaN metrics
and a note, and the study carries on.

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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.split import Split, train_validation_test_split
from deepfit.errors import ConfigError, DataError, DeepfitError, DeepfitWarning, brief
from deepfit.estimator import Regressor
from deepfit.evaluation.metrics import regression_metrics
from deepfit.study.factors import (
    Level,
    parameter_level,
    parse_level,
    parse_levels,
    regressor_params,
)
from deepfit.study.result import FactorResult, StudyResult
from deepfit.study.table import METRICS, summarize
from deepfit.training.state import DIVERGED
from deepfit.workflow import split_target

RunRow = dict[str, Any]
Progress = Callable[[str, int, int, RunRow], None]  # factor, runs done, runs in all, the run


def run_study(
    data: Any,
    *,
    target: str,
    vary: Mapping[str, Sequence[Any]],
    seeds: Iterable[int] = (0, 1, 2),
    settings: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    command: str = "",
    on_run: Progress | None = None,
    on_factor: Callable[[FactorResult], None] | None = None,
) -> StudyResult:
    """Vary each factor of ``vary`` alone over its values, for every seed; summarise it.

    ``settings`` are the held Regressor settings (``{"max_epochs": 30}``; a named factor such
    as ``regularization`` or ``train_size`` works too). With ``out``, a new or empty folder
    (``overwrite`` allows a non-empty one), each factor's ``<factor>.md``, ``<factor>.csv``,
    ``<factor>_runs.csv`` and ``<factor>.png`` are written as it completes, then a
    ``README.md`` index. ``on_run`` and ``on_factor`` report progress.
    """
    from deepfit.study.output import check_folder, write_factor, write_index

    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ConfigError("a study needs at least one seed, e.g. seeds=(0, 1, 2)")
    if not vary:
        raise ConfigError(
            "nothing to vary; give a factor and its values, e.g. learning_rate=0.01,0.1"
        )
    held = held_level(settings or {})
    plan = {name: parse_levels(name, list(values), held.settings) for name, values in vary.items()}
    folder = None if out is None else Path(out)
    if folder is not None:
        check_folder(folder, overwrite=overwrite)
    X, y = split_target(read_table(data), target)
    for levels in plan.values():
        for level in [held, *levels]:
            feature_columns(X, combine(held, level))
    splits = {seed: train_validation_test_split(len(X), seed=seed) for seed in seeds}
    result = StudyResult(target=target, seeds=seeds, held=held.settings, command=command)
    for name, levels in plan.items():
        rows: list[RunRow] = []
        total = len(levels) * len(seeds)
        for level in levels:
            for seed in seeds:
                row = run_once(X, y, splits[seed], combine(held, level), seed=seed, target=target)
                rows.append({"factor": name, "value": level.label, "seed": seed, **row})
                if on_run is not None:
                    on_run(name, len(rows), total, rows[-1])
        runs = pd.DataFrame(rows)
        factor = FactorResult(
            name=name,
            values=[level.value for level in levels],
            runs=runs,
            summary=summarize(runs, [level.label for level in levels]),
        )
        result.factors[name] = factor
        if folder is not None:
            result.files.extend(write_factor(factor, folder, target=target, overwrite=overwrite))
        if on_factor is not None:
            on_factor(factor)
    if folder is not None:
        result.files.append(write_index(result, folder, overwrite=overwrite))
    return result


def held_level(settings: Mapping[str, Any]) -> Level:
    """The held settings as one :class:`Level`; Regressor parameters are taken as they are."""
    held = Level("held", "held")
    parameters = regressor_params()
    for name, value in settings.items():
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


def run_once(
    X: pd.DataFrame, y: np.ndarray, split: Split, level: Level, *, seed: int, target: str
) -> RunRow:
    """Fit one model for ``level`` on ``split``; its test metrics, losses, epochs and seconds."""
    columns = feature_columns(X, level)
    train = training_rows(split, level.train_size, seed)
    row: RunRow = {name: math.nan for name in METRICS}
    row.update({"train_rows": len(train), "note": ""})
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeepfitWarning)
            model = Regressor(**{**level.settings, "random_state": seed, "verbose": 0})
            model.fit(
                X.iloc[train][columns],
                pd.Series(y[train], name=target),
                X_val=X.iloc[split.validation][columns],
                y_val=y[split.validation],
            )
            predicted = model.predict(X.iloc[split.test][columns])
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
    note = divergence(model.training_summary_.get("stop_reason"), history, predicted)
    if note:
        row["note"] = note
        if note.startswith("diverged"):
            return row
    scores = regression_metrics(y[split.test], predicted)
    row.update({name: scores.get(name, math.nan) for name in METRICS if name in TEST_METRICS})
    return row


TEST_METRICS = ("mse", "rmse", "mae", "r2", "explained_variance", "mape", "rmsle")
# A training loss above this (on the standardised target, where predicting the mean scores
# about 1 with the mse loss) means the run blew up at some point; if early stopping then
# kept finite weights from a better epoch, the run is scored but marked unstable.
UNSTABLE_LOSS = 1e3


def divergence(stop_reason: Any, history: list[dict[str, Any]], predicted: np.ndarray) -> str:
    """``"diverged: ..."`` (no usable model: NaN metrics), ``"unstable: ..."`` (the loss
    exploded but the kept weights predict finite values, so the run is scored), or ``""``.

    Example:
        >>> divergence("", [{"train_loss": 0.5}, {"train_loss": 4e3}], np.zeros(3))
        'unstable: train loss 4e+03 at epoch 2'
    """
    losses = [float(record["train_loss"]) for record in history]
    if stop_reason == DIVERGED or not all(math.isfinite(loss) for loss in losses):
        return f"diverged: loss not finite at epoch {len(losses)}"
    if not np.isfinite(predicted).all():
        return "diverged: predictions not finite"
    if losses and max(losses) > UNSTABLE_LOSS:
        epoch = int(np.argmax(losses)) + 1
        return f"unstable: train loss {max(losses):.3g} at epoch {epoch}"
    return ""


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
