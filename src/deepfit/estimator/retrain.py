"""Retraining a saved table model on new data: champion (the saved model) against challenger.

A seeded share of the new rows is held out; neither model trains on it. The challenger is the
champion fine-tuned on the rest (its preprocessing, target encoding and architecture kept, as
``init_from`` does), or, when the old network cannot take the new rows (columns added,
removed or of another role; labels it never saw; an ensemble of networks), a model trained
afresh with the champion's settings (preprocessing refitted). Both are scored on the held-out
rows by the task's primary metric (RMSE, or a classifier's log-loss); the caller decides
what to write. ``deepfit retrain`` is the command.

Example:
    >>> result = retrain("price.deepfit", frame, target="price")  # doctest: +SKIP
    >>> result.winner, result.line()  # doctest: +SKIP
    ('challenger', 'holdout RMSE (40 rows): champion 12.3, challenger 10.1 (-17.9%): ...')
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.split import RowSplitter
from deepfit.errors import ConfigError, DataError, brief
from deepfit.estimator.base import Estimator
from deepfit.estimator.finetune import schema_changes
from deepfit.estimator.load import estimator_for, load_estimator
from deepfit.trained import split_target
from deepfit.training.state import INTERRUPTED

HOLDOUT = 0.2  # the default share of the new rows held out to compare the two models
MIN_HOLDOUT_ROWS = 10  # the held-out rows, however small the share
MIN_TRAIN_ROWS = 20  # the rows the challenger trains on (its early-stopping share included)
FINE_TUNED = "fine-tuned"
AFRESH = "trained afresh"
# What the champion's saved settings say about its run, not its model: not carried over.
RUN_ONLY = ("checkpoint_dir", "checkpoint_every", "init_from", "train_last", "verbose")


@dataclass
class Retraining:
    """The challenger, how it was made, and both models' scores on the held-out rows.

    ``champion_scores`` is None when the champion cannot predict the new rows (a column it
    needs is gone, a label it never saw); ``challenger_scores`` likewise. ``winner`` is
    ``"challenger"`` only when the challenger scores strictly better on ``metric``.
    """

    challenger: Estimator
    path: str  # FINE_TUNED or AFRESH
    reason: str  # why that path, in words
    metric: str
    metric_label: str
    higher_is_better: bool
    champion_scores: dict[str, float] | None
    challenger_scores: dict[str, float] | None
    train_rows: int
    holdout_rows: int
    notes: list[str] = field(default_factory=list)  # why a model could not be scored

    @property
    def champion_value(self) -> float | None:
        return None if self.champion_scores is None else self.champion_scores.get(self.metric)

    @property
    def challenger_value(self) -> float | None:
        return None if self.challenger_scores is None else self.challenger_scores.get(self.metric)

    @property
    def winner(self) -> str:
        old, new = self.champion_value, self.challenger_value
        if new is None or not math.isfinite(new):
            return "champion"
        if old is None or not math.isfinite(old):
            return "challenger"
        better = new > old if self.higher_is_better else new < old
        return "challenger" if better else "champion"

    @property
    def relative_change(self) -> float | None:
        """The challenger's metric relative to the champion's (``-0.1``: 10% lower)."""
        old, new = self.champion_value, self.challenger_value
        if old is None or new is None or old == 0 or not math.isfinite(old * new):
            return None
        return (new - old) / abs(old)

    def line(self) -> str:
        """One line: both scores, the change, and who won."""
        old, new = self.champion_value, self.challenger_value
        shown = {
            "champion": "cannot score" if old is None else _number(old),
            "challenger": "cannot score" if new is None else _number(new),
        }
        change = self.relative_change
        by = "" if change is None else f" ({change:+.1%})"
        return (
            f"holdout {self.metric_label} ({self.holdout_rows} rows, "
            f"{'higher' if self.higher_is_better else 'lower'} is better): champion "
            f"{shown['champion']}, challenger {shown['challenger']}{by}: the {self.winner} wins"
        )

    def document(self) -> dict[str, Any]:
        """What ``deepfit retrain --json`` prints (with what the command did)."""
        return {
            "path": self.path,
            "reason": self.reason,
            "metric": self.metric,
            "champion": self.champion_scores,
            "challenger": self.challenger_scores,
            "relative_change": self.relative_change,
            "winner": self.winner,
            "train_rows": self.train_rows,
            "holdout_rows": self.holdout_rows,
            "notes": self.notes,
        }


def retrain(
    model_path: str | Path,
    data: pd.DataFrame,
    *,
    target: str | None = None,
    holdout: float = HOLDOUT,
    seed: int = 0,
    fresh: bool = False,
    **overrides: Any,
) -> Retraining:
    """Train a challenger to the model saved at ``model_path`` on ``data`` and score both on
    a seeded ``holdout`` share of ``data`` (at least :data:`MIN_HOLDOUT_ROWS` rows) that
    neither trains on.

    ``fresh=True`` trains afresh even when fine-tuning could start from the champion.
    ``overrides`` replace the champion's settings (``time_limit``, ``max_epochs``,
    ``verbose``...); ``seed`` seeds the holdout and the challenger's training.
    """
    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"the holdout share must be in (0, 1), however: {holdout}")
    champion = load_estimator(model_path, "retrain")
    column = target or champion.target_name_
    X, y = split_target(data, column, champion.task_)
    train_rows, holdout_rows = _holdout(len(y), holdout, seed, champion.task_.split_labels(y))
    X_train, y_train = X.iloc[train_rows], y[train_rows]
    X_hold, y_hold = X.iloc[holdout_rows], y[holdout_rows]
    reason = None if not fresh else "as asked (--fresh): the preprocessing is refitted too"
    reason = reason or _cannot_fine_tune(champion, X, y)
    settings = {name: value for name, value in champion.settings_.items() if name not in RUN_ONLY}
    settings |= {"random_state": seed, **overrides}
    if reason is None:
        settings["init_from"] = str(model_path)
    challenger = estimator_for(champion.task_.name)(**settings)
    challenger.fit(X_train, pd.Series(y_train, name=column))
    if challenger.training_summary_["stop_reason"] == INTERRUPTED:
        raise KeyboardInterrupt  # Ctrl-C: no half-trained challenger is scored or written
    notes: list[str] = []
    champion_scores = _scores(champion, X_hold, y_hold, "champion", notes)
    challenger_scores = _scores(challenger, X_hold, y_hold, "challenger", notes)
    if champion_scores is None and challenger_scores is None:
        raise DataError(f"neither model can score the held-out rows: {'; '.join(notes)}")
    task = champion.task_
    result = Retraining(
        challenger=challenger,
        path=FINE_TUNED if reason is None else AFRESH,
        reason=reason
        or "the new data has the champion's columns with the same roles: its preprocessing "
        "and target encoding are kept",
        metric=task.primary_metric,
        metric_label=task.shown_metrics.get(task.primary_metric, task.primary_metric),
        higher_is_better=task.primary_metric in task.higher_is_better,
        champion_scores=champion_scores,
        challenger_scores=challenger_scores,
        train_rows=len(train_rows),
        holdout_rows=len(holdout_rows),
        notes=notes,
    )
    _record(challenger, result, model_path)
    return result


def _holdout(
    n_rows: int, share: float, seed: int, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The rows to train on and the rows held out (at least MIN_HOLDOUT_ROWS), seeded."""
    n_holdout = max(MIN_HOLDOUT_ROWS, round(n_rows * share))
    if n_rows - n_holdout < MIN_TRAIN_ROWS:
        needed = next(
            n
            for n in itertools.count(n_rows + 1)
            if n - max(MIN_HOLDOUT_ROWS, round(n * share)) >= MIN_TRAIN_ROWS
        )
        raise DataError(
            f"the new data has {n_rows} row(s), too few to retrain on: holding out "
            f"{share:.0%} (at least {MIN_HOLDOUT_ROWS} rows) must leave {MIN_TRAIN_ROWS} to "
            f"train on; provide at least {needed} rows"
        )
    split = RowSplitter(0.0, n_holdout / n_rows, min_rows=1).split(n_rows, seed=seed, labels=labels)
    return split.train, split.test


