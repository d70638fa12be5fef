"""``deepfit monitor``: have the new rows drifted from the training data, and does the model
still hold up on them? A verdict: fine, watch or retrain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deepfit.cli.common import Force, Json, ModelPath, note_unseen
from deepfit.cli.harness import say, user_errors

if TYPE_CHECKING:
    from rich.table import Table

    from deepfit.monitor.drift import FeatureDrift

MIN_ROWS = 500  # fewer new rows give noisy bins: said in a note
SHOWN_FEATURES = 20  # the terminal table's longest list; the page and --json hold them all


@user_errors
def monitor(
    model_path: ModelPath,
    data: Annotated[
        Path,
        typer.Argument(
            help="CSV, TSV or Parquet file of new rows: the model's feature columns, and the "
            "target too for performance."
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Target column, to score the model on the new rows; the model's own target "
            "is used when DATA has that column.",
        ),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="HTML page to write: the verdict, drift by feature and charts of training "
            "against new shares.",
        ),
    ] = None,
    force: Force = False,
    as_json: Json = False,
) -> None:
    """Compare new rows with the model's training data: the drift of every feature and of the
    predictions (population stability index: below 0.1 fine, up to 0.25 watch, above drifted)
    and, when DATA holds the target, the model's metrics now against those at training time.
    Ends with a verdict: fine, watch or retrain.
    """
    import numpy as np

    from deepfit.data.io import read_table
    from deepfit.errors import ConfigError, DataError
    from deepfit.estimator.load import load_estimator
    from deepfit.files import check_writable
    from deepfit.monitor.drift import measure_drift
    from deepfit.monitor.page import MonitorResult, write_monitor_page
    from deepfit.monitor.reference import model_reference
    from deepfit.monitor.verdict import performance, verdict

    if out_path is not None:
        check_writable(out_path, overwrite=force)
    model = load_estimator(model_path, "deepfit monitor")
    frame = read_table(data)
    column = target or model.target_name_
    if target is not None and column not in frame.columns:
        raise DataError(
            f"{data} has no target column '{column}' that --target names; the columns are: "
            f"{', '.join(map(str, frame.columns[:20]))}"
        )
    notes: list[str] = []
    X = frame.drop(columns=[column], errors="ignore")
    has_column = column in frame.columns
    known = frame[column].notna().to_numpy() if has_column else np.zeros(len(frame), dtype=bool)
    labelled = bool(known.any())
    y = model.task_.check_target(frame.loc[known, column], column) if labelled else None
    if has_column and not known.all():
        notes.append(
            f"{int((~known).sum()):,} of {len(frame):,} rows have no '{column}' yet: drift is "
            f"measured on every row, the performance on the {int(known.sum()):,} labelled"
        )
    features = model.prepare(X)
    note_unseen(features.unseen_categories)
    answers = model.answers(features)
    task = model.task_
    reference = model_reference(
        getattr(model, "reference_", None), model.preprocessor_, task.n_outputs
    )
    drifts: list[FeatureDrift] = []
    if reference is None:
        missing = (
            f"{model_path} holds no reference of its training data (it was trained before "
            "deepfit kept one); retrain it with this version of deepfit to monitor drift"
        )
        if not labelled:
            raise ConfigError(missing)
        notes.append(missing + "; only the performance is compared")
    else:
        drifts = measure_drift(reference, model.preprocessor_, features, answers)
    if len(X) < MIN_ROWS and reference is not None:
        notes.append(
            f"only {len(X)} rows: drift measured on fewer than {MIN_ROWS} rows is noisy, "
            "so a small PSI may be chance"
        )
    stored = getattr(model, "metrics_", None)
    measured = None if y is None else performance(task, stored, y, answers[known])
    result = MonitorResult(
        model=model_path.name,
        data=data.name,
        rows=len(X),
        target=model.target_name_,
        drifts=drifts,
        verdict=verdict(drifts, measured),
        performance=measured,
        notes=tuple(notes),
    )
    if out_path is not None:
        write_monitor_page(out_path, result, overwrite=force)
    if as_json:
        say(json.dumps(_document(result, out_path), indent=1))
        return
    _print(result, task)
    if out_path is not None:
        say(f"wrote {out_path}")


def _document(result: Any, out_path: Path | None) -> dict[str, Any]:
    return {
        "model": result.model,
        "data": result.data,
        "rows": result.rows,
        "verdict": result.verdict.to_dict(),
        "drift": [drift.to_dict() for drift in result.drifts],
        "performance": None if result.performance is None else result.performance.to_dict(),
        "notes": list(result.notes),
        "page": None if out_path is None else str(out_path),
    }


def _print(result: Any, task: Any) -> None:
    from deepfit.report.console import metrics_table

    for note in result.notes:
        say(f"note: {note}")
    if result.drifts:
        say(_drift_table(result.drifts, title=f"{result.data}: {result.rows} rows, drift"))
    measured = result.performance
    if measured is not None:
        columns = {"now": {"rows": measured.now}}
        if measured.at_training is not None:
            columns[f"at training ({measured.split})"] = {"rows": measured.at_training}
        say(metrics_table(columns, split="rows", title="performance", task=task))
    say(f"verdict: {result.verdict.status}")
    for reason in result.verdict.reasons:
        say(f"  - {reason}")


def _drift_table(drifts: list[FeatureDrift], *, title: str) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    for header, justify in (("feature", "left"), ("PSI", "right"), ("status", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    table.add_column("what moved")
    for drift in drifts[:SHOWN_FEATURES]:  # names and readings are the user's: not markup
        style = {"drifted": "red", "watch": "yellow"}.get(drift.status, "")
        status = Text(drift.status, style=style)
        table.add_row(Text(drift.feature), f"{drift.value:.3f}", status, Text(drift.detail))
    if len(drifts) > SHOWN_FEATURES:
        table.caption = f"{len(drifts) - SHOWN_FEATURES} more, all below the worst shown"
    return table
