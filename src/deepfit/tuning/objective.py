"""The function Optuna minimises: train one setting, return its validation score.

The score is the task's primary metric: RMSE (target units) for regression, log-loss for
classification; lower is better for both. Two ways of scoring (``Scoring``):

- **holdout** (default): fit on the training split, early-stop and score on the validation
  split of the seeded 70/15/15 split. Bad trials are pruned from their learning curve.
- **k-fold** (``cv=K``): :func:`deepfit.evaluation.crossval.cross_validate` on train +
  validation, the mean score over folds; a trial may be pruned after each fold (by its
  running mean).

The test split is never seen here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from deepfit.estimator import Estimator, estimator_for
from deepfit.evaluation.crossval import Fold, cross_validate
from deepfit.tasks import TASKS
from deepfit.training.state import INTERRUPTED
from deepfit.tuning.pruning import PruningCallback
from deepfit.tuning.space import SearchSpace

DEFAULT_ATTR = "default"  # user attribute of the trial that trains the base settings
MIN_TRIAL_SECONDS = 0.5


@dataclass
class Scoring:
    """The rows a trial trains and scores on, and how (``cv``: None for holdout, or K)."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_val: pd.DataFrame
    y_val: np.ndarray
    target: str
    cv: int | None = None
    task: str = "regression"

    @property
    def metric(self) -> str:
        """The task's primary metric, which the search minimises."""
        return TASKS[self.task].primary_metric

    @property
    def metric_label(self) -> str:
        return TASKS[self.task].shown_metrics[self.metric]

    @property
    def label(self) -> str:
        where = "validation" if self.cv is None else f"{self.cv}-fold"
        return f"{where} {self.metric_label}"


class Objective:
    """Callable for ``study.optimize``; keeps the best model it trained in this session.

    ``base`` are the settings every trial starts from (the search space overrides some);
    ``deadline`` (``time.monotonic()`` seconds) caps each trial's training so the last one
    cannot overrun the search's time limit by more than about one epoch.
    """

    def __init__(
        self,
        space: SearchSpace,
        base: dict[str, Any],
        scoring: Scoring,
        *,
        seed: int,
        deadline: float,
    ) -> None:
        self.space = space
        self.base = base
        self.scoring = scoring
        self.seed = seed
        self.deadline = deadline
        self.best_value = math.inf
        self.best_trial: int | None = None
        self.best_model: Estimator | None = None

    def settings(self, trial: optuna.Trial) -> dict[str, Any]:
        """The estimator's settings of ``trial`` (the default trial: the base settings as given)."""
        drawn = self.space.suggest(trial, self.base)
        if trial.user_attrs.get(DEFAULT_ATTR):
            return dict(self.base)
        return {**self.base, **drawn}

    def __call__(self, trial: optuna.Trial) -> float:
        settings = self.settings(trial)
        if self.scoring.cv is None:
            return self._holdout(trial, settings)
        return self._cross_validated(trial, settings)

    def _time_limit(self, share: int = 1) -> float:
        remaining = (self.deadline - time.monotonic()) / share
        limit = self.base.get("time_limit")
        if limit is not None:
            remaining = min(remaining, float(limit))
        return max(remaining, MIN_TRIAL_SECONDS)

    def _holdout(self, trial: optuna.Trial, settings: dict[str, Any]) -> float:
        s = self.scoring
        model = estimator_for(s.task)(**{**settings, "time_limit": self._time_limit()})
        pruning = PruningCallback(trial)
        model.fit(
            s.X_train,
            pd.Series(s.y_train, name=s.target),
            X_val=s.X_val,
            y_val=s.y_val,
            callbacks=[pruning],
        )
        if model.training_summary_["stop_reason"] == INTERRUPTED:
            raise KeyboardInterrupt  # Ctrl-C ends the search, not only this trial
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        value = model.task_.metrics(s.y_val, model.predict_answers(s.X_val))[s.metric]
        trial.set_user_attr("epochs", model.training_summary_["epochs"])
        trial.set_user_attr("stop_reason", model.training_summary_["stop_reason"])
        if value < self.best_value:
            self.best_value, self.best_trial, self.best_model = value, trial.number, model
        return value

    def _cross_validated(self, trial: optuna.Trial, settings: dict[str, Any]) -> float:
        s = self.scoring
        assert s.cv is not None
        frame = pd.concat([s.X_train, s.X_val], ignore_index=True)
        frame[s.target] = np.concatenate([s.y_train, s.y_val])
        scores: list[float] = []

        def report(fold: Fold) -> None:
            scores.append(fold.scores["deepfit"][s.metric])
            trial.report(float(np.mean(scores)), fold.number)
            if fold.number < (s.cv or 0) and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {fold.number}")

        params = {**settings, "time_limit": self._time_limit(share=s.cv)}
        result = cross_validate(
            frame,
            target=s.target,
            folds=s.cv,
            seed=self.seed,
            baselines=False,
            progress=report,
            task=s.task,
            **params,
        )
        return float(np.mean(result.fold_scores("deepfit", s.metric)))
