"""Rich tables for the terminal: metrics beside baselines, the schema, a model's summary.

The metrics shown, their order and which one ranks the models come from the model's task.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.table import Table

from deepfit.tasks import TASKS, Task

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator
    from deepfit.evaluation.crossval import CrossValidation
    from deepfit.evaluation.scoring import MetricsBySplit

SPLITS = ("train", "validation", "test")
TRAIN_COLUMNS_SHOWN = 40  # rows of the Columns table after training; `deepfit info` shows all
FRACTIONS = {"mape", "accuracy", "balanced_accuracy"}  # shown as percentages
UNIT_FREE = {
    "r2",
    "explained_variance",
    "msle",
    "rmsle",
    "log_loss",
    "brier",
    "roc_auc",
    "f1_macro",
}


def format_value(name: str, value: float | None) -> str:
    """A metric as a person reads it: percentages for shares, a few significant digits else.

    Example:
        >>> format_value("rmse", 1234.5), format_value("accuracy", 0.9123)
        ('1,234.5', '91.23%')
    """
    if value is None:
        return "-"
    if name in FRACTIONS:
        return f"{value:.2%}"
    if name in UNIT_FREE:
        return f"{value:.4f}"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value:.4g}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def metrics_table(metrics: MetricsBySplit, *, split: str, title: str, task: Task) -> Table:
    """Metrics as rows, one column per model (deepfit first), on ``split``; the best model by
    the task's primary metric in bold."""
    columns = {model: by_split[split] for model, by_split in metrics.items() if split in by_split}
    best = _best(task, list(columns.values()))
    headers = [
        f"[bold]{model}[/bold]" if index == best else model for index, model in enumerate(columns)
    ]
    return _metric_rows(title, headers, list(columns.values()), task)


def splits_table(scores: dict[str, dict[str, float]], *, title: str, task: Task) -> Table:
    """Metrics as rows, one column per split, for a single model."""
    present = [split for split in SPLITS if split in scores]
    return _metric_rows(title, present, [scores[split] for split in present], task)


def crossval_table(result: CrossValidation, title: str | None = None) -> Table:
    """Cross-validation's metrics as rows, models as columns (deepfit first), "mean ± std".

    The model with the best mean primary metric has a bold header; the caption gives the
    fold count, the seed and the seconds taken.
    """
    task = TASKS[result.task]()
    summary = result.summary
    means = [{name: cell.mean for name, cell in scores.items()} for scores in summary.values()]
    best = _best(task, means)
    folds = len(result.folds)
    table = Table(
        title=title or f"{folds}-fold cross-validation: mean ± std",
        title_justify="left",
        caption=f"{folds} folds, seed {result.seed}, {result.seconds:.1f} s",
        caption_justify="left",
    )
    table.add_column("metric")
    for index, model in enumerate(summary):
        table.add_column(f"[bold]{model}[/bold]" if index == best else model, justify="right")
    for name, label in task.shown_metrics.items():
        cells = [scores.get(name) for scores in summary.values()]
        if any(cell is not None for cell in cells):
            table.add_row(
                label,
                *(
                    "-"
                    if cell is None
                    else f"{format_value(name, cell.mean)} ± {format_value(name, cell.std)}"
                    for cell in cells
                ),
            )
    return table


def _best(task: Task, columns: list[dict[str, float]]) -> int | None:
    """The position of the column best on the task's primary metric, if any has it."""
    metric = task.primary_metric
    best: int | None = None
    for index, scores in enumerate(columns):
        value = scores.get(metric)
        if value is None:
            continue
        if best is None or task.better(metric, value, columns[best][metric]):
            best = index
    return best


def _metric_rows(
    title: str, headers: list[str], columns: list[dict[str, float]], task: Task
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for header in headers:
        table.add_column(header, justify="right")
    for name, label in task.shown_metrics.items():
        if any(name in scores for scores in columns):
            table.add_row(label, *(format_value(name, scores.get(name)) for scores in columns))
    return table


def schema_table(model: Estimator, limit: int | None = None) -> Table:
    """Each input column with its role and what preprocessing learned about it; past
    ``limit`` rows, the first ``limit - 1`` columns and one row that counts the rest by role."""
    prep = model.preprocessor_
    numeric = dict(
        zip(
            prep.numeric_names,
            zip(prep.medians, prep.scales, prep.missing_in_training, strict=True),
            strict=True,
        )
    )
    table = Table(title="Columns", title_justify="left")
    for header in ("column", "role", "learned in training"):
        table.add_column(header)
    columns = list(prep.schema.columns)
    rest = columns[limit - 1 :] if limit is not None and len(columns) > limit else []
    for column in columns[: len(columns) - len(rest)]:
        detail = column.reason
        if column.role in {"numeric", "boolean"} and column.name in numeric:
            median, scale, missing = numeric[column.name]
            detail = f"median {median:.4g}, scale {scale:.4g}" + (
                ", missing → indicator" if missing else ""
            )
        elif column.role == "categorical":
            vocabulary = prep.vocabularies[column.name]
            preview = ", ".join(vocabulary[:5]) + (", …" if len(vocabulary) > 5 else "")
            detail = f"{len(vocabulary)} categories + unknown: {preview}"
        elif column.role == "datetime":
            detail = "parts: " + ", ".join(prep.date_parts.get(column.name, []))
        table.add_row(column.name, column.role, detail)
    if rest:
        roles = Counter(column.role for column in rest)
        counted = ", ".join(f"{count:,} {role}" for role, count in roles.most_common())
        table.add_row(f"… {len(rest):,} more", counted, "deepfit info MODEL lists every column")
    return table


def training_lines(model: Estimator) -> list[str]:
    """A few lines that say how training went."""
    summary: dict[str, Any] = model.training_summary_
    n_parameters = sum(p.numel() for p in model.network_.parameters())
    built = model.settings_  # the architecture the network was built with
    layers = "x".join(str(w) for w in built["hidden_layers"])
    return [
        f"model: {built['model']} ({layers}, {built['activation']}, dropout {built['dropout']}), "
        f"{n_parameters:,} parameters",
        f"training: {summary.get('epochs')} epochs in {summary.get('seconds', 0):.1f} s on "
        f"{summary.get('device')}, best epoch {summary.get('best_epoch')}; "
        f"{summary.get('stop_reason')}",
    ]
