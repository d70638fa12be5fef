"""What to do about new rows: fine, watch, or retrain, from drift and (with labels) the
model's performance now against its scores at training time and its baselines'.

Retrain when the task's primary metric is more than :data:`MAX_DROP` worse than on the
held-out rows at training time, when the predictions drifted, or when a feature drifted and
the predictions moved at least into the watch band (a drifted feature that leaves the
predictions where they were matters less to this model). Watch when anything is in the
watch band or drifted, or when the model now scores worse than a baseline it beat at training
time scored then.

Example:
    >>> verdict([]).status
    'fine'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepfit.monitor.drift import DRIFT, FINE, PREDICTION, WATCHING, FeatureDrift
from deepfit.tasks.base import Task

MAX_DROP = 0.10  # a primary metric this much worse (relative) than at training: retrain
RETRAIN = "retrain"
SCORED_SPLITS = ("test", "validation")  # the training-time score compared with, in order


@dataclass(frozen=True)
class Performance:
    """The model's metrics on the new rows, and at training time on ``split``."""

    metric: str  # the task's primary metric
    label: str
    higher_is_better: bool
    now: dict[str, float]
    at_training: dict[str, float] | None = None
    split: str | None = None
    baselines: dict[str, float] = field(default_factory=dict)  # primary metric, at training

    @property
    def change(self) -> float | None:
        """How much worse the primary metric is now, relative (0.12: 12% worse)."""
        if self.at_training is None or self.metric not in self.at_training:
            return None
        before, now = self.at_training[self.metric], self.now.get(self.metric, np.nan)
        if not np.isfinite(before) or not np.isfinite(now) or before == 0:
            return None
        worse = (before - now) if self.higher_is_better else (now - before)
        return float(worse / abs(before))

    def beaten_by(self) -> list[str]:
        """The baselines the model beat at training time whose score then beats the
        model's now: the model has lost its edge over them."""
        now = self.now.get(self.metric, np.nan)
        before = (self.at_training or {}).get(self.metric, np.nan)
        if not np.isfinite(now) or not np.isfinite(before):
            return []

        def better(a: float, b: float) -> bool:
            return a > b if self.higher_is_better else a < b

        return [
            name
            for name, score in self.baselines.items()
            if better(score, now) and not better(score, before)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "now": self.now,
            "at_training": self.at_training,
            "training_split": self.split,
            "change": self.change,
            "baselines_at_training": self.baselines,
        }


@dataclass(frozen=True)
class Verdict:
    """fine, watch or retrain, and why."""

    status: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons)}


def performance(
    task: Task, stored: dict[str, Any] | None, y: np.ndarray, answers: np.ndarray
) -> Performance:
    """The task's metrics on labelled new rows beside those ``stored`` in the model file
    (``metrics_``: model -> split -> metric), on its test split (or validation split)."""
    now = {name: float(value) for name, value in task.metrics(y, answers).items()}
    metric = task.primary_metric
    at_training, split, baselines = None, None, {}
    deepfit = (stored or {}).get("deepfit") or {}
    for candidate in SCORED_SPLITS:
        if isinstance(deepfit.get(candidate), dict):
            split, at_training = candidate, dict(deepfit[candidate])
            break
    if split is not None:
        for name, by_split in (stored or {}).items():
            score = (by_split or {}).get(split, {}).get(metric) if name != "deepfit" else None
            if isinstance(score, int | float) and np.isfinite(score):
                baselines[str(name)] = float(score)
    return Performance(
        metric=metric,
        label=task.shown_metrics.get(metric, metric),
        higher_is_better=metric in task.higher_is_better,
        now=now,
        at_training=at_training,
        split=split,
        baselines=baselines,
    )


def verdict(drifts: Sequence[FeatureDrift], measured: Performance | None = None) -> Verdict:
    """fine, watch or retrain for ``drifts`` and, when the rows were labelled, ``measured``."""
    retrain: list[str] = []
    watch: list[str] = []
    prediction = next((d for d in drifts if d.kind == PREDICTION), None)
    features = [d for d in drifts if d.kind != PREDICTION]
    if measured is not None:
        change = measured.change
        if change is not None and change > MAX_DROP:
            retrain.append(
                f"{measured.label} is {change:.0%} worse than on the {measured.split} rows at "
                "training time"
            )
        beaten = measured.beaten_by()
        if beaten:
            names = ", ".join(beaten)
            watch.append(
                f"{measured.label} now is worse than the {names} baseline"
                f"{'s' if len(beaten) > 1 else ''} scored at training time, which the model "
                "beat then"
            )
    if prediction is not None and prediction.status == DRIFT:
        retrain.append(prediction.reading)
    moved = prediction is None or prediction.status != FINE
    for drift in features:
        if drift.status == DRIFT and moved:
            retrain.append(drift.reading)
        elif drift.status != FINE:
            note = "" if moved else " (the predictions have not moved)"
            watch.append(drift.reading + note)
    if prediction is not None and prediction.status == WATCHING:
        watch.append(prediction.reading)
    if retrain:
        return Verdict(RETRAIN, tuple(retrain + watch))
    if watch:
        return Verdict(WATCHING, tuple(watch))
    return Verdict(FINE, ())
