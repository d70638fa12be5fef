"""Rich tables for the terminal: metrics beside baselines, the schema, a model's summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from deepfit.estimator import Regressor
    from deepfit.evaluation.scoring import MetricsBySplit

SHOWN_METRICS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "median_ae": "median AE",
    "r2": "R²",
    "explained_variance": "expl. variance",
    "mape": "MAPE",
    "rmsle": "RMSLE",
    "mse": "MSE",
    "msle": "MSLE",
}
SPLITS = ("train", "validation", "test")


def format_value(name: str, value: float | None) -> str:
    """A metric as a person reads it: percentages for MAPE, a few significant digits otherwise."""
    if value is None:
        return "-"
    if name == "mape":
        return f"{value:.2%}"
    if name in {"r2", "explained_variance", "msle", "rmsle"}:
        return f"{value:.4f}"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value:.4g}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def metrics_table(metrics: MetricsBySplit, *, split: str, title: str) -> Table:
    """Metrics as rows, one column per model (deepfit first), on ``split``; best RMSE in bold."""
    columns = {model: by_split[split] for model, by_split in metrics.items() if split in by_split}
    best_rmse = min((s["rmse"] for s in columns.values() if "rmse" in s), default=None)
    headers = [
        f"[bold]{model}[/bold]" if scores.get("rmse") == best_rmse else model
        for model, scores in columns.items()
    ]
    return _metric_rows(title, headers, list(columns.values()))


def splits_table(scores: dict[str, dict[str, float]], *, title: str) -> Table:
    """Metrics as rows, one column per split, for a single model."""
    present = [split for split in SPLITS if split in scores]
    return _metric_rows(title, present, [scores[split] for split in present])


def _metric_rows(title: str, headers: list[str], columns: list[dict[str, float]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for header in headers:
        table.add_column(header, justify="right")
    for name, label in SHOWN_METRICS.items():
        if any(name in scores for scores in columns):
            table.add_row(label, *(format_value(name, scores.get(name)) for scores in columns))
    return table


def schema_table(model: Regressor) -> Table:
    """Each input column with its role and what preprocessing learned about it."""
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
    for column in prep.schema.columns:
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
    return table


def training_lines(model: Regressor) -> list[str]:
    """A few lines that say how training went."""
    summary: dict[str, Any] = model.training_summary_
    n_parameters = sum(p.numel() for p in model.network_.parameters())
    # the architecture the network was built with (a fine-tuned model's comes from its base)
    built = getattr(model, "network_params_", None) or model.get_params()
    layers = "x".join(str(w) for w in built["hidden_layers"])
    return [
        f"model: {built['model']} ({layers}, {built['activation']}, dropout {built['dropout']}), "
        f"{n_parameters:,} parameters",
        f"training: {summary.get('epochs')} epochs in {summary.get('seconds', 0):.1f} s on "
        f"{summary.get('device')}, best epoch {summary.get('best_epoch')}; "
        f"{summary.get('stop_reason')}",
    ]
