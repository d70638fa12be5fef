"""Train on a table in one call: infer the task, split, fit, score beside baselines.

It is what ``deepfit train`` does, and what the demo and the studies share.

Example:
    >>> from deepfit import train_table
    >>> result = train_table("diamonds.csv", target="price")  # doctest: +SKIP
    >>> result.metrics["deepfit"]["test"]["rmse"]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.split import train_validation_test_split
from deepfit.errors import ConfigError, DataError, DeepfitWarning
from deepfit.estimator import Estimator, estimator_for
from deepfit.evaluation.scoring import (
    MetricsBySplit,
    Parts,
    evaluate_baselines,
    evaluate_model,
    prepare_parts,
)
from deepfit.tasks import TASKS, Task, make_task
from deepfit.tasks.inference import TaskChoice, infer_task
from deepfit.training.callbacks import Callback
from deepfit.training.state import INTERRUPTED


@dataclass
class TrainingResult:
    """The fitted model, its metrics beside the baselines', and the rows in each split.

    ``task`` says which task ran and why (inferred from the target, or as asked).
    """

    model: Estimator
    metrics: MetricsBySplit
    task: TaskChoice
    split_sizes: dict[str, int] = field(default_factory=dict)
    test: tuple[pd.DataFrame, np.ndarray] | None = None  # the test rows: features, target


def split_target(
    frame: pd.DataFrame, target: str, task: Task | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and the target column of ``frame``, checked by ``task`` (regression's by
    default)."""
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise DataError(f"target column '{target}' is not in the data; the columns are: {shown}")
    task = task or make_task("regression")
    return frame.drop(columns=[target]), task.check_target(frame[target], target)


def choose_task(frame: pd.DataFrame, target: str, task: str | None) -> TaskChoice:
    """The task asked for, or the one the target column implies (see
    :mod:`deepfit.tasks.inference`)."""
    if task is not None:
        if task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, however: {task!r}")
        return TaskChoice(task, f"task: {task} (as asked)")
    if target not in frame.columns:
        split_target(frame, target)  # the error that names the columns
    return infer_task(frame[target], target)


def train_table(
    data: Any,
    *,
    target: str,
    task: str | None = None,
    validation: Any = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    baselines: bool = True,
    resume: bool = False,
    callbacks: Sequence[Callback] | None = None,
    **params: Any,
) -> TrainingResult:
    """Split ``data`` (70/15/15 by default, seeded), fit the task's estimator, score it.

    ``task`` is ``"regression"`` or ``"classification"``; None infers it from the target
    (a warning says when a numeric target looks like classes). ``validation``, when given,
    is the validation set and ``data`` is split into train and test only. ``params`` go to
    the estimator; ``resume`` and ``callbacks`` to its ``fit``. The metrics are stored on
    ``model.metrics_`` so they travel inside the saved model. When Ctrl-C interrupted
    training, the model (best weights so far) is still scored, but the baselines are
    skipped to finish quickly.
    """
    frame = read_table(data)
    choice = choose_task(frame, target, task)
    if choice.warning:
        warnings.warn(choice.warning, DeepfitWarning, stacklevel=2)
    checker = make_task(choice.task)
    X, y = split_target(frame, target, checker)
    checker.check_learnable(y)
    split = train_validation_test_split(
        len(X),
        validation_fraction=0.0 if validation is not None else validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        labels=checker.split_labels(y),
    )
    X_train, y_train = X.iloc[split.train], y[split.train]
    if validation is not None:
        X_val, y_val = split_target(read_table(validation), target, checker)
    else:
        X_val, y_val = X.iloc[split.validation], y[split.validation]
    parts: Parts = {
        "train": (X_train, y_train),
        "validation": (X_val, y_val),
        "test": (X.iloc[split.test], y[split.test]),
    }
    model = estimator_for(choice.task)(random_state=seed, **params)
    model.fit(
        X_train,
        pd.Series(y_train, name=target),
        X_val=X_val if len(y_val) else None,
        y_val=y_val if len(y_val) else None,
        resume=resume,
        callbacks=callbacks,
    )
    prepared = prepare_parts(model, parts)
    metrics: MetricsBySplit = {"deepfit": evaluate_model(model, prepared)}
    if baselines and model.training_summary_["stop_reason"] != INTERRUPTED:
        metrics.update(evaluate_baselines(model, prepared, seed=seed))
    model.metrics_ = metrics
    sizes = {split: len(y_part) for split, (_, y_part) in parts.items()}
    return TrainingResult(
        model=model, metrics=metrics, task=choice, split_sizes=sizes, test=parts["test"]
    )
