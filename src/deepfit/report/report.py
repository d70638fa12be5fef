"""``build_report``/``write_report``: a model's HTML report on labelled rows.

Example:
    >>> from deepfit.report.report import write_report
    >>> write_report(model, X_test, y_test, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepfit.data.io import read_table
from deepfit.data.preprocess import check_columns
from deepfit.errors import DataError
from deepfit.explain.columns import feature_roles
from deepfit.files import atomic_writer, check_writable
from deepfit.report import sections
from deepfit.report.classification import classification_sections
from deepfit.report.html import Section, render_page

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator

# The sections each task adds: (model, X, y, answers) -> (how it fits, after the metrics;
# how sure it is, after the importance)
TASK_SECTIONS: dict[str, Callable[..., tuple[list[Section | None], list[Section | None]]]] = {
    "regression": sections.regression_sections,
    "classification": classification_sections,
}


def build_report(
    model: Estimator, X: Any, y: Any, *, title: str | None = None, seed: int = 0
) -> str:
    """The report's HTML page for a fitted ``model`` on labelled rows ``X, y``.

    Sections: metrics (on these rows, and per split beside the baselines when the model
    stores them), the task's own (regression: predicted vs actual, residuals, prediction
    intervals, ensemble spread; classification: confusion matrix, reliability diagram,
    per-class metrics, prediction sets), learning curves, permutation importance and the
    settings; the hyper-parameter search when there was one. Every image is an embedded PNG;
    the page loads nothing else.

    Example:
        >>> page = build_report(model, X, y, title="price model")  # doctest: +SKIP
    """
    from deepfit.version import __version__

    model.check_fitted()
    frame = read_table(X)
    target_name = model.target_name_
    values = model.task_.check_target(y, target_name)
    if len(values) != len(frame):
        raise DataError(f"X has {len(frame)} rows but y has {len(values)} values; they must match")
    if len(frame) < 2:
        raise DataError("the report needs at least 2 labelled rows")
    check_columns(frame, list(feature_roles(model)))
    answers = model.predict_answers(frame)
    fit, uncertainty = TASK_SECTIONS[model.task_.name](model, frame, values, answers)
    parts: list[Section | None] = [
        sections.metrics_section(model, values, answers),
        *fit,
        sections.learning_section(model),
        sections.importance_section(model, frame, values, seed=seed),
        *uncertainty,
        sections.tuning_section(model),
        sections.settings_section(model),
    ]
    metadata: dict[str, Any] = getattr(model, "metadata_", None) or {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    meta = [
        f"target: {target_name}",
        f"rows: {len(frame)}",
        f"deepfit {metadata.get('deepfit_version', __version__)}",
        f"model created_at: {metadata.get('created_at', now)}",
        f"report created_at: {now}",
    ]
    page_title = title or f"deepfit report: {target_name}"
    return render_page(page_title, meta, [part for part in parts if part is not None])


def write_report(
    model: Estimator,
    X: Any,
    y: Any,
    path: str | Path,
    *,
    overwrite: bool = False,
    title: str | None = None,
) -> Path:
    """Build the report and write it to ``path`` atomically (UTF-8); return the path.

    An existing file is replaced only with ``overwrite=True`` (checked before any work).

    Example:
        >>> write_report(model, X, y, "report.html", overwrite=True)  # doctest: +SKIP
    """
    target = Path(path)
    check_writable(target, overwrite=overwrite)
    page = build_report(model, X, y, title=title)
    with atomic_writer(target, overwrite=overwrite, mode="wb") as handle:
        handle.write(page.encode("utf-8"))
    return target
