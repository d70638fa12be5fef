"""What ``deepfit tune`` prints: the top trials, the parameter importances, the verdict."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState
from rich import box
from rich.table import Table

from deepfit.tuning.objective import DEFAULT_ATTR

NOT_IMPROVED = "the search did not improve on the default settings"
SHORT = {
    "activation": "act",
    "dropout": "drop",
    "learning_rate": "lr",
    "weight_decay": "wd",
    "batch_size": "batch",
}


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2g}"
    return "none" if value is None else str(value)


def top_trials_table(
    study: optuna.Study, *, top: int = 10, label: str = "validation RMSE", metric: str = "RMSE"
) -> Table:
    """The ``top`` completed trials, lowest value first, with their parameters."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = sorted(done, key=lambda trial: (trial.value, trial.number))[:top]
    names = list(dict.fromkeys(name for trial in ranked for name in trial.params))
    table = Table(
        title=f"top {len(ranked)} of {len(study.trials)} trials ({label})",
        title_justify="left",
        caption="* the default settings",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("#", justify="right")
    table.add_column(metric, justify="right")
    table.add_column("s", justify="right")
    for name in names:
        table.add_column(SHORT.get(name, name), justify="right")
    for trial in ranked:
        seconds = trial.duration.total_seconds() if trial.duration is not None else None
        mark = "*" if trial.user_attrs.get(DEFAULT_ATTR) else ""
        table.add_row(
            f"{mark}{trial.number}",
            f"{trial.value:.5g}",
            "-" if seconds is None else f"{seconds:.1f}",
            *(_value(trial.params.get(name)) for name in names),
        )
    return table


def importance_table(importances: dict[str, float]) -> Table:
    """Parameter importances (fANOVA), most important first."""
    table = Table(title="parameter importances", title_justify="left")
    table.add_column("parameter")
    table.add_column("importance", justify="right")
    for name, value in sorted(importances.items(), key=lambda item: -item[1]):
        table.add_row(name, f"{value:.3f}")
    return table


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The search in a few lines: trials, time, default vs best, improvement, test score."""
    label = summary["scoring"]
    metric = summary.get("metric", "rmse")
    states = ", ".join(f"{n} {state}" for state, n in summary["trials"].items())
    within = "within" if summary["within_time_limit"] else "over"
    lines = [
        f"study '{summary['study_name']}': {states}; this run {summary['seconds']:.1f} s "
        f"({within} the {summary['time_limit']:g} s limit)",
    ]
    default = summary[f"default_validation_{metric}"]
    best = summary[f"best_validation_{metric}"]
    lines.append(
        "default settings: " + ("did not complete" if default is None else f"{label} {default:.6g}")
    )
    lines.append(f"best (trial {summary['best_trial']}): {label} {best:.6g}")
    if summary["improved"] is None:
        lines.append("the default settings did not complete, so there is nothing to compare")
    elif summary["improved"]:
        percent = summary["improvement_percent"]
        share = "" if percent is None else f" ({percent:.1f}%)"
        lines.append(f"improvement over the default: {summary['improvement']:.6g}{share}")
    else:
        lines.append(NOT_IMPROVED)
    retrained = ", retrained with the best settings" if summary["retrained"] else ""
    test = summary[f"test_{metric}"]
    lines.append(f"best model{retrained}: test {summary.get('metric_label', 'RMSE')} {test:.6g}")
    return lines
