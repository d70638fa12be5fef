"""Train on a table in one call: split, fit, score beside baselines. The CLI's ``train``.

Example:
    >>> from deepfit import train_table
    >>> result = train_table("diamonds.csv", target="price")  # doctest: +SKIP
    >>> result.metrics["deepfit"]["test"]["rmse"]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.split import train_validation_test_split
from deepfit.data.target import check_target
from deepfit.errors import DataError
from deepfit.estimator import Regressor
from deepfit.evaluation.scoring import (
    MetricsBySplit,
    Parts,
    evaluate_baselines,
    evaluate_model,
    prepare_parts,
)
from deepfit.training.state import INTERRUPTED


@dataclass
class TrainingResult:
    """The fitted model, its metrics beside the baselines', and the rows in each split."""

    model: Regressor
    metrics: MetricsBySplit
    split_sizes: dict[str, int] = field(default_factory=dict)
    test: tuple[pd.DataFrame, np.ndarray] | None = None  # the test rows: features, target


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and the checked target column of ``frame``."""
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise DataError(f"target column '{target}' is not in the data; the columns are: {shown}")
    return frame.drop(columns=[target]), check_target(frame[target], target)


def train_table(
    data: Any,
    *,
    target: str,
    validation: Any = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    baselines: bool = True,
    resume: bool = False,
    **params: Any,
) -> TrainingResult:
    """Split ``data`` (70/15/15 by default, seeded), fit a :class:`Regressor`, score it.

    ``validation``, when given, is the validation set and ``data`` is split into train and
    test only. ``params`` go to the Regressor; ``resume`` to its ``fit`` (it continues the
    run saved in ``params["checkpoint_dir"]``). The metrics are stored on ``model.metrics_``
    so they travel inside the saved model. When Ctrl-C interrupted training, the model (best
    weights so far) is still scored, but the baselines are skipped to finish quickly.
    """
    frame = read_table(data)
    X, y = split_target(frame, target)
    if validation is not None:
        X_val, y_val = split_target(read_table(validation), target)
        parts_index = train_validation_test_split(
            len(X), validation_fraction=0.0, test_fraction=test_fraction, seed=seed
        )
        X_train, y_train = X.iloc[parts_index.train], y[parts_index.train]
    else:
        parts_index = train_validation_test_split(
            len(X),
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
        X_train, y_train = X.iloc[parts_index.train], y[parts_index.train]
        X_val, y_val = X.iloc[parts_index.validation], y[parts_index.validation]
    parts: Parts = {
        "train": (X_train, y_train),
        "validation": (X_val, y_val),
        "test": (X.iloc[parts_index.test], y[parts_index.test]),
    }
    model = Regressor(random_state=seed, **params)
    if len(y_val):
        model.fit(X_train, pd.Series(y_train, name=target), X_val=X_val, y_val=y_val, resume=resume)
    else:
        model.fit(X_train, pd.Series(y_train, name=target), resume=resume)
    prepared = prepare_parts(model, parts)
    metrics: MetricsBySplit = {"deepfit": evaluate_model(model, prepared)}
    if baselines and model.training_summary_["stop_reason"] != INTERRUPTED:
        metrics.update(evaluate_baselines(model, prepared, seed=seed))
    model.metrics_ = metrics
    sizes = {split: len(y_part) for split, (_, y_part) in parts.items()}
    return TrainingResult(model=model, metrics=metrics, split_sizes=sizes, test=parts["test"])
