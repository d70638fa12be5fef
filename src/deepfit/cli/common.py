"""Arguments and options that several commands share, and what they print in common."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from deepfit.cli.harness import say, tell
from deepfit.data.io import read_table
from deepfit.errors import DataError

ModelPath = Annotated[Path, typer.Argument(metavar="MODEL", help="A .deepfit model file.")]
LabelledData = Annotated[
    Path, typer.Argument(help="Labelled CSV, TSV or Parquet file (features and target).")
]
ModelTarget = Annotated[
    str | None,
    typer.Option("--target", "-t", help="Target column; the model's own by default."),
]
Force = Annotated[bool, typer.Option("--force", help="Replace the output if it exists.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document, for scripts.")]
MemoryBudget = Annotated[
    str | None,
    typer.Option(
        "--memory-budget",
        metavar="SIZE",
        help="Most memory the data may take, e.g. 2GB; a larger file is streamed a piece at a "
        "time instead of read whole [half the memory available].",
    ),
]
TaskOption = Annotated[
    str | None,
    typer.Option(
        "--task",
        help="regression or classification; inferred from the target when omitted (text, "
        "booleans or two values: classification).",
    ),
]


def labelled_rows(model: Any, data: Path, target: str | None, *, needs: str) -> Any:
    """Features and the checked target of DATA's labelled rows for ``model`` (a note counts
    the rows whose target is empty); a DataError when the target column is missing."""
    from deepfit.trained import drop_unlabelled, split_target

    frame = read_table(data)
    column = target or model.target_name_
    if column not in frame.columns:
        raise DataError(
            f"{data} has no target column '{column}', which {needs}; add the labels, or name "
            "the target column with --target"
        )
    return split_target(drop_unlabelled(frame, column), column, model.task_)


def print_training(result: Any) -> None:
    """What ``train`` and ``demo`` print: splits, columns, training, metrics by split."""
    from deepfit.report.console import (
        TRAIN_COLUMNS_SHOWN,
        metrics_table,
        schema_table,
        splits_table,
        training_lines,
    )

    model = result.model
    task = model.task_
    sizes = ", ".join(f"{n} {split}" for split, n in result.split_sizes.items())
    columns = schema_table(model, limit=TRAIN_COLUMNS_SHOWN)
    say(f"rows: {sizes}", columns, *training_lines(model))
    say(splits_table(result.metrics["deepfit"], title="deepfit on each split", task=task))
    split = "test" if "test" in result.metrics["deepfit"] else "validation"
    title = f"{split} set: deepfit beside baselines ({model.target_name_})"
    say(metrics_table(result.metrics, split=split, title=title, task=task))


def note_unseen(count: int) -> None:
    if count:
        tell(
            f"note: {count} categorical value(s) were not seen in training and used the "
            "'unknown' category"
        )
