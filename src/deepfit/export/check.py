"""Export and check: agreement with deepfit, and the int8 model's size, speed and accuracy."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.data.io import read_table
from deepfit.errors import ArtifactError, DataError, brief
from deepfit.estimator.base import Estimator
from deepfit.export.feed import onnx_feed
from deepfit.export.graph import export_onnx
from deepfit.export.quantize import quantize_onnx
from deepfit.files import check_writable

SYNTHETIC_UNSEEN = "<not seen in training>"


def synthetic_rows(model: Estimator, n_rows: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """Rows drawn from the training statistics: medians and scales, known and unseen
    categories, missing values where training had them. For checking an export, not for
    estimating accuracy.
    """
    model.check_fitted()
    prep = model.preprocessor_
    rng = np.random.default_rng(seed)
    index = {name: j for j, name in enumerate(prep.numeric_names)}

    def draw(name: str) -> np.ndarray:
        j = index.get(name)
        if j is None:
            return rng.uniform(0.0, 20_000.0, n_rows)
        values = prep.medians[j] + prep.scales[j] * rng.normal(size=n_rows)
        if prep.missing_in_training[j]:
            values[rng.random(n_rows) < 0.1] = np.nan
        return values

    columns: dict[str, Any] = {}
    for column in prep.schema.columns:
        name = column.name
        if column.role == "numeric":
            columns[name] = draw(name)
        elif column.role == "boolean":
            flags = (rng.random(n_rows) < 0.5).astype(np.float64)
            if prep.missing_in_training[index[name]]:
                flags[rng.random(n_rows) < 0.1] = np.nan
            columns[name] = flags
        elif column.role == "categorical":
            choices = [*prep.vocabularies[name], SYNTHETIC_UNSEEN, None]
            columns[name] = pd.Series(
                [choices[k] for k in rng.integers(0, len(choices), n_rows)], dtype=object
            )
        elif column.role == "datetime":
            days = np.clip(draw(f"{name}.days_since_1970"), -100_000.0, 100_000.0)
            if "hour" not in prep.date_parts.get(name, []):
                days = np.floor(days)
            nanoseconds = np.round(days * 86_400e9)
            stamps = pd.to_datetime(np.where(np.isnan(nanoseconds), np.nan, nanoseconds))
            columns[name] = pd.Series(stamps)
    return pd.DataFrame(columns)


def onnx_session(path: str | Path) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path`` on the CPU."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ArtifactError(f"onnxruntime cannot load {path}: {brief(error)}") from error


def onnx_predict(session: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
    """The graph's predictions (float64) for an :func:`onnx_feed` input."""
    return np.asarray(session.run(None, feed)[0], dtype=np.float64)


@dataclass
class Difference:
    """How far one set of predictions is from a reference."""

    max_abs: float
    mean_abs: float
    max_rel: float


def difference(values: np.ndarray, reference: np.ndarray) -> Difference:
    """Absolute and relative (to ``|reference|``) differences of ``values``."""
    gap = np.abs(np.asarray(values, np.float64) - np.asarray(reference, np.float64))
    if gap.size == 0:
        return Difference(0.0, 0.0, 0.0)
    scale = np.maximum(np.abs(reference), np.finfo(np.float64).tiny)
    return Difference(float(gap.max()), float(gap.mean()), float((gap / scale).max()))


def rows_per_second(session: Any, feed: dict[str, np.ndarray], *, repeats: int = 5) -> float:
    """Throughput of ``session`` on ``feed``: rows over the best of ``repeats`` timed runs."""
    n_rows = len(next(iter(feed.values()))) if feed else 0
    session.run(None, feed)  # warm up
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return n_rows / max(best, 1e-9)


@dataclass
class QuantizedReport:
    """The int8 model beside the fp32 one: file sizes, onnxruntime speed, accuracy."""

    fp32_bytes: int
    int8_bytes: int
    fp32_rows_per_second: float
    int8_rows_per_second: float
    vs_fp32: Difference  # int8 predictions against the fp32 graph's
    metric: str = "rmse"  # the task's primary metric, which the two scores are
    fp32_score: float | None = None  # against the target, when the rows have it
    int8_score: float | None = None


@dataclass
class ExportReport:
    """What :func:`export_checked` wrote and how its predictions compare with deepfit's."""

    path: Path
    bytes: int
    rows: int
    synthetic: bool  # the check ran on rows drawn by :func:`synthetic_rows`
    vs_deepfit: Difference  # the fp32 graph's answers against deepfit's
    quantized: QuantizedReport | None = None


def export_checked(
    model: Estimator,
    path: str | Path,
    *,
    rows: pd.DataFrame | None = None,
    target: np.ndarray | None = None,
    quantize: bool = False,
    overwrite: bool = False,
    opset: int = 17,
    repeats: int = 5,
) -> ExportReport:
    """Export ``model`` (int8 with ``quantize``) and check it on ``rows`` with onnxruntime.

    Without ``rows``, the check uses 300 :func:`synthetic_rows`. ``target`` (the true values
    of ``rows``) adds each graph's score on the task's primary metric (RMSE, log-loss) to the
    quantization report.

    Example:
        >>> report = export_checked(model, "price.onnx", rows=X_test)  # doctest: +SKIP
        >>> report.vs_deepfit.max_rel < 1e-4  # doctest: +SKIP
        True
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    synthetic = rows is None
    frame = synthetic_rows(model) if rows is None else read_table(rows)
    if target is not None and len(target) != len(frame):
        raise DataError(f"{len(frame)} rows but {len(target)} target values; they must match")
    expected = model.predict_answers(frame)
    feed = onnx_feed(model, frame)
    with tempfile.TemporaryDirectory(prefix="deepfit-export-") as folder:
        fp32_path = Path(folder) / "model.onnx" if quantize else path
        export_onnx(model, fp32_path, overwrite=overwrite, opset=opset)
        fp32 = onnx_session(fp32_path)
        fp32_values = onnx_predict(fp32, feed)
        report = ExportReport(
            path=path,
            bytes=path.stat().st_size if not quantize else 0,
            rows=len(frame),
            synthetic=synthetic,
            vs_deepfit=difference(fp32_values, expected),
        )
        if not quantize:
            return report
        quantize_onnx(fp32_path, path, overwrite=overwrite)
        int8 = onnx_session(path)
        int8_values = onnx_predict(int8, feed)
        report.bytes = path.stat().st_size
        report.quantized = QuantizedReport(
            fp32_bytes=fp32_path.stat().st_size,
            int8_bytes=report.bytes,
            fp32_rows_per_second=rows_per_second(fp32, feed, repeats=repeats),
            int8_rows_per_second=rows_per_second(int8, feed, repeats=repeats),
            vs_fp32=difference(int8_values, fp32_values),
            metric=model.task_.primary_metric,
            fp32_score=None if target is None else _score(model, fp32_values, target),
            int8_score=None if target is None else _score(model, int8_values, target),
        )
        return report


def _score(model: Estimator, answers: np.ndarray, target: np.ndarray) -> float:
    """The task's primary metric of a graph's answers; probabilities are renormalised, as
    int8 weights leave their sums a little off 1."""
    values = np.asarray(answers, dtype=np.float64)
    if values.ndim == 2:
        values = values / values.sum(axis=1, keepdims=True)
    return model.task_.metrics(target, values)[model.task_.primary_metric]
