"""Drift of the rows the server predicts, over a rolling window, for ``GET /drift`` and the
``deepfit_feature_drift`` gauges of ``GET /metrics``.

The window is a ring of chunks of bin counts: requests' rows are counted into the current
chunk (one vectorised pass, :class:`~deepfit.monitor.drift.DriftBins`, for every 256 rows
gathered, so a one-row request mostly costs a list append); a chunk of
``window // 10`` rows is closed and the oldest closed chunks are dropped while the rest still
hold ``window`` rows. So the window holds between ``window`` and ``window + window // 10``
of the latest rows, and a report costs the same however many rows went by. With several
worker processes, each tracks the rows it answered.

Example:
    >>> tracker = DriftTracker(reference, FeatureSchema(model.preprocessor_))  # doctest: +SKIP
    >>> batch = schema.encode(columns)  # doctest: +SKIP
    >>> tracker.observe(batch, answers)  # doctest: +SKIP
    >>> tracker.report()["features"][0]["reading"]  # doctest: +SKIP
    'x1: PSI 0.41, drifted: 38% of rows above the training maximum 3.2'
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np
from prometheus_client.utils import floatToGoString

from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor
from deepfit.errors import ConfigError
from deepfit.monitor.drift import (
    DRIFTED,
    PREDICTION,
    WATCH,
    DriftBins,
    FeatureDrift,
    worst_status,
)
from deepfit.monitor.reference import Reference, model_reference
from deepfit.serve.features import EncodedBatch, FeatureSchema

WINDOW = 10_000
MIN_ROWS = 500
PENDING_ROWS = 256  # rows kept aside before they are counted together
NOT_ENOUGH = "not enough rows yet"


class DriftTracker:
    """Bin counts of the server's latest rows and answers against the model's reference.

    ``reference``: the model's (:func:`deepfit.monitor.model_reference`); ``schema``: the
    server's :class:`FeatureSchema` (or the model's preprocessor); ``window``: how many of
    the latest rows are compared; ``min_rows``: how many the window must hold before a report
    says more than "not enough rows yet". Safe to call from several threads (the server
    answers big requests off its event loop): a lock guards the counts.
    """

    def __init__(
        self,
        reference: Reference,
        schema: FeatureSchema | TabularPreprocessor,
        *,
        window: int = WINDOW,
        min_rows: int = MIN_ROWS,
    ) -> None:
        if window < 10 or not 1 <= min_rows <= window:
            raise ConfigError(
                "the drift window must hold at least 10 rows and min_rows between 1 and the "
                f"window, however: window={window}, min_rows={min_rows}"
            )
        preprocessor = schema.preprocessor if isinstance(schema, FeatureSchema) else schema
        self.reference = reference
        self.bins = DriftBins(reference, preprocessor)
        self.window = int(window)
        self.min_rows = int(min_rows)
        self.chunk_rows = max(1, self.window // 10)
        self.rows_seen = 0
        self._totals = np.zeros(self.bins.size, dtype=np.int64)
        self._current = np.zeros(self.bins.size, dtype=np.int64)
        self._current_rows = 0
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._window_rows = 0
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._pending_rows = 0
        self._cached: list[FeatureDrift] | None = None
        self._lock = threading.Lock()

    @property
    def window_rows(self) -> int:
        """How many rows the window holds now."""
        with self._lock:
            self._flush()
            return self._window_rows

    def observe(
        self, batch: EncodedBatch | PreparedFeatures, answers: np.ndarray | None = None
    ) -> None:
        """Count a request's rows (as :meth:`FeatureSchema.encode` made them) and the
        model's ``answers`` for them (numbers, or class probabilities ``[rows, classes]``).

        Small batches are kept aside and counted together once :data:`PENDING_ROWS` have
        gathered (or a report is asked for), so one row costs a list append most times.
        """
        features = batch.features if isinstance(batch, EncodedBatch) else batch
        n_rows = len(features.numeric)
        if n_rows == 0:
            return
        if answers is not None and len(answers) != n_rows:
            raise ValueError(f"{len(answers)} answers for {n_rows} rows")
        with self._lock:
            self._pending.append((features.numeric, features.categorical, answers))
            self._pending_rows += n_rows
            self.rows_seen += n_rows
            if self._pending_rows >= min(PENDING_ROWS, self.chunk_rows):
                self._flush()

    def _flush(self) -> None:
        """Count the rows kept aside into the current chunk; close it when full."""
        if not self._pending:
            return
        pending, n_rows = self._pending, self._pending_rows
        self._pending, self._pending_rows = [], 0
        if all(answers is not None for _, _, answers in pending):
            counts = self.bins.count(
                np.concatenate([numeric for numeric, _, _ in pending]),
                np.concatenate([codes for _, codes, _ in pending]),
                np.concatenate([np.asarray(answers) for _, _, answers in pending]),
            )
        else:  # some came without answers: count each batch on its own
            counts = sum(
                (self.bins.count(*item) for item in pending),
                start=np.zeros(self.bins.size, dtype=np.int64),
            )
        self._current += counts
        self._totals += counts
        self._current_rows += n_rows
        self._window_rows += n_rows
        if self._current_rows >= self.chunk_rows:
            self._chunks.append((self._current_rows, self._current))
            self._current = np.zeros(self.bins.size, dtype=np.int64)
            self._current_rows = 0
            while self._chunks and self._window_rows - self._chunks[0][0] >= self.window:
                rows, counts = self._chunks.popleft()
                self._totals -= counts
                self._window_rows -= rows
        self._cached = None

    def drifts(self) -> list[FeatureDrift]:
        """Each feature's and the predictions' drift over the window, worst first (empty
        until the window holds ``min_rows``)."""
        with self._lock:
            self._flush()
            if self._window_rows < self.min_rows:
                return []
            if self._cached is None:  # a scrape and a GET /drift between requests share it
                self._cached = self.bins.drifts(self._totals)
            return self._cached

    def report(self) -> dict[str, Any]:
        """What ``GET /drift`` answers: the features worst first, each with its measure,
        value, threshold, status and reading; the predictions' drift; the window."""
        drifts = self.drifts()
        document: dict[str, Any] = {
            "status": NOT_ENOUGH,
            "window": self.window,
            "window_rows": self._window_rows,
            "rows_seen": self.rows_seen,
            "min_rows": self.min_rows,
            "thresholds": {"watch": WATCH, "drifted": DRIFTED},
            "features": [],
            "prediction": None,
        }
        if not drifts:
            document["message"] = (
                f"{NOT_ENOUGH}: {self._window_rows} of the {self.min_rows} rows needed"
            )
            return document
        features = [d for d in drifts if d.kind != PREDICTION]
        prediction = next((d for d in drifts if d.kind == PREDICTION), None)
        document["status"] = worst_status(drifts)
        document["features"] = [_entry(d) for d in features]
        document["prediction"] = None if prediction is None else _entry(prediction)
        return document

    def gauge_lines(self) -> list[str]:
        """Prometheus text-format lines to append to ``GET /metrics``: the window's rows,
        and once it holds ``min_rows``, ``deepfit_feature_drift`` per feature and
        ``deepfit_prediction_drift``."""
        drifts = self.drifts()
        lines = [
            "# HELP deepfit_drift_window_rows Rows in the drift window (the latest served).",
            "# TYPE deepfit_drift_window_rows gauge",
            f"deepfit_drift_window_rows {self._window_rows}",
        ]
        features = [d for d in drifts if d.kind != PREDICTION]
        prediction = [d for d in drifts if d.kind == PREDICTION]
        if features:
            lines += [
                "# HELP deepfit_feature_drift Drift of each feature over the window against "
                f"training (psi: {WATCH} watch, {DRIFTED} drifted).",
                "# TYPE deepfit_feature_drift gauge",
                *(
                    f'deepfit_feature_drift{{feature="{_label(d.feature)}",measure="{d.measure}"}}'
                    f" {floatToGoString(d.value)}"
                    for d in sorted(features, key=lambda d: d.feature)
                ),
            ]
        if prediction:
            lines += [
                "# HELP deepfit_prediction_drift Drift of the predictions over the window "
                f"against training (psi: {WATCH} watch, {DRIFTED} drifted).",
                "# TYPE deepfit_prediction_drift gauge",
                f'deepfit_prediction_drift{{measure="{prediction[0].measure}"}} '
                f"{floatToGoString(prediction[0].value)}",
            ]
        return lines


def tracker_for(
    model: Any, schema: FeatureSchema, *, window: int = WINDOW, min_rows: int = MIN_ROWS
) -> DriftTracker | None:
    """The tracker of a loaded table model (its ``reference_``, ``preprocessor_`` and
    ``task_``), or None for a model saved before deepfit kept a reference.

    Example:
        >>> tracker = tracker_for(deepfit.load("price.deepfit"), schema)  # doctest: +SKIP
    """
    reference = model_reference(
        getattr(model, "reference_", None), model.preprocessor_, model.task_.n_outputs
    )
    if reference is None:
        return None
    return DriftTracker(reference, schema, window=window, min_rows=min_rows)


def _entry(drift: FeatureDrift) -> dict[str, Any]:
    entry = {
        "feature": drift.feature,
        "kind": drift.kind,
        "measure": drift.measure,
        "value": drift.value,
        "threshold": drift.threshold,
        "status": drift.status,
        "reading": drift.reading,
    }
    if drift.unseen is not None:
        entry["unseen"] = drift.unseen
    return entry


def _label(value: str) -> str:
    """A label value escaped as the text format asks: backslash, quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
