"""The report's sections, each built from a fitted model and labelled rows.

The optional ones (:func:`intervals_section`, :func:`ensemble_section`,
:func:`tuning_section`) return ``None`` when the model has nothing for them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deepfit.errors import ConfigError
from deepfit.explain.columns import feature_roles, sample_rows
from deepfit.explain.importance import permutation_importances
from deepfit.explain.plots import importance_figure
from deepfit.report import plots
from deepfit.report.console import SPLITS, format_value
from deepfit.report.html import Section, image, paragraph, table

if TYPE_CHECKING:
    from deepfit.estimator import Regressor
    from deepfit.estimator.base import Estimator
    from deepfit.tasks.base import Task

INTERVAL_LEVEL = 0.9
IMPORTANCE_ROWS = 1_000  # permutation importance on at most this many rows, to stay quick
IMPORTANCE_REPEATS = 2
LONG_VALUE = 300
# the names a search's summary (``training_summary_["tuning"]``) may give these facts
BEST_KEYS = ("best_value", "best")
DEFAULT_KEYS = ("default_value", "default")


def metrics_section(model: Estimator, y: np.ndarray, answers: np.ndarray) -> Section:
    """Metrics on the given rows; then, when the model has them, per split beside baselines."""
    task = model.task_
    scores = task.metrics(y, answers)
    rows = [(label, format_value(name, scores.get(name))) for name, label in _shown(task, scores)]
    body = paragraph(f"deepfit on the {len(y)} rows of this report:")
    body += table(["metric", "deepfit"], rows)
    stored: dict[str, dict[str, dict[str, float]]] = getattr(model, "metrics_", None) or {}
    for split in SPLITS:
        columns = {name: by_split[split] for name, by_split in stored.items() if split in by_split}
        if not columns:
            continue
        metric = task.primary_metric
        best = None
        for index, scores_of in enumerate(columns.values(), start=1):
            value = scores_of.get(metric)
            if value is not None and (best is None or task.better(metric, value, best[1])):
                best = (index, value)
        shown = _shown(task, *columns.values())
        label = task.shown_metrics[metric]
        body += paragraph(f"At training time, {split} split (best {label} highlighted):")
        body += table(
            ["metric", *columns],
            [
                (label, *(format_value(name, s.get(name)) for s in columns.values()))
                for name, label in shown
            ],
            best_column=None if best is None else best[0],
        )
    return Section("metrics", "Metrics", body)


def _shown(task: Task, *scores: dict[str, float]) -> list[tuple[str, str]]:
    return [(n, label) for n, label in task.shown_metrics.items() if any(n in s for s in scores)]


def regression_sections(
    model: Regressor, X: pd.DataFrame, y: np.ndarray, predicted: np.ndarray
) -> tuple[list[Section | None], list[Section | None]]:
    """The sections a regression adds to the report, on labelled rows and its predictions:
    how it fits, and how sure it is."""
    fit: list[Section | None] = [fit_section(y, predicted, target=model.target_name_)]
    return fit, [intervals_section(model, X, y), ensemble_section(model, X, predicted)]


def fit_section(y: np.ndarray, predicted: np.ndarray, *, target: str) -> Section:
    """Predicted vs actual, residuals vs predicted and the residual histogram."""
    residuals = y - predicted
    body = "".join(
        [
            image(
                plots.data_uri(plots.predicted_vs_actual(y, predicted, target=target)),
                "Predicted vs actual",
            ),
            image(
                plots.data_uri(plots.residuals_vs_predicted(y, predicted, target=target)),
                "Residuals vs predicted",
            ),
            image(
                plots.data_uri(plots.residual_histogram(residuals, target=target)),
                "Residual histogram",
            ),
        ]
    )
    return Section("fit", "Predictions and residuals", body)


def learning_section(model: Regressor) -> Section:
    """Train and validation loss per epoch, best epoch marked."""
    history: list[dict[str, Any]] = getattr(model, "history_", None) or []
    if not history:
        return Section("learning", "Learning curves", paragraph("No training history stored."))
    best_epoch = model.training_summary_.get("best_epoch")
    best = int(best_epoch) if isinstance(best_epoch, int | float) else None
    figure = plots.learning_curves(history, best_epoch=best)
    return Section("learning", "Learning curves", image(plots.data_uri(figure), "Learning curves"))


def importance_section(model: Regressor, X: pd.DataFrame, y: np.ndarray, *, seed: int) -> Section:
    """Permutation importance (increase in RMSE when a column is shuffled) on a row sample."""
    roles = feature_roles(model)
    positions = sample_rows(len(X), IMPORTANCE_ROWS, seed)
    features = X[list(roles)].iloc[positions]
    importance = permutation_importances(
        model, features, y[positions], n_repeats=IMPORTANCE_REPEATS, seed=seed
    )
    figure = importance_figure(importance, target=model.target_name_)
    rows = [
        (row.feature, row.role, f"{row.importance_mean:.4g}", f"{row.importance_std:.2g}")
        for row in importance.itertuples()
    ]
    label = model.task_.shown_metrics[model.task_.primary_metric]
    body = paragraph(
        f"Increase in {label} when a column is shuffled ({IMPORTANCE_REPEATS} shuffles, "
        f"{len(positions)} rows)."
    )
    body += image(plots.data_uri(figure), "Permutation importance")
    body += table(["feature", "role", "importance", "std"], rows)
    return Section("importance", "Feature importance", body)


def settings_section(model: Regressor) -> Section:
    """The estimator's parameters and the training summary."""
    summary = {k: v for k, v in model.training_summary_.items() if k != "tuning"}
    body = paragraph("Parameters") + table(
        ["parameter", "value"], [(k, _text(v)) for k, v in model.get_params().items()]
    )
    body += paragraph("Training") + table(
        ["item", "value"], [(k, _text(v)) for k, v in summary.items()]
    )
    return Section("settings", "Settings", body)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= LONG_VALUE else text[: LONG_VALUE - 1] + "…"


