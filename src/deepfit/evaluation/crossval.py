"""K-fold cross-validation: retrain on K-1 folds, score the held-out fold, mean ± std over folds.

Every fold trains a fresh estimator of the task (with its own validation share for early
stopping, as ``fit`` holds out by default) and, optionally, the baselines on the same rows
with the same preprocessing, exactly as :func:`deepfit.workflow.train_table` does on one
split. Scores are every metric the task computes (stratified folds for classification).
The CLI's ``deepfit evaluate MODEL DATA --cv 5``; ``deepfit.report.console.crossval_table``
shows the result.

Example:
    >>> from deepfit.evaluation.crossval import cross_validate
    >>> cv = cross_validate("diamonds.csv", target="price", folds=5)  # doctest: +SKIP
    >>> cv.summary["deepfit"]["rmse"]  # doctest: +SKIP
    MeanStd(mean=541.2, std=12.9)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.data.split import KFoldSplitter, RowSplitter
from deepfit.errors import ConfigError, DataError
from deepfit.estimator import Estimator, estimator_for
from deepfit.estimator.served import teaching_deferred
from deepfit.evaluation.scoring import Parts, evaluate_baselines, evaluate_model, prepare_parts
from deepfit.tasks import TASKS, Task, make_task
from deepfit.trained import drop_unlabelled, split_target
from deepfit.training.state import INTERRUPTED

MODEL = "deepfit"
# Saved settings that describe one training run, not the model: not carried into retraining.
NOT_RETRAINED = (
    "checkpoint_dir",
    "checkpoint_every",
    "init_from",
    "train_last",
    "verbose",
    "random_state",
)


@dataclass(frozen=True)
class MeanStd:
    """The mean and the (population, ``ddof=0``) standard deviation of a score over folds."""

    mean: float
    std: float


@dataclass(frozen=True)
class Fold:
    """One fold: the rows held out (positions in the data) and each model's scores on them.

    ``train_rows`` counts the rows trained on, the early-stopping share included; ``scores``
    maps a model (``"deepfit"``, then each baseline) to metric name to value.
    """

    number: int
    test_rows: np.ndarray
    train_rows: int
    scores: dict[str, dict[str, float]]


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold scores of deepfit (and the baselines), and their mean ± std over the folds.

    Example:
        >>> cv = cross_validate(frame, target="y", folds=3)  # doctest: +SKIP
        >>> cv.fold_scores("deepfit", "rmse")  # one value per fold  # doctest: +SKIP
        array([10.1,  9.7, 10.4])
        >>> rich.print(crossval_table(cv))  # doctest: +SKIP
    """

    target: str
    n_rows: int
    seed: int
    folds: tuple[Fold, ...]
    seconds: float
    task: str = "regression"

    @property
    def models(self) -> list[str]:
        """Model names, deepfit first, then the baselines in their usual order."""
        names = dict.fromkeys(name for fold in self.folds for name in fold.scores)
        return sorted(names, key=lambda name: name != MODEL)

    def fold_scores(self, model: str, metric: str) -> np.ndarray:
        """``metric`` of ``model`` on each fold, in fold order (NaN where a fold lacks it)."""
        return np.array(
            [fold.scores.get(model, {}).get(metric, np.nan) for fold in self.folds],
            dtype=np.float64,
        )

    @property
    def summary(self) -> dict[str, dict[str, MeanStd]]:
        """Model -> metric -> mean ± std over folds, for the metrics every fold has.

        A metric that some fold does not allow (MAPE where that fold's target has a zero,
        R² on a one-row fold) is left out rather than averaged over fewer folds.
        """
        metrics = TASKS[self.task].shown_metrics
        result: dict[str, dict[str, MeanStd]] = {}
        for model in self.models:
            result[model] = {}
            for metric in metrics:
                values = self.fold_scores(model, metric)
                if np.all(np.isfinite(values)):
                    result[model][metric] = MeanStd(float(np.mean(values)), float(np.std(values)))
        return result


