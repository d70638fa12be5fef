"""``deepfit tune`` and ``deepfit study``: search settings, or vary one factor at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from deepfit.cli.common import TaskOption
from deepfit.cli.harness import INTERRUPTED, fail, say, tell, user_errors


@user_errors
def study(
    data: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet file with the target.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    vary: Annotated[
        list[str],
        typer.Option(
            help="FACTOR=V1,V2,... to vary alone (repeatable): learning_rate, width, depth, "
            "hidden_layers (256x256,...), activation, max_epochs, regularization "
            "(none,l1,l2,elastic_net,dropout), model, train_size, features (x1+x2, "
            "drop:colour), or any parameter of the task's estimator (loss for regression, "
            "label_smoothing or class_weight for classification, ...)."
        ),
    ],
    seeds: Annotated[str, typer.Option(help="Seeds, separated by commas.")] = "0,1,2",
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="NAME=VALUE held for every run (repeatable)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="New or empty folder for tables and plots.")
    ] = Path("study"),
    force: Annotated[
        bool, typer.Option("--force", help="Write into --out even if it holds files.")
    ] = False,
    task: TaskOption = None,
) -> None:
    """Vary one factor at a time over values and seeds; tables and a plot per factor.

    The metrics are the task's: RMSE, R², ... for regression; log-loss, accuracy, ... for
    classification.

    Example: deepfit study data.csv --target y --vary learning_rate=0.01,0.1,1 --set max_epochs=30
    """
    import shlex

    from deepfit.errors import ConfigError
    from deepfit.study import run_study
    from deepfit.study.factors import name_value_pairs as pairs
    from deepfit.study.factors import split_values
    from deepfit.study.table import headline, rich_table
    from deepfit.tasks.inference import TaskChoice

    try:
        seed_list = [int(seed) for seed in split_values(seeds)]
    except ValueError:
        raise ConfigError(
            f"--seeds expects whole numbers separated by commas; got {seeds!r}"
        ) from None
    factors = {name: split_values(values) for name, values in pairs(vary, "--vary")}
    held = dict(pairs(settings or [], "--set"))
    line = ["deepfit", "study", str(data), "--target", target, "--seeds", seeds]
    if task is not None:
        line += ["--task", task]
    line += [part for option in vary for part in ("--vary", option)]
    line += [part for option in settings or [] for part in ("--set", option)]
    line += ["--out", str(out_dir), *(["--force"] if force else [])]
    chosen: list[str] = []

    def start(choice: TaskChoice) -> None:
        chosen.append(choice.task)
        say(choice.line)

    def progress(factor: str, done: int, total: int, row: dict[str, Any]) -> None:
        note = f"  {row['note']}" if row["note"] else ""
        tell(
            f"[{factor} {done}/{total}] {factor}={row['value']} seed={row['seed']}: "
            f"{headline(row, chosen[0])}, {row['seconds']:.1f}s{note}"
        )

    result = run_study(
        data,
        target=target,
        vary=factors,
        seeds=seed_list,
        settings=held,
        task=task,
        out=out_dir,
        overwrite=force,
        command=shlex.join(line),
        on_start=start,
        on_run=progress,
        on_factor=lambda factor: say(
            rich_table(factor.name, factor.summary, seeds=len(seed_list), task=factor.task)
        ),
    )
    say(f"wrote {len(result.files)} files to {out_dir}")


@user_errors
def tune(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with features and the target.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Name of the column to predict.")],
    trials: Annotated[
        int, typer.Option(min=1, help="Finished trials the study should have (a resumed one too).")
    ] = 50,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1.0, help="Seconds this search may take.")
    ] = 600.0,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Study storage URL (PostgreSQL for several machines); default: "
            "sqlite tune.db beside --out."
        ),
    ] = None,
    study_name: Annotated[
        str | None, typer.Option(help="Study to create or continue; default: DATA's name-TARGET.")
    ] = None,
    cv: Annotated[
        int | None, typer.Option(min=2, help="Score by K-fold cross-validation on train+valid.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, the sampler and training.")] = 0,
    max_epochs: Annotated[int, typer.Option(min=1, help="Most epochs of each trial.")] = 200,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the best model.")
    ] = Path("best.deepfit"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace the model and trials CSV if they exist.")
    ] = False,
    task: TaskOption = None,
) -> None:
    """Search the network's settings with Optuna (TPE, pruning) and save the best model.

    The score is the task's: validation RMSE for regression, log-loss for classification.

    Trial 0 is the default settings (without --model: auto's, the model train gives),
    and the search space sits around them; the study is stored (sqlite tune.db beside --out by
    default), so running the same command again continues it. Writes the best model to
    --out and every trial to OUT.trials.csv (same name, .trials.csv suffix).
    """
    from deepfit.data.io import read_table
    from deepfit.files import check_writable
    from deepfit.tasks import TASKS
    from deepfit.trained import choose_task
    from deepfit.tuning import tune as run_tune
    from deepfit.tuning.history import write_trials_csv
    from deepfit.tuning.table import importance_table, summary_lines, top_trials_table

    trials_csv = out_path.with_suffix(".trials.csv")
    check_writable(out_path, overwrite=force)
    check_writable(trials_csv, overwrite=force)
    if storage is None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out_path.parent / 'tune.db').resolve()}"
    name = study_name or f"{data.stem}-{target}"
    frame = read_table(data)
    choice = choose_task(frame, target, task)
    say(choice.line)
    chosen = TASKS[choice.task]
    label = chosen.shown_metrics[chosen.primary_metric]

    def show(trial: Any) -> None:
        tell(_trial_line(trial, label))

    try:
        result = run_tune(
            frame,
            target=target,
            task=choice.task,
            trials=trials,
            time_limit=time_limit,
            storage=url,
            study_name=name,
            cv=cv,
            seed=seed,
            progress=show,
            max_epochs=max_epochs,
        )
    except KeyboardInterrupt:
        fail(
            f"interrupted (Ctrl-C); study '{name}' is kept in {url}: run the same command to "
            "continue it",
            INTERRUPTED,
        )
    summary = result.summary
    say(top_trials_table(result.study, label=summary["scoring"], metric=label))
    if summary["importances"]:
        say(importance_table(summary["importances"]))
    for line in summary_lines(summary):
        say(line)
    result.model.save(out_path, overwrite=force)
    write_trials_csv(result.study, trials_csv, overwrite=force)
    say(f"saved the best model to {out_path} and the trials to {trials_csv}")
    say(f"study '{name}' is stored in {summary['storage']}")


def _trial_line(trial: Any, label: str = "RMSE") -> str:
    """One finished trial, as ``deepfit tune`` prints it while searching."""
    seconds = trial.duration.total_seconds() if trial.duration is not None else 0.0
    if trial.state.name == "PRUNED":  # its value is a training loss, not the score
        steps = trial.intermediate_values
        value = f" after {max(steps)} epoch(s)" if steps else ""
    else:
        value = "" if trial.value is None else f", {label} {trial.value:.6g}"
    return f"trial {trial.number}: {trial.state.name.lower()}{value} ({seconds:.1f} s)"