def intervals_section(model: Regressor, X: pd.DataFrame, y: np.ndarray) -> Section | None:
    """Coverage of the 90% conformal interval on these rows, and the intervals drawn."""
    calibration = getattr(model, "calibration_", None)
    if calibration is None:
        return None
    title = "Prediction intervals"
    try:
        result = model.predict(X, interval=INTERVAL_LEVEL)
    except ConfigError as error:
        return Section("intervals", title, paragraph(str(error)))
    inside = (y >= result.lower) & (y <= result.upper)
    body = table(
        ["level", "coverage on these rows", "half width", "calibration rows"],
        [
            (
                f"{INTERVAL_LEVEL:.0%}",
                f"{inside.mean():.1%}",
                format_value("rmse", float(np.mean(result.width) / 2)),
                calibration.n_rows,
            )
        ],
    )
    figure = plots.interval_figure(
        y, result.prediction, result.lower, result.upper, level=INTERVAL_LEVEL
    )
    body += image(plots.data_uri(figure), f"{INTERVAL_LEVEL:.0%} prediction intervals")
    return Section("intervals", title, body)


def ensemble_section(model: Regressor, X: pd.DataFrame, predicted: np.ndarray) -> Section | None:
    """How many members an ensemble has and how much they disagree, when it is one."""
    members = model.training_summary_.get("members")
    if members is None:  # a single network (it may still have a predict_spread method)
        return None
    predict_spread = getattr(model, "predict_spread", None)
    count = len(members) if isinstance(members, list | tuple | dict) else members
    body = paragraph(f"Ensemble of {count if count is not None else 'several'} members.")
    if callable(predict_spread):
        spread = np.asarray(predict_spread(X), dtype=np.float64).ravel()
        if len(spread) == len(predicted) and len(spread) and np.isfinite(spread).all():
            body += table(
                ["mean spread", "largest spread"],
                [(f"{spread.mean():.4g}", f"{spread.max():.4g}")],
            )
            figure = plots.spread_figure(predicted, spread, target=model.target_name_)
            body += image(plots.data_uri(figure), "Ensemble spread")
    return Section("ensemble", "Ensemble", body)


def tuning_section(model: Regressor) -> Section | None:
    """The hyper-parameter search that chose these settings, when there was one."""
    tuning = model.training_summary_.get("tuning")
    if not isinstance(tuning, dict):
        return None
    trials = _first(tuning, "n_trials", "trials", "counts")
    if isinstance(trials, dict):  # trials per state, e.g. {"complete": 12, "pruned": 8}
        trials = sum(v for v in trials.values() if isinstance(v, int))
    count = len(trials) if isinstance(trials, list) else trials
    metric = tuning.get("metric", "rmse")
    label = tuning.get("metric_label", "RMSE")
    facts = [
        ("trials", count),
        (f"best validation {label}", _first(tuning, f"best_validation_{metric}", *BEST_KEYS)),
        (
            f"default validation {label}",
            _first(tuning, f"default_validation_{metric}", *DEFAULT_KEYS),
        ),
    ]
    body = table(["item", "value"], [(name, _text(value)) for name, value in facts])
    history = tuning.get("history")
    if isinstance(history, list) and all(isinstance(r, dict) for r in history):
        body += image(plots.data_uri(plots.search_history(history)), "Search history")
    importances = _first(tuning, "parameter_importances", "importances")
    if isinstance(importances, dict) and importances:
        values = {str(k): float(v) for k, v in importances.items() if isinstance(v, int | float)}
        if values:
            body += table(["parameter", "importance"], [(k, f"{v:.3g}") for k, v in values.items()])
            figure = plots.bar_figure(values, title="Parameter importances", xlabel="importance")
            body += image(plots.data_uri(figure), "Parameter importances")
    best = _first(tuning, "best_params")
    if isinstance(best, dict):
        body += paragraph("Best parameters") + table(
            ["parameter", "value"], [(k, _text(v)) for k, v in best.items()]
        )
    return Section("tuning", "Hyper-parameter search", body)


def _first(document: dict[str, Any], *keys: str) -> Any:
    return next((document[key] for key in keys if document.get(key) is not None), None)