def _cannot_fine_tune(champion: Estimator, X: pd.DataFrame, y: np.ndarray) -> str | None:
    """Why the champion's network cannot start the challenger (in words), or None."""
    if int(champion.settings_.get("n_ensemble", 1)) > 1:
        return "the champion is an ensemble of networks, and fine-tuning takes a single one"
    changes = schema_changes(X, champion.preprocessor_.schema, champion.settings_["column_roles"])
    if changes:
        return "the columns changed: " + "; ".join(changes)
    classes = getattr(champion.task_, "classes", None)
    if classes is not None:
        new = sorted({str(label) for label in np.unique(y)} - {str(c) for c in classes})
        if new:
            shown = ", ".join(f"'{label}'" for label in new[:5])
            return f"the new data has label(s) {shown} that the champion cannot predict"
    return None


def _scores(
    model: Estimator, X: pd.DataFrame, y: np.ndarray, name: str, notes: list[str]
) -> dict[str, float] | None:
    """``model``'s metrics on the held-out rows, or None (and a note) if it cannot score them."""
    try:
        return model.task_.metrics(y, model.predict_answers(X))
    except DataError as error:
        notes.append(f"the {name} cannot score the held-out rows: {brief(error)}")
        return None


def _record(challenger: Estimator, result: Retraining, model_path: str | Path) -> None:
    """Keep the comparison in the challenger's file: its training summary, and both models'
    scores on the held-out rows as its test metrics (``deepfit info`` shows them)."""
    challenger.training_summary_["retrain"] = {
        "champion": str(model_path),
        **{key: value for key, value in result.document().items() if key != "notes"},
    }
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    if result.challenger_scores is not None:
        metrics["deepfit"] = {"test": result.challenger_scores}
    if result.champion_scores is not None:
        metrics["champion"] = {"test": result.champion_scores}
    challenger.metrics_ = metrics


def _number(value: float) -> str:
    """A score as people read it: 86,370 rather than 8.637e+04; 0.3123 for small ones."""
    return f"{value:,.0f}" if 1_000 <= abs(value) < 1e15 else f"{value:.4g}"
