"""``deepfit info``: what a saved model is, how it was trained and how it scored."""

from __future__ import annotations

import json
from typing import Any

from deepfit.cli.common import Json, ModelPath
from deepfit.cli.harness import say, user_errors


@user_errors
def info(model_path: ModelPath, as_json: Json = False) -> None:
    """Task, schema, model, training summary and metrics of a saved model."""
    from deepfit.cli.images import image_info
    from deepfit.estimator import Forecaster, ImageRegressor, load
    from deepfit.report.console import metrics_table, schema_table, training_lines

    model = load(model_path)
    if isinstance(model, ImageRegressor):
        image_info(model, str(model_path), as_json=as_json)
        return
    if isinstance(model, Forecaster):
        _forecaster_info(model, str(model_path), as_json=as_json)
        return
    if as_json:
        say(json.dumps(_document(model, str(model_path)), indent=1, default=str))
        return
    versions = model.metadata_
    say(
        f"{model_path}: predicts '{model.target_name_}' ({model.task_.name}); written by deepfit "
        f"{versions.get('deepfit_version')} (format {versions.get('format_version')}) at "
        f"{versions.get('created_at')}",
        schema_table(model),
        *training_lines(model),
    )
    summary = model.training_summary_
    say(f"rows: {summary.get('train_rows')} train, {summary.get('validation_rows')} validation")
    say(repeatability_line(model.settings_, summary))
    metrics = getattr(model, "metrics_", None)
    for split in ("test", "validation", "train"):
        if metrics and split in metrics.get("deepfit", {}):
            title = f"{split} set at training time"
            say(metrics_table(metrics, split=split, title=title, task=model.task_))


def repeatability_line(settings: dict[str, Any], summary: dict[str, Any]) -> str:
    """What a refit needs to give this model again: the seed, the thread count, and no clock.

    Example:
        >>> summary = {"threads": 2, "time_limit": 240.0, "stopped_by_time_limit": True}
        >>> repeatability_line({"random_state": 0}, summary)  # doctest: +NORMALIZE_WHITESPACE
        'repeatability: seed 0, 2 thread(s); the time limit of 240 s ended training, so a
        refit may run another number of epochs (--time-limit none and --max-epochs repeat
        exactly)'
    """
    threads = summary.get("threads")
    start = f"repeatability: seed {settings.get('random_state')}, " + (
        "thread count not recorded" if threads is None else f"{threads} thread(s)"
    )
    precision = summary.get("precision")
    if precision is not None:  # "auto" may pick the other one on another machine
        picked = settings.get("precision") == "auto"
        start += f", {precision} steps" + (
            f" (auto's pick: --precision {precision} fixes it)" if picked else ""
        )
    if "time_limit" not in summary:  # written before deepfit recorded it
        return f"{start}; whether a time limit shaped the run is not recorded"
    limit = summary["time_limit"]
    if limit is None:
        return f"{start}; no time limit: the same seed, data, settings and thread count repeat it"
    if summary.get("stopped_by_time_limit"):
        return (
            f"{start}; the time limit of {limit:g} s ended training, so a refit may run another "
            "number of epochs (--time-limit none and --max-epochs repeat exactly)"
        )
    if settings.get("schedule") == "anneal" or settings.get("interval_method") == "quantile":
        return (  # the anneal's decay and the interval network's stop read the clock too
            f"{start}; a time limit of {limit:g} s, not reached by the network, but it may have "
            "set when the rate decayed or stopped the interval network (--time-limit none "
            "repeats exactly)"
        )
    return f"{start}; a time limit of {limit:g} s, not reached: a refit repeats it"


def _document(model: Any, path: str) -> dict[str, Any]:
    """``info --json``: everything the text shows, as one JSON object."""
    prep = model.preprocessor_
    return {
        "model": path,
        "task": model.task_.name,
        "target": model.target_name_,
        "target_encoding": model.task_.to_dict(),
        "versions": model.metadata_,
        "columns": [
            {"name": column.name, "role": column.role, "reason": column.reason}
            for column in prep.schema.columns
        ],
        "settings": model.settings_,
        "parameters": sum(p.numel() for p in model.network_.parameters()),
        "training": model.training_summary_,
        "metrics": getattr(model, "metrics_", None),
    }


def _forecaster_info(model: Any, path: str, *, as_json: bool) -> None:
    from deepfit.cli.forecasting import describe_forecaster

    fit = model.check_fitted()
    if as_json:
        document = {
            "model": path,
            "task": "forecasting",
            "series": {  # the layout, without each series' statistics (a panel may be large)
                key: value
                for key, value in fit.preparer.to_dict().items()
                if key not in ("ids", "loc", "scale", "covariate_mean", "covariate_std")
            }
            | {"n_series": fit.preparer.n_series},
            "settings": fit.settings,
            "parameters": sum(p.numel() for p in fit.network.parameters()),
            "training": fit.summary,
        }
        say(json.dumps(document, indent=1, default=str))
        return
    say(f"{path}: forecasts '{fit.preparer.columns.target}' (forecasting)")
    say(*describe_forecaster(model))
