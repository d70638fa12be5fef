"""Prometheus metrics of the prediction server.

With several worker processes, each writes its figures to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``GET /metrics`` adds them up (prometheus_client's
multiprocess mode); ``deepfit serve`` sets that folder up when ``--workers`` exceeds one.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
disable_created_metrics()  # the *_created series only add noise to a scrape


class ServerMetrics:
    """The counters and histograms ``GET /metrics`` exposes."""

    def __init__(self, *, model_version: str, target: str, deepfit_version: str) -> None:
        # In multiprocess mode the figures live in files, so the objects join no registry.
        multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry: CollectorRegistry | None = None if multiprocess else CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "deepfit_requests",
            "HTTP requests answered, by path and status code.",
            ["path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "deepfit_request_duration_seconds",
            "Time from request to the end of the response, by path.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows = Counter("deepfit_rows_predicted", "Rows predicted.", registry=registry)
        self.unseen = Counter(
            "deepfit_unseen_categories",
            "Categorical values not seen in training (they used the 'unknown' category).",
            registry=registry,
        )
        self.missing = Counter(
            "deepfit_missing_values",
            "Feature values sent as null (imputed by the model).",
            registry=registry,
        )
        info = Gauge(
            "deepfit_model_info",
            "The model being served (always 1).",
            ["model_version", "target", "deepfit_version"],
            registry=registry,
            multiprocess_mode="max",
        )
        info.labels(model_version, target, deepfit_version).set(1)
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe(self, path: str, status: int, start: float) -> None:
        """Count one answered request and its latency since ``start`` (``perf_counter``)."""
        key = (path, status)
        children = self._children.get(key)
        if children is None:  # labels() costs more than the update itself: look it up once
            children = (self.requests.labels(path, str(status)), self.latency.labels(path))
            self._children[key] = children
        children[0].inc()
        children[1].observe(time.perf_counter() - start)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
