"""``deepfit explain`` and ``deepfit report``: why a model predicts what it does, how well."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deepfit.cli.common import LabelledData, ModelPath, ModelTarget, labelled_rows
from deepfit.cli.harness import say, user_errors


@user_errors
def explain(
    model_path: ModelPath,
    data: LabelledData,
    target: ModelTarget = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="New or empty folder for the CSVs and PNGs.")
    ] = Path("explain"),
    top: Annotated[
        int, typer.Option(min=0, help="Partial-dependence plots for this many top features.")
    ] = 3,
    rows: Annotated[
        int, typer.Option(min=1, help="Rows to attribute (drawn with --seed) and average over.")
    ] = 200,
    repeats: Annotated[
        int, typer.Option(min=1, help="Shuffles per column for permutation importance.")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Seed for the shuffles and the row sample.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Write into --out even if it holds files.")
    ] = False,
) -> None:
    """Which features matter to MODEL on labelled DATA, globally and per prediction.

    Prints permutation importance and mean |integrated gradients| per column, and writes
    importance.csv, attributions.csv, partial_dependence.csv and PNG charts into --out.
    """
    from deepfit.estimator import load_estimator
    from deepfit.explain import explain as explain_model
    from deepfit.explain import explanation_notes, explanation_table
    from deepfit.explain.explanation import check_folder

    check_folder(out_dir, overwrite=force)
    model = load_estimator(model_path, "explain")
    X, y = labelled_rows(
        model, data, target, needs="permutation importance needs to measure the error"
    )
    result = explain_model(model, X, y, n_repeats=repeats, top=top, rows=rows, seed=seed)
    say(explanation_table(result))
    for line in explanation_notes(result):
        say(line)
    written = result.save(out_dir, overwrite=force)
    say(f"wrote {len(written)} files to {out_dir}")


@user_errors
def report(
    model_path: ModelPath,
    data: LabelledData,
    target: ModelTarget = None,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the HTML page.")
    ] = Path("report.html"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace the report file if it exists.")
    ] = False,
) -> None:
    """Write one self-contained HTML page about MODEL on labelled DATA.

    Metrics beside the baselines, the task's plots (predicted vs actual and residuals; or the
    confusion matrix, reliability and per-class metrics), learning curves, feature importance
    and the settings, with every chart embedded; no scripts, nothing loaded.
    """
    from deepfit.estimator import load_estimator
    from deepfit.files import check_writable
    from deepfit.report.report import write_report

    check_writable(out_path, overwrite=force)
    model = load_estimator(model_path, "report")
    X, y = labelled_rows(model, data, target, needs="the report needs to score the model")
    write_report(model, X, y, out_path, overwrite=force)
    say(f"wrote the report on {len(y)} rows to {out_path}")
