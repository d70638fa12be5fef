"""``deepfit predict`` and ``deepfit evaluate``: use a saved model on new rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from deepfit.cli.common import (
    Force,
    Json,
    LabelledData,
    MemoryBudget,
    ModelPath,
    ModelTarget,
    note_unseen,
)
from deepfit.cli.harness import say, tell, user_errors
from deepfit.cli.images import LabelsFile, SkipBad
from deepfit.cli.options import encoding_option


@user_errors
@encoding_option
def predict(
    model_path: ModelPath,
    data: Annotated[
        Path,
        typer.Argument(
            help="CSV, TSV or Parquet file with the feature columns; for an image model, a "
            "folder of images."
        ),
    ],
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="File to write (.csv, .tsv or .parquet); standard output if omitted.",
        ),
    ] = None,
    with_input: Annotated[
        bool, typer.Option(help="Write the input columns before the predictions.")
    ] = False,
    force: Force = False,
    interval: Annotated[
        float | None,
        typer.Option(
            help="A coverage level, e.g. 0.9: regression adds lower_TARGET and upper_TARGET "
            "(a conformal interval), classification adds set_TARGET (a conformal set of "
            "labels separated by |) holding the truth for this share of rows."
        ),
    ] = None,
    future: Annotated[
        Path | None,
        typer.Option(help="Forecasting: rows of the known covariates for the steps to forecast."),
    ] = None,
    labels: LabelsFile = None,
    skip_bad: SkipBad = False,
    memory_budget: MemoryBudget = None,
) -> None:
    """Predict the target for every row of DATA (with --interval, bounds or label sets too).

    For a forecasting model, DATA is the history: the forecast is the horizon after the end of
    each series in it, one row per series and step. For an image model, DATA is a folder:
    every image in it (sorted by path), or those --labels names.
    """
    from deepfit.cli.forecasting import predict_forecast
    from deepfit.cli.images import predict_images
    from deepfit.data.io import check_output_suffix, read_table, write_table
    from deepfit.data.stream import parse_size, plan_memory
    from deepfit.errors import ConfigError
    from deepfit.estimator import Forecaster, ImageRegressor, load
    from deepfit.evaluation.intervals import check_level
    from deepfit.files import check_writable
    from deepfit.streamed import predict_streamed

    if interval is not None:
        check_level(interval)
    if out_path is not None:
        check_writable(out_path, overwrite=force)
        check_output_suffix(out_path)
    model = load(model_path)
    if isinstance(model, ImageRegressor):
        if with_input or future is not None:
            raise ConfigError(
                f"{'--with-input' if with_input else '--future'} does not apply to an image model"
            )
        predict_images(
            model,
            data,
            labels=labels,
            interval=interval,
            out_path=out_path,
            force=force,
            skip_bad=skip_bad,
        )
        return
    if labels is not None or skip_bad:
        raise ConfigError("--labels and --skip-bad apply to image models only")
    if isinstance(model, Forecaster):
        if with_input:
            raise ConfigError("--with-input does not apply to a forecast (its rows are new steps)")
        predict_forecast(
            model, data, future=future, interval=interval, out_path=out_path, force=force
        )
        return
    if future is not None:
        raise ConfigError("--future applies to forecasting models only")
    if interval is not None:
        model.check_interval(interval)  # before reading DATA: can it give them?
    plan = plan_memory(data, None if memory_budget is None else parse_size(memory_budget))
    if plan.stream:
        tell(plan.line())
        rows, unseen = predict_streamed(
            model, data, out_path, interval=interval, with_input=with_input, overwrite=force
        )
        note_unseen(unseen)
        if out_path is not None:
            tell(f"wrote {rows} predictions to {out_path}")
        return
    frame = read_table(data)
    predictions, unseen = model.prediction_frame(frame, interval=interval)
    table = frame.copy() if with_input else predictions.set_axis(frame.index)
    if with_input:
        for column in predictions.columns:
            table[column] = predictions[column].to_numpy()
    note_unseen(unseen)
    if out_path is None:
        table.to_csv(sys.stdout, index=False)
        return
    write_table(table, out_path, overwrite=force)
    tell(f"wrote {len(table)} predictions to {out_path}")


@user_errors
@encoding_option
def evaluate(
    model_path: ModelPath,
    data: LabelledData,
    target: ModelTarget = None,
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv",
            metavar="K",
            help="Instead: retrain MODEL's settings on K folds of DATA (K >= 2) and show each "
            "metric as mean ± std over the held-out folds.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="With --cv: seed for the folds and the training [0].")
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="With --cv: also the task's baselines on the same folds.")
    ] = True,
    windows: Annotated[
        int, typer.Option(help="Forecasting: origins counted back from the end of DATA.")
    ] = 1,
    step: Annotated[
        int | None, typer.Option(help="Forecasting: steps between origins [the horizon].")
    ] = None,
    labels: LabelsFile = None,
    skip_bad: SkipBad = False,
    as_json: Json = False,
) -> None:
    """Metrics of MODEL on labelled DATA (in the target's units for regression).

    A forecaster forecasts from --windows origins at the end of DATA, beside the baselines.

    With --cv K, MODEL is not scored itself: its training settings are retrained from scratch
    on K-1 folds and scored on the remaining one, K times, beside the baselines.
    """
    from deepfit.cli.common import labelled_rows
    from deepfit.cli.forecasting import evaluate_forecast
    from deepfit.cli.images import evaluate_images
    from deepfit.errors import ConfigError
    from deepfit.estimator import Forecaster, ImageRegressor, load
    from deepfit.report.console import splits_table

    if cv is None and (seed is not None or not baselines):
        raise ConfigError("--seed and --no-baselines apply only with --cv")
    model = load(model_path)
    if isinstance(model, ImageRegressor):
        if cv is not None or windows != 1 or step is not None:
            raise ConfigError("--cv, --windows and --step do not apply to an image model")
        evaluate_images(
            model, data, labels=labels, target=target, as_json=as_json, skip_bad=skip_bad
        )
        return
    if labels is not None or skip_bad:
        raise ConfigError("--labels and --skip-bad apply to image models only")
    if isinstance(model, Forecaster):
        if cv is not None:
            raise ConfigError("--cv does not apply to a forecaster; use 'deepfit backtest'")
        evaluate_forecast(model, data, windows=windows, step=step, as_json=as_json)
        return
    if windows != 1 or step is not None:
        raise ConfigError("--windows and --step apply to forecasting models only")
    if cv is not None:
        _cross_validate(
            model, model_path, data, target, as_json, folds=cv, seed=seed or 0, baselines=baselines
        )
        return
    X, y = labelled_rows(model, data, target, needs="evaluating needs")
    features = model.prepare(X)
    note_unseen(features.unseen_categories)
    scores = model.task_.metrics(y, model.answers(features))
    if as_json:
        document = {"data": str(data), "rows": len(y), "task": model.task_.name, "metrics": scores}
        say(json.dumps(document, indent=1))
        return
    say(splits_table({"test": scores}, title=f"{data.name}: {len(y)} rows", task=model.task_))


def _cross_validate(
    model: Any, model_path: Path, data: Path, target: str | None, as_json: bool, **options: Any
) -> None:
    """``evaluate --cv``: MODEL's settings retrained on the folds of DATA, with its columns."""
    from deepfit.data.io import read_table
    from deepfit.data.preprocess import check_columns
    from deepfit.evaluation.crossval import Fold, cross_validate, retraining_params
    from deepfit.report.console import crossval_table

    target = target or model.target_name_
    frame = read_table(data)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:  # the columns MODEL was trained on, and no others
        features = [str(name) for name in names if str(name) != target]
        check_columns(frame, features)
        frame = frame[[*features, target]] if target in frame.columns else frame[features]
    folds = options["folds"]
    metric = model.task_.primary_metric
    label = model.task_.shown_metrics[metric]

    def progress(fold: Fold) -> None:
        value = fold.scores["deepfit"].get(metric, float("nan"))
        tell(f"fold {fold.number}/{folds}: deepfit {label} {value:.4g}")

    result = cross_validate(
        frame,
        target=target,
        progress=progress,
        task=model.task_.name,
        **options,
        **retraining_params(model),
    )
    if as_json:
        summary = {
            name: {metric: {"mean": cell.mean, "std": cell.std} for metric, cell in scores.items()}
            for name, scores in result.summary.items()
        }
        document = {"data": str(data), "folds": folds, "rows": result.n_rows, "summary": summary}
        say(json.dumps(document, indent=1))
        return
    say(
        f"{data.name}: {model_path.name}'s settings retrained on {folds} folds of "
        f"{result.n_rows} rows, predicting '{target}'; scores on the held-out fold"
    )
    say(crossval_table(result))
