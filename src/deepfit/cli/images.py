"""Image models on the command line: ``train FOLDER --labels``, and ``predict``,
``evaluate`` and ``info`` of an image model.

``train``, ``predict``, ``evaluate`` and ``info`` call in here when DATA is a folder or the
model's kind is ``image``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from deepfit.cli.harness import say, tell
from deepfit.cli.options import refuse_options, task_params
from deepfit.errors import ConfigError

LabelsFile = Annotated[
    Path | None,
    typer.Option(
        "--labels",
        help="Images: a table (CSV, TSV, Parquet) with a 'file' column of paths relative to the "
        "DATA folder, and the target.",
    ),
]
SkipBad = Annotated[
    bool,
    typer.Option("--skip-bad", help="Images: leave out unreadable image files (and count them)."),
]
SHOWN = (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²"))
IMAGE_ONLY = ("image_size", "resize", "width", "augment", "freeze_backbone")


def image_params(params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The image regressor's parameters among a command's estimator options; a one-line
    error for one that only another kind of model takes."""
    return task_params(
        params,
        "image",
        seed,
        foreign="{option} does not apply to image models (DATA is a folder of images); see "
        "'deepfit train --help' for --image-size, --augment, --width, --init-from",
    )


def refuse_image_options(params: dict[str, Any]) -> None:
    """A table or series run given an image option: say that it needs a folder of images."""
    message = "{option} applies to image models: give a folder of images as DATA"
    refuse_options(params, IMAGE_ONLY, message)


def train_images(
    data: Path,
    *,
    labels: Path | None,
    target: str,
    params: dict[str, Any],
    out_path: Path,
    force: bool,
    quiet: bool,
    test_fraction: float,
    seed: int,
    baselines: bool,
    skip_bad: bool,
    resume: bool = False,
    report: Path | None = None,
) -> None:
    """``train FOLDER --labels``: hold out test images, fit, score beside the pixel
    baselines, save."""
    from deepfit.data.split import train_validation_test_split
    from deepfit.estimator.image_regressor import ImageRegressor

    if labels is None:
        raise ConfigError(
            f"{data} is a folder of images: give their targets with --labels labels.csv "
            "(a 'file' column of paths relative to the folder, and the target)"
        )
    if report is not None:
        from deepfit.files import check_writable

        check_writable(report, overwrite=force)
    regressor = ImageRegressor(**params, verbose=0 if quiet else 1)
    opened = regressor.open(data, labels=labels, target=target, skip_bad=skip_bad)
    where = "held in memory" if opened.in_memory else "decoded from disk per batch (too large)"
    say(f"{opened.conversions.describe(opened.store.mode, opened.store.size)}; {where}")
    if opened.conversions.skipped:
        tell(f"note: skipped {len(opened.conversions.skipped)} unreadable image(s) (--skip-bad)")
    parts = train_validation_test_split(
        len(opened.store), validation_fraction=0.0, test_fraction=test_fraction, seed=seed
    )
    training = opened.subset(parts.train)
    regressor.fit_opened(training, resume=resume)
    say(*describe_image_model(regressor))
    resumed = regressor.check_fitted().summary.get("resumed_from_epoch")
    if resumed is not None:
        say(f"resumed from the checkpoint of epoch {resumed}")
    metrics: dict[str, dict[str, Any]] = {}
    test = opened.subset(parts.test)
    if len(parts.test) >= 2:
        metrics = score_images(regressor, test, training if baselines else None)
        say(metrics_table(metrics, f"{len(parts.test)} test images: deepfit beside baselines"))
    regressor.metrics_ = metrics or None
    regressor.save(out_path, overwrite=force)
    say(f"saved model to {out_path}; predict with: deepfit predict {out_path} FOLDER")
    if report is not None:
        if len(parts.test) < 2:
            tell("note: no report written: the test split has fewer than 2 images")
            return
        from deepfit.report.image import write_image_report

        write_image_report(regressor, test, report, overwrite=force)
        say(f"wrote the report on {len(parts.test)} test images to {report}")


def score_images(regressor: Any, test: Any, training: Any | None) -> dict[str, dict[str, Any]]:
    """``{model: {"test": metrics}}``: the network on ``test``, and the pixel baselines
    fitted on ``training`` (its validation images as the network's) when given."""
    from deepfit.estimator.imaging import pixel_baselines
    from deepfit.evaluation.metrics import regression_metrics

    truth = test.target
    scores = {"deepfit": {"test": regression_metrics(truth, regressor.predict_opened(test))}}
    if training is None:
        return scores
    baselines = pixel_baselines(regressor.settings_, training.store, training.target, test.store)
    for name, predicted in baselines.items():
        scores[name] = {"test": regression_metrics(truth, predicted)}
    return scores


