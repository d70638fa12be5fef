"""What a study did: its trials as a table, parameter importances, and a JSON summary."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from deepfit.files import atomic_writer
from deepfit.tuning.objective import DEFAULT_ATTR

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, seconds, default, then each parameter."""
    rows = []
    for trial in study.trials:
        seconds = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "value": trial.value,
                "seconds": seconds,
                "default": bool(trial.user_attrs.get(DEFAULT_ATTR, False)),
                **trial.params,
            }
        )
    return pd.DataFrame(rows)


def trial_records(study: optuna.Study, *, limit: int = 1000) -> list[dict[str, Any]]:
    """The last ``limit`` trials as JSON-able records (for the model file and the report)."""
    records = []
    for trial in study.trials[-limit:]:
        seconds = trial.duration.total_seconds() if trial.duration is not None else None
        records.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "value": trial.value,
                "seconds": None if seconds is None else round(seconds, 3),
                "default": bool(trial.user_attrs.get(DEFAULT_ATTR, False)),
                "params": dict(trial.params),
            }
        )
    return records


def write_trials_csv(study: optuna.Study, path: Path, *, overwrite: bool = False) -> Path:
    """Write :func:`trials_frame` to ``path`` as CSV, atomically."""
    with atomic_writer(path, overwrite=overwrite, mode="w") as handle:
        trials_frame(study).to_csv(handle, index=False)
    return path


def default_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial of the base settings (trial 0 of a fresh study), if any."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.user_attrs.get(DEFAULT_ATTR):
            return trial
    return None


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the lowest finite value, if any."""
    done = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.value is not None and math.isfinite(trial.value)
    ]
    return min(done, key=lambda trial: (trial.value, trial.number), default=None)


def importances(study: optuna.Study, *, seed: int = 0) -> dict[str, float]:
    """fANOVA parameter importances (summing to 1), or {} with fewer than 2 completed trials."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(completed) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        except (ValueError, RuntimeError):  # e.g. no parameter varied
            return {}
    return {name: round(float(value), 4) for name, value in found.items()}


def counts(study: optuna.Study) -> dict[str, int]:
    """How many trials are in each state, e.g. ``{"complete": 12, "pruned": 8}``."""
    result: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name.lower()
        result[name] = result.get(name, 0) + 1
    return result


def improvement(default: float | None, best: float | None) -> dict[str, Any]:
    """How much lower the best value is than the default's (None when either is missing)."""
    if default is None or best is None:
        return {"improvement": None, "improvement_percent": None, "improved": None}
    gain = default - best
    percent = 100.0 * gain / default if default > 0 else None
    return {
        "improvement": gain,
        "improvement_percent": None if percent is None else round(percent, 3),
        "improved": gain > 0,
    }
