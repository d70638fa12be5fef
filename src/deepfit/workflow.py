"""Train on a table in one call: infer the task, split, fit, score beside baselines.

It is what ``deepfit train`` does, and what the demo and the studies share.

Example:
    >>> from deepfit import train_table
    >>> result = train_table("diamonds.csv", target="price")  # doctest: +SKIP
    >>> result.metrics["deepfit"]["test"]["rmse"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.split import train_validation_test_split
from deepfit.data.stream import is_table_file, parse_size
from deepfit.errors import DeepfitWarning
from deepfit.estimator import estimator_for
from deepfit.evaluation.scoring import (
    MetricsBySplit,
    Parts,
    evaluate_baselines,
    evaluate_model,
    prepare_parts,
)
from deepfit.streamed import agreed_plan, train_streamed
from deepfit.tasks import make_task
from deepfit.trained import TrainingResult, choose_task, drop_unlabelled, split_target
from deepfit.training.callbacks import Callback
from deepfit.training.distributed import current
from deepfit.training.state import INTERRUPTED


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
    memory_budget: int | str | None = None,
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

    A CSV or Parquet file whose rows would pass ``memory_budget`` in memory (``"2GB"``; half
    the memory available by default) is streamed instead (:mod:`deepfit.streamed`).
    """
    if isinstance(data, str | os.PathLike) and is_table_file(Path(data)):
        budget = None if memory_budget is None else parse_size(memory_budget)
        plan = agreed_plan(Path(data), budget, str(params.get("device", "auto")))
        if plan.stream:
            return train_streamed(
                plan,
                target=target,
                task=task,
                validation=validation,
                validation_fraction=validation_fraction,
                test_fraction=test_fraction,
                seed=seed,
                baselines=baselines,
                resume=resume,
                callbacks=callbacks,
                **params,
            )
    frame = drop_unlabelled(read_table(data), target)
    choice = choose_task(frame, target, task)
    if choice.warning:
        warnings.warn(choice.warning, DeepfitWarning, stacklevel=2)
    checker = make_task(choice.task)
    X, y = split_target(frame, target, checker)
    keep = checker.learnable_rows(y)
    if keep is not None:
        X, y = X.iloc[np.flatnonzero(keep)].reset_index(drop=True), y[keep]
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
        X_val, y_val = split_target(
            drop_unlabelled(read_table(validation), target), target, checker
        )
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
    if not current().is_main:  # rank 0 scores the model
        return TrainingResult(model=model, metrics={}, task=choice)
    prepared = prepare_parts(model, parts)
    metrics: MetricsBySplit = {"deepfit": evaluate_model(model, prepared)}
    if baselines and model.training_summary_["stop_reason"] != INTERRUPTED:
        metrics.update(evaluate_baselines(model, prepared, seed=seed))
    model.metrics_ = metrics
    sizes = {split: len(y_part) for split, (_, y_part) in parts.items()}
    return TrainingResult(
        model=model, metrics=metrics, task=choice, split_sizes=sizes, test=parts["test"]
    )