def metrics_table(metrics: dict[str, dict[str, Any]], title: str, split: str = "test") -> Table:
    table = Table(title=title)
    table.add_column("model")
    for _, label in SHOWN:
        table.add_column(label, justify="right")
    for model, splits in metrics.items():
        values = splits.get(split, {})
        table.add_row(model, *[_cell(values.get(name)) for name, _ in SHOWN])
    return table


def _cell(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.4g}"


def describe_image_model(regressor: Any) -> list[Any]:
    """What ``train`` and ``info`` print about an image model."""
    fit = regressor.check_fitted()
    prep, settings, summary = fit.preparer, fit.settings, fit.summary
    augment = ", ".join(settings.get("augment") or []) or "none"
    start = settings.get("init_from")
    lines: list[Any] = [
        f"predicting '{prep.target_name}' from {prep.size}x{prep.size} {prep.mode} images "
        f"({prep.resize}); augmentation: {augment}",
        f"model: {settings['model']} (width {settings['width']}, stem stride "
        f"{settings['stem_stride']}, {_parameters(fit.network):,} weights)"
        + (f", from the backbone of {start}" if start else "")
        + (" (frozen)" if settings.get("freeze_backbone") else ""),
        f"{summary.get('epochs')} epochs in {summary.get('seconds')} s, best epoch "
        f"{summary.get('best_epoch')}; {summary.get('stop_reason')}",
        f"images: {summary.get('train_images')} train, {summary.get('validation_images')} "
        "validation (early stopping and intervals)",
    ]
    return lines


def _parameters(network: Any) -> int:
    return sum(p.numel() for p in network.parameters())


def predict_images(
    regressor: Any,
    data: Path,
    *,
    labels: Path | None,
    interval: float | None,
    out_path: Path | None,
    force: bool,
    skip_bad: bool,
) -> None:
    """``predict`` of an image model: every image in DATA (sorted by path), or the ones
    --labels names."""
    from deepfit.data.io import write_table
    from deepfit.kinds.image.files import read_listed

    images: Any = data if labels is None else read_listed(data, labels)
    opened = regressor.open_for_prediction(images, skip_bad=skip_bad)
    if opened.conversions.skipped:
        tell(f"note: skipped {len(opened.conversions.skipped)} unreadable image(s) (--skip-bad)")
    table = regressor.frame_of(opened, interval=interval)
    if out_path is None:
        table.to_csv(sys.stdout, index=False)
        return
    write_table(table, out_path, overwrite=force)
    tell(f"wrote {len(table)} predictions to {out_path}")


def evaluate_images(
    regressor: Any,
    data: Path,
    *,
    labels: Path | None,
    target: str | None,
    as_json: bool,
    skip_bad: bool,
) -> None:
    """``evaluate`` of an image model on labelled images."""
    from deepfit.evaluation.metrics import regression_metrics
    from deepfit.kinds.image.files import read_labelled

    name = target or regressor.check_fitted().preparer.target_name
    if labels is None:
        raise ConfigError(
            f"evaluating an image model needs --labels: a table with a 'file' column and '{name}'"
        )
    files = read_labelled(data, labels, target=name)
    opened = regressor.open_for_prediction(files, skip_bad=skip_bad)
    scores = regression_metrics(opened.target, regressor.predict_opened(opened))
    if as_json:
        document = {"data": str(data), "images": len(opened.names), "metrics": scores}
        say(json.dumps(document, indent=1))
        return
    table = metrics_table({"deepfit": {"test": scores}}, f"{data.name}: {len(opened.names)} images")
    say(table)


def image_info(regressor: Any, path: str, *, as_json: bool) -> None:
    """``info`` of an image model."""
    fit = regressor.check_fitted()
    if as_json:
        document = {
            "model": path,
            "task": "regression",
            "kind": "image",
            "target": fit.preparer.target_name,
            "preprocessing": fit.preparer.to_dict(),
            "settings": fit.settings,
            "parameters": _parameters(fit.network),
            "training": fit.summary,
            "metrics": regressor.metrics_,
        }
        say(json.dumps(document, indent=1, default=str))
        return
    say(f"{path}: predicts '{fit.preparer.target_name}' from images (regression)")
    say(*describe_image_model(regressor))
    if regressor.metrics_:
        say(metrics_table(regressor.metrics_, "test images at training time"))
