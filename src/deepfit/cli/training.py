"""``deepfit train`` and ``deepfit demo``: fit a model on a table and save it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from deepfit.cli.common import Force, MemoryBudget, TaskOption, print_training
from deepfit.cli.forecasting import (
    KnownColumns,
    SeriesColumn,
    TimeColumn,
    forecaster_params,
    refuse_forecast_options,
    train_forecast,
)
from deepfit.cli.harness import (
    INTERRUPTED,
    another_process,
    fail,
    say,
    split_names,
    tell,
    user_errors,
)
from deepfit.cli.images import (
    LabelsFile,
    SkipBad,
    image_params,
    refuse_image_options,
    train_images,
)
from deepfit.cli.options import encoding_option, estimator_options


@user_errors
@encoding_option
@estimator_options
def train(
    data: Annotated[
        Path,
        typer.Argument(
            help="CSV, TSV or Parquet file: features and target; or a folder of images "
            "(with --labels)."
        ),
    ],
    target: Annotated[str, typer.Option("--target", "-t", help="Name of the column to predict.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model.")] = Path(
        "model.deepfit"
    ),
    task: TaskOption = None,
    time: TimeColumn = None,
    series: SeriesColumn = None,
    known: KnownColumns = None,
    labels: LabelsFile = None,
    skip_bad: SkipBad = False,
    validation: Annotated[
        Path | None,
        typer.Option(help="A separate validation file; then DATA is split into train/test only."),
    ] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of DATA held out to test.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed for the split and the training.")] = 0,
    categorical: Annotated[
        list[str] | None, typer.Option(help="Treat these columns as categorical.")
    ] = None,
    numeric: Annotated[
        list[str] | None, typer.Option(help="Treat these columns as numeric.")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="Ignore these columns.")] = None,
    baselines: Annotated[
        bool, typer.Option(help="Fit the task's baselines (e.g. LightGBM) for comparison.")
    ] = True,
    force: Force = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the run saved in --checkpoint-dir (if there is one)."
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report of the model on the test split here."),
    ] = None,
    memory_budget: MemoryBudget = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Train in this many processes on this machine (PyTorch DDP through torchrun; "
            "--batch-size is each process's). Under an outer torchrun, leave it out: each "
            "process joins its rendezvous.",
        ),
    ] = 1,
    params: dict[str, Any] | None = None,
) -> None:
    """Train a network on DATA to predict TARGET, print metrics beside baselines, save the model.

    With --time, forecast TARGET --horizon steps ahead from each series' history instead.
    With a folder of images as DATA and --labels, predict TARGET from each image.
    Ctrl-C stops training after the current batch, then scores and saves the best model so far
    and exits with status 130; a second Ctrl-C aborts at once.
    """
    from deepfit.data.io import read_table
    from deepfit.data.stream import head, parse_size
    from deepfit.errors import ConfigError
    from deepfit.files import check_writable
    from deepfit.streamed import agreed_plan, train_streamed
    from deepfit.trained import choose_task
    from deepfit.training.distributed import launch, under_torchrun
    from deepfit.training.state import INTERRUPTED as STOPPED
    from deepfit.workflow import train_table

    check_writable(out_path, overwrite=force)
    if (processes > 1 or under_torchrun()) and (data.is_dir() or labels or time):
        raise ConfigError(
            "training across processes covers tables; train image and forecasting models in "
            "one process (drop --processes, or start one process)"
        )
    if processes > 1:
        raise typer.Exit(launch(processes, without_option(sys.argv[1:], "--processes")))
    if data.is_dir() or labels is not None:
        extra = [
            name
            for name, value in (
                ("--time", time),
                ("--series", series),
                ("--validation", validation),
                ("--categorical", categorical),
                ("--numeric", numeric),
                ("--drop", drop),
            )
            if value
        ]
        if extra or task not in (None, "regression"):
            first = extra[0] if extra else f"--task {task}"
            raise ConfigError(f"{first} does not apply to image models (DATA is a folder)")
        train_images(
            data,
            labels=labels,
            target=target,
            params=image_params(dict(params or {}), seed),
            out_path=out_path,
            force=force,
            quiet=quiet,
            test_fraction=test_fraction,
            seed=seed,
            baselines=baselines,
            skip_bad=skip_bad,
            resume=resume,
            report=report,
        )
        return
    if skip_bad:
        raise ConfigError("--skip-bad applies to folders of images only")
    if time is not None:
        extra = [
            name
            for name, value in (
                ("--task", task),
                ("--validation", validation),
                ("--report", report),
            )
            if value is not None
        ]
        if extra or resume:
            raise ConfigError(
                f"{(extra or ['--resume'])[0]} does not apply to forecasting (--time)"
            )
        train_forecast(
            data,
            target=target,
            time=time,
            series=series,
            known=known,
            params=forecaster_params(dict(params or {}), seed),
            out_path=out_path,
            force=force,
            quiet=quiet,
        )
        return
    if series is not None or known:
        raise ConfigError("--series and --known need --time TIME_COLUMN (a forecasting run)")
    refuse_forecast_options(dict(params or {}))
    refuse_image_options(dict(params or {}))
    if report is not None:
        check_writable(report, overwrite=force)
    settings = dict(params or {})
    roles = {name: "categorical" for name in split_names(categorical)}
    roles |= {name: "numeric" for name in split_names(numeric)}
    roles |= {name: "drop" for name in split_names(drop)}
    budget = None if memory_budget is None else parse_size(memory_budget)
    plan = agreed_plan(data, budget, str(settings.get("device", "auto")))
    say(plan.line())
    frame = head(data) if plan.stream else read_table(data)
    choice = choose_task(frame, target, task)
    say(choice.line)
    if choice.warning:
        tell(f"note: {choice.warning}")
    options: dict[str, Any] = dict(
        target=target,
        task=choice.task,
        validation=validation,
        validation_fraction=settings.pop("validation_fraction", 0.15),
        test_fraction=test_fraction,
        seed=seed,
        baselines=baselines,
        resume=resume,
        column_roles=roles or None,
        verbose=0 if quiet else 1,
        **settings,
    )
    try:
        result = train_streamed(plan, **options) if plan.stream else train_table(frame, **options)
        for note in result.notes:
            say(note)
        if another_process():  # rank 0 prints and saves
            if result.model.training_summary_.get("stop_reason") == STOPPED:
                raise typer.Exit(INTERRUPTED)
            return
        print_training(result)
        resumed = result.model.training_summary_.get("resumed_from_epoch")
        if resumed is not None:
            say(f"resumed from the checkpoint of epoch {resumed}")
        result.model.save(out_path, overwrite=force)
        say(f"saved model to {out_path}")
        if report is not None:
            _write_report(result, report, overwrite=force)
    except KeyboardInterrupt:  # Ctrl-C outside training, or a second one during it
        fail("aborted (Ctrl-C); no model was saved", INTERRUPTED)
    summary = result.model.training_summary_
    if summary.get("stop_reason") == STOPPED:
        skipped = ", without baselines" if baselines else ""
        folder = settings.get("checkpoint_dir")
        again = f"; --resume continues from the last checkpoint in {folder}" if folder else ""
        tell(
            f"interrupted (Ctrl-C) after {summary.get('epochs')} epoch(s): saved the best model "
            f"so far to {out_path}{skipped}{again}"
        )
        raise typer.Exit(INTERRUPTED)


def _write_report(result: Any, path: Path, *, overwrite: bool) -> None:
    """``train --report``: the HTML report on the test split's rows."""
    from deepfit.report.report import write_report

    if result.test is None or len(result.test[1]) < 2:
        tell("note: no report written: the test split has fewer than 2 rows")
        return
    X_test, y_test = result.test
    write_report(result.model, X_test, y_test, path, overwrite=overwrite)
    say(f"wrote the report on {len(y_test)} test rows to {path}")


@user_errors
def demo(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the demo model.")
    ] = Path("runs/diamonds.deepfit"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train on the bundled diamonds data (53,940 rows, target: price) and report."""
    from deepfit.data.datasets import DIAMONDS_TARGET, load_diamonds
    from deepfit.workflow import train_table

    frame = load_diamonds()
    say(
        f"demo: ggplot2 diamonds (from plotnine), {len(frame):,} rows, "
        f"predicting '{DIAMONDS_TARGET}' from {frame.shape[1] - 1} columns"
    )
    result = train_table(frame, target=DIAMONDS_TARGET, verbose=0 if quiet else 1)
    say(result.task.line)
    print_training(result)
    result.model.save(out_path, overwrite=True)  # the demo's own output, replaced on each run
    say(f"saved model to {out_path}; try: deepfit info {out_path}")


def without_option(arguments: list[str], option: str) -> list[str]:
    """``arguments`` without ``option`` and its value (``--option N`` or ``--option=N``).

    Example:
        >>> without_option(["train", "d.csv", "--processes", "2", "-q"], "--processes")
        ['train', 'd.csv', '-q']
    """
    kept: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == option:
            skip = True
        elif not argument.startswith(f"{option}="):
            kept.append(argument)
    return kept
