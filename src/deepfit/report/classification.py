"""The report's classification sections: confusion matrix, reliability, per-class metrics,
prediction sets.

Example:
    >>> sections = classification_sections(model, X, y, probabilities)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from deepfit.errors import ConfigError
from deepfit.evaluation.classification_metrics import confusion, per_class_metrics
from deepfit.explain.plots import BAR_COLOUR
from deepfit.report import plots
from deepfit.report.html import Section, image, paragraph, table

if TYPE_CHECKING:
    from deepfit.estimator.classifier import Classifier

SET_LEVEL = 0.9
RELIABILITY_BINS = 10


def classification_sections(
    model: Classifier, X: pd.DataFrame, y: np.ndarray, probabilities: np.ndarray
) -> tuple[list[Section | None], list[Section | None]]:
    """The sections a classifier adds to the report, on labelled rows and their probabilities:
    how it fits, and how sure it is."""
    codes = model.task_.target_values(y)
    labels = [str(label) for label in model.classes_]
    sections: list[Section | None] = [
        confusion_section(codes, probabilities, labels),
        reliability_section(codes, probabilities),
        per_class_section(codes, probabilities, labels),
    ]
    return sections, [sets_section(model, codes, probabilities)]


def confusion_section(codes: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> Section:
    """Counts of each true label (rows) against the predicted one (columns)."""
    matrix = confusion(codes, np.argmax(probabilities, axis=1), len(labels))
    rows = [
        (f"true {label}", *map(int, counts)) for label, counts in zip(labels, matrix, strict=True)
    ]
    body = table(["", *(f"predicted {label}" for label in labels)], rows)
    body += image(plots.data_uri(confusion_figure(matrix, labels)), "Confusion matrix")
    return Section("confusion", "Confusion matrix", body)


def reliability_section(codes: np.ndarray, probabilities: np.ndarray) -> Section:
    """How often the predicted class is right, against how sure the model was of it."""
    confidence = probabilities.max(axis=1)
    correct = np.argmax(probabilities, axis=1) == codes
    figure = reliability_figure(confidence, correct)
    gap = expected_calibration_error(confidence, correct)
    body = paragraph(
        f"Rows binned by the probability of their predicted class; a calibrated model lies on "
        f"the diagonal. Expected calibration error: {gap:.3f}."
    )
    body += image(plots.data_uri(figure), "Reliability diagram")
    return Section("reliability", "Reliability", body)


def per_class_section(codes: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> Section:
    """Precision, recall, F1 and support of each class."""
    scores = per_class_metrics(codes, probabilities)
    rows = [
        (label, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", int(s["support"]))
        for label, s in zip(labels, scores, strict=True)
    ]
    body = table(["class", "precision", "recall", "F1", "rows"], rows)
    return Section("classes", "Per-class metrics", body)


def sets_section(model: Classifier, codes: np.ndarray, probabilities: np.ndarray) -> Section | None:
    """Coverage and size of the conformal prediction sets at 90% on these rows."""
    if getattr(model, "calibration_", None) is None:
        return None
    title = "Prediction sets"
    try:
        sets = model.set_calibration(SET_LEVEL).sets(probabilities, SET_LEVEL)
    except ConfigError as error:
        return Section("sets", title, paragraph(str(error)))
    covered = sets[np.arange(len(codes)), codes]
    sizes = sets.sum(axis=1)
    body = table(
        ["level", "coverage on these rows", "mean set size", "empty sets", "single label"],
        [
            (
                f"{SET_LEVEL:.0%}",
                f"{covered.mean():.1%}",
                f"{sizes.mean():.2f}",
                f"{(sizes == 0).mean():.1%}",
                f"{(sizes == 1).mean():.1%}",
            )
        ],
    )
    return Section("sets", title, body)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    """The row-weighted mean gap between confidence and accuracy over equal-width bins."""
    bins = np.minimum((confidence * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    total = 0.0
    for index in np.unique(bins):
        inside = bins == index
        total += inside.sum() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total / max(len(confidence), 1))


def confusion_figure(matrix: np.ndarray, labels: list[str]) -> Figure:
    """The confusion matrix as a heat map with the counts written in."""
    size = max(3.5, 0.6 * len(labels) + 2.5)
    figure = Figure(figsize=(size, size))
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(int(count)), ha="center", va="center", fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix")
    figure.tight_layout()
    return figure


def reliability_figure(confidence: np.ndarray, correct: np.ndarray) -> Figure:
    """Accuracy per confidence bin against the diagonal, with the rows per bin below."""
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    bins = np.minimum((confidence * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    present = np.unique(bins)
    mean_confidence = [confidence[bins == b].mean() for b in present]
    accuracy = [correct[bins == b].mean() for b in present]
    figure = Figure(figsize=plots.SIZE)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="black", linewidth=1, label="calibrated")
    axes.plot(mean_confidence, accuracy, marker="o", color=BAR_COLOUR, label="this model")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xticks(edges[::2])
    axes.set_xlabel("probability of the predicted class")
    axes.set_ylabel("share predicted right")
    axes.set_title("Reliability diagram")
    axes.legend(loc="upper left")
    return figure
