"""``write_image_report``: an image model on labelled images, as one self-contained HTML page.

Sections: the metrics of the model beside predicting the training target's mean (and the
test scores stored at training time), predicted vs actual, a grid of the images with the
largest errors (worst first), the learning curves and the settings and training summary.
Every chart is an embedded PNG; the page loads nothing else and runs no scripts.

Example:
    >>> model = ImageRegressor.load("count.deepfit")  # doctest: +SKIP
    >>> opened = model.open_for_prediction(read_labelled("test/", "test.csv",
    ...                                                  target="count"))  # doctest: +SKIP
    >>> write_image_report(model, opened, Path("report.html"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from deepfit.errors import DataError
from deepfit.evaluation.metrics import regression_metrics
from deepfit.explain.image import caption, image_axes, short_number
from deepfit.files import atomic_writer, check_writable
from deepfit.report import plots
from deepfit.report.html import Section, image, paragraph, render_page, table

if TYPE_CHECKING:
    from deepfit.estimator.image_regressor import ImageRegressor
    from deepfit.kinds.image.source import OpenedImages

SHOWN = (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²"))
MODEL = "deepfit"
REFERENCE = "mean of the training target"
GRID_IMAGES = 24  # the grid shows this many images at most, the worst errors first
GRID_COLUMNS = 6
SETTINGS = ("model", "width", "stem_stride", "image_size", "resize", "augment")
TRAINING = (
    "epochs",
    "best_epoch",
    "seconds",
    "stop_reason",
    "train_images",
    "validation_images",
    "device",
)


def write_image_report(
    model: ImageRegressor, opened: OpenedImages, path: Path, *, overwrite: bool = False
) -> Path:
    """Write the image model's HTML page on the labelled images ``opened`` to ``path``
    atomically (UTF-8) and return the path. An existing file is replaced only with
    ``overwrite=True`` (checked before any work).

    Example:
        >>> write_image_report(model, opened, Path("report.html"))  # doctest: +SKIP
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    page = build_image_report(model, opened)
    with atomic_writer(path, overwrite=overwrite, mode="wb") as handle:
        handle.write(page.encode("utf-8"))
    return path


def build_image_report(model: ImageRegressor, opened: OpenedImages) -> str:
    """The HTML page of :func:`write_image_report`; ``opened`` must be labelled (its
    ``target`` set, e.g. opened from :func:`~deepfit.kinds.image.files.read_labelled`)."""
    from deepfit.version import __version__

    fit = model.check_fitted()
    prep = fit.preparer
    if opened.target is None:
        raise DataError(
            "the report needs labelled images: open them from a labels table "
            "(read_labelled, or --labels on the command line)"
        )
    truth = np.asarray(opened.target, dtype=np.float64)
    if len(truth) < 2:
        raise DataError(f"the report needs at least 2 labelled images, however: {len(truth)}")
    predicted = model.predict_opened(opened)
    meta = [
        f"target: {prep.target_name}",
        f"images: {len(truth)}",
        f"input: {prep.size}x{prep.size} {'grayscale' if prep.mode == 'L' else 'RGB'}",
        f"deepfit {__version__}",
        f"report created_at: {datetime.now(UTC).isoformat(timespec='seconds')}",
    ]
    sections = [
        _metrics_section(model, truth, predicted),
        _fit_section(truth, predicted, prep.target_name),
        _images_section(opened, truth, predicted),
        _learning_section(fit.history, fit.summary),
        _settings_section(fit.settings, fit.summary),
    ]
    return render_page(f"deepfit image report: {prep.target_name}", meta, sections)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _metrics_section(model: ImageRegressor, truth: np.ndarray, predicted: np.ndarray) -> Section:
    mean = model.check_fitted().preparer.target_loc
    scores = {
        MODEL: regression_metrics(truth, predicted),
        REFERENCE: regression_metrics(truth, np.full_like(truth, mean)),
    }
    rows = [(label, *(_text(s.get(name)) for s in scores.values())) for name, label in SHOWN]
    body = paragraph(
        f"On the {len(truth)} labelled images of this report, beside always predicting the "
        f"training target's mean ({short_number(mean)}):"
    )
    body += table(["metric", *scores], rows)
    stored: dict[str, dict[str, dict[str, float]]] = model.metrics_ or {}
    columns = {name: by_split["test"] for name, by_split in stored.items() if "test" in by_split}
    if columns:
        body += paragraph("At training time, on its held-out test images:")
        body += table(
            ["metric", *columns],
            [(label, *(_text(s.get(name)) for s in columns.values())) for name, label in SHOWN],
        )
    return Section("metrics", "Metrics", body)


def _fit_section(truth: np.ndarray, predicted: np.ndarray, target: str) -> Section:
    figure = plots.predicted_vs_actual(truth, predicted, target=target)
    body = image(plots.data_uri(figure), "Predicted vs actual")
    return Section("fit", "Predicted vs actual", body)


def _images_section(opened: OpenedImages, truth: np.ndarray, predicted: np.ndarray) -> Section:
    error = predicted - truth
    order = np.argsort(-np.abs(error), kind="stable")[:GRID_IMAGES]
    pixels = opened.store.take(order).cpu().numpy()
    titles = [caption(float(truth[row]), float(predicted[row])) for row in order]
    figure = image_grid(pixels, titles)
    names = [opened.names[int(row)] if opened.names else str(int(row)) for row in order]
    note = paragraph(
        f"The {len(order)} images with the largest absolute errors of {len(truth)}, worst "
        "first (left to right, then down), with their true and predicted values."
    )
    rows = [
        (rank, name, short_number(truth[row]), short_number(predicted[row]),
         short_number(error[row]))
        for rank, (name, row) in enumerate(zip(names, order, strict=True), start=1)
    ]  # fmt: skip
    body = note + image(plots.data_uri(figure), "Largest errors, worst first")
    body += table(["rank", "file", "true", "predicted", "error (predicted - true)"], rows)
    return Section("images", "Largest errors", body)


def image_grid(pixels: np.ndarray, titles: list[str]) -> Figure:
    """uint8 images ``[k, C, H, W]`` in rows of :data:`GRID_COLUMNS`, each titled."""
    count = len(pixels)
    columns = max(1, min(GRID_COLUMNS, count))
    lines = max(1, math.ceil(count / columns))
    figure = Figure(figsize=(1.75 * columns, 1.9 * lines))
    grid = np.atleast_1d(figure.subplots(lines, columns, squeeze=False).ravel())
    for index, axes in enumerate(grid):
        if index >= count:
            axes.set_axis_off()
            continue
        image_axes(axes, pixels[index])
        axes.set_title(titles[index], fontsize=8)
    return figure


def _learning_section(history: list[dict[str, Any]], summary: dict[str, Any]) -> Section:
    if not history:
        return Section("learning", "Learning curves", paragraph("No training history stored."))
    best_epoch = summary.get("best_epoch")
    best = int(best_epoch) if isinstance(best_epoch, int | float) else None
    figure = plots.learning_curves(history, best_epoch=best)
    return Section("learning", "Learning curves", image(plots.data_uri(figure), "Learning curves"))


def _settings_section(settings: dict[str, Any], summary: dict[str, Any]) -> Section:
    rows = [(name, _text(settings[name])) for name in SETTINGS if name in settings]
    rows += [(name, _text(summary[name])) for name in TRAINING if name in summary]
    if settings.get("init_from"):
        rows.append(("init_from", _text(settings["init_from"])))
    return Section("settings", "Settings and training", table(["item", "value"], rows))