def cross_validate(
    data: Any,
    *,
    target: str,
    folds: int = 5,
    seed: int = 0,
    baselines: bool = True,
    progress: Callable[[Fold], None] | None = None,
    task: str = "regression",
    **params: Any,
) -> CrossValidation:
    """Shuffled, seeded K-fold cross-validation of the ``task``'s estimator with ``params``.

    ``data`` is a path or a table (anything :func:`deepfit.data.io.read_table` reads) with
    the ``target`` column. For each fold, an estimator is fitted on the other folds (minus a
    ``validation_fraction`` share, seeded, for early stopping) and scored on the held-out
    fold; with ``baselines`` the baselines are fitted on the same rows and scored there too.
    ``seed`` shuffles the folds and is the Regressor's ``random_state`` unless ``params``
    gives one. ``progress`` is called with each fold when it is done. deepfit's warnings
    are given once each, however many folds raise them.

    Example:
        >>> cv = cross_validate("table.csv", target="y", folds=5, max_epochs=50)  # doctest: +SKIP
        >>> cv.summary["deepfit"]["r2"].mean, cv.summary["ridge"]["r2"].mean  # doctest: +SKIP
        (0.97, 0.91)
    """
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds (--cv), however: {folds!r}")
    checker = make_task(task)
    X, y = split_target(drop_unlabelled(read_table(data), target), target, checker)
    if folds > len(y):
        raise DataError(
            f"{folds} folds need at least {folds} rows, but the data has {len(y)}; "
            "use fewer folds (--cv)"
        )
    settings = {"random_state": seed, **params}
    start = time.perf_counter()
    results: list[Fold] = []
    splits = KFoldSplitter(int(folds)).folds(len(y), seed=seed, labels=checker.split_labels(y))
    with _each_warning_once(), teaching_deferred():  # the folds' models are not served
        for number, split in enumerate(splits, start=1):
            model = estimator_for(task)(**settings)
            fold = _fold(model, checker, X, y, split.train, split.test, target, seed, baselines)
            results.append(Fold(number, split.test, len(split.train), fold))
            if progress is not None:
                progress(results[-1])
    return CrossValidation(
        target=target,
        n_rows=len(y),
        seed=seed,
        folds=tuple(results),
        seconds=time.perf_counter() - start,
        task=task,
    )


def retraining_params(model: Estimator) -> dict[str, Any]:
    """The training settings of a fitted (or loaded) model, to train it again from scratch.

    Its settings as resolved when it was fitted (auto's choices included, so the folds get
    the same recipe) without what belongs to one run (``NOT_RETRAINED``: checkpoints, the
    model fine-tuned from, frozen layers, verbosity, the seed).

    Example:
        >>> params = retraining_params(load("price.deepfit"))  # doctest: +SKIP
        >>> cross_validate("prices.csv", target="price", **params)  # doctest: +SKIP
    """
    params = dict(model.settings_)
    for name in NOT_RETRAINED:
        params.pop(name, None)
    return params


def _fold(
    model: Estimator,
    task: Task,
    X: pd.DataFrame,
    y: np.ndarray,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    target: str,
    seed: int,
    baselines: bool,
) -> dict[str, dict[str, float]]:
    """Fit on ``train_rows`` and score every model on ``test_rows``: model -> metric -> value."""
    fraction = float(model.validation_fraction) if model.patience is not None else 0.0
    labels = task.split_labels(y[train_rows])
    inner = RowSplitter(fraction, 0.0, min_rows=1).held_out(
        len(train_rows), seed=seed, labels=labels
    )
    kept = np.arange(len(train_rows))
    fit_rows = train_rows[kept if inner is None else inner.train]
    val_rows = train_rows[kept[:0] if inner is None else inner.validation]
    parts: Parts = {
        "train": (X.iloc[fit_rows], y[fit_rows]),
        "validation": (X.iloc[val_rows], y[val_rows]),
        "test": (X.iloc[test_rows], y[test_rows]),
    }
    X_fit, y_fit = parts["train"]
    if len(val_rows):
        X_val, y_val = parts["validation"]
        model.fit(X_fit, pd.Series(y_fit, name=target), X_val=X_val, y_val=y_val)
    else:
        model.fit(X_fit, pd.Series(y_fit, name=target))
    if model.training_summary_["stop_reason"] == INTERRUPTED:
        raise KeyboardInterrupt  # Ctrl-C stops the whole cross-validation, not one fold
    prepared = prepare_parts(model, parts)
    scores = {MODEL: evaluate_model(model, {"test": prepared["test"]})["test"]}
    if baselines:
        by_split = evaluate_baselines(model, prepared, seed=seed)
        scores.update({name: splits["test"] for name, splits in by_split.items()})
    return scores


@contextmanager
def _each_warning_once() -> Iterator[None]:
    """Collect the warnings of every fold; give each distinct one once, at the end."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for category, message in dict.fromkeys((w.category, str(w.message)) for w in caught):
        warnings.warn(message, category, stacklevel=3)
