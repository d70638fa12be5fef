"""The page ``deepfit monitor --out`` writes: the verdict, the drift of every feature, the
performance now against training time, and a chart of training against new shares for each
drifted feature (or the few worst). One self-contained HTML page (no scripts, PNG data URIs),
made with the report's helpers.

Example:
    >>> write_monitor_page(Path("monitor.html"), result)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from deepfit.explain.plots import BAR_COLOUR
from deepfit.files import atomic_writer, check_writable
from deepfit.monitor.drift import DRIFT, DRIFTED, FINE, WATCH, FeatureDrift
from deepfit.monitor.verdict import Performance, Verdict
from deepfit.report.console import format_value
from deepfit.report.html import Section, escape, image, paragraph, render_page, table
from deepfit.report.plots import data_uri

TOP_CHARTS = 6  # charts of the worst features when none drifted
MAX_CHARTS = 20
TRAINING_COLOUR = "#999999"


@dataclass(frozen=True)
class MonitorResult:
    """What ``deepfit monitor`` found: the rows, their drift, performance and the verdict."""

    model: str
    data: str
    rows: int
    target: str
    drifts: list[FeatureDrift]
    verdict: Verdict
    performance: Performance | None = None
    notes: tuple[str, ...] = ()


def build_monitor_page(result: MonitorResult) -> str:
    """The page as HTML text."""
    meta = [f"model: {result.model}", f"data: {result.data}", f"{result.rows} rows"]
    sections = [_verdict_section(result)]
    if result.drifts:
        sections.append(_drift_section(result.drifts))
    if result.performance is not None:
        sections.append(_performance_section(result.performance))
    charts = _charts_section(result.drifts)
    if charts is not None:
        sections.append(charts)
    return render_page(f"deepfit monitor: {result.target}", meta, sections)


def write_monitor_page(path: Path, result: MonitorResult, *, overwrite: bool = False) -> Path:
    """Write the page to ``path`` atomically; refuse to replace a file unless ``overwrite``."""
    check_writable(path, overwrite=overwrite)
    page = build_monitor_page(result)
    with atomic_writer(path, overwrite=overwrite, mode="wb") as handle:
        handle.write(page.encode("utf-8"))
    return path


def shares_figure(drift: FeatureDrift) -> Figure:
    """Training against new shares per bin of one feature, as paired horizontal bars."""
    labels = list(drift.labels)
    keep = [i for i in range(len(labels)) if drift.expected[i] > 0 or drift.actual[i] > 0]
    keep = keep or list(range(len(labels)))
    positions = np.arange(len(keep))
    figure = Figure(figsize=(5.5, 1.2 + 0.3 * len(keep)))
    axes = figure.add_subplot()
    height = 0.4
    axes.barh(
        positions - height / 2,
        [drift.expected[i] for i in keep],
        height,
        color=TRAINING_COLOUR,
        label="training",
    )
    actual = [drift.actual[i] for i in keep]
    axes.barh(positions + height / 2, actual, height, color=BAR_COLOUR, label="new")
    axes.set_yticks(positions, [_short(labels[i]) for i in keep])
    axes.invert_yaxis()
    axes.set_xlabel("share of rows")
    axes.set_title(f"{_short(drift.feature)}: PSI {drift.value:.2f} ({drift.status})")
    axes.legend(loc="best")
    figure.tight_layout()
    return figure


def _verdict_section(result: MonitorResult) -> Section:
    body = f"<p><strong>{escape(result.verdict.status)}</strong></p>"
    reasons = result.verdict.reasons or ("no feature or prediction moved past PSI 0.1",)
    body += "<ul>" + "".join(f"<li>{escape(reason)}</li>" for reason in reasons) + "</ul>"
    for note in result.notes:
        body += paragraph(note)
    body += paragraph(
        f"Population stability index (PSI): below {WATCH} fine, {WATCH} to {DRIFTED} watch, "
        f"above {DRIFTED} drifted."
    )
    return Section("verdict", "Verdict", body)


def _drift_section(drifts: Sequence[FeatureDrift]) -> Section:
    rows = [(d.feature, d.kind, f"{d.value:.3f}", d.status, d.reading) for d in drifts]
    body = table(["feature", "kind", "PSI", "status", "reading"], rows)
    return Section("drift", "Drift, worst first", body)


def _performance_section(measured: Performance) -> Section:
    names = list(measured.now)
    before = measured.at_training or {}
    rows = [
        (name, format_value(name, measured.now.get(name)), format_value(name, before.get(name)))
        for name in names
    ]
    body = table(["metric", "now", f"at training ({measured.split or '-'})"], rows)
    change = measured.change
    if change is not None and math.isfinite(change):
        word = "worse" if change > 0 else "better"
        body += paragraph(f"{measured.label}: {abs(change):.1%} {word} than at training time.")
    if measured.baselines:
        baselines = [
            (name, format_value(measured.metric, value))
            for name, value in sorted(measured.baselines.items())
        ]
        body += paragraph(f"The baselines' {measured.label} at training time:")
        body += table(["baseline", measured.label], baselines)
    return Section("performance", "Performance", body)


def _charts_section(drifts: Sequence[FeatureDrift]) -> Section | None:
    shown = [d for d in drifts if d.status == DRIFT][:MAX_CHARTS]
    if not shown:
        shown = [d for d in drifts if d.status != FINE][:TOP_CHARTS] or list(drifts[:TOP_CHARTS])
    if not shown:
        return None
    body = "".join(image(data_uri(shares_figure(d)), d.reading) for d in shown)
    return Section("charts", "Training against new shares", body)


def _short(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
