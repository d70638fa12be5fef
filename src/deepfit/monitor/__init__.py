"""Noticing when the world drifts: a reference of the training data kept in the model file
(:mod:`~deepfit.monitor.reference`), drift measures against it (:mod:`~deepfit.monitor.drift`),
a verdict (:mod:`~deepfit.monitor.verdict`) and the page of ``deepfit monitor``
(:mod:`~deepfit.monitor.page`). The server's rolling tracker is
:class:`deepfit.serve.drift.DriftTracker`.
"""

from __future__ import annotations

from deepfit.monitor.drift import DriftBins, FeatureDrift, measure_drift, psi
from deepfit.monitor.reference import Reference, build_reference, model_reference
from deepfit.monitor.verdict import Performance, Verdict, performance, verdict

__all__ = [
    "DriftBins",
    "FeatureDrift",
    "Performance",
    "Reference",
    "Verdict",
    "build_reference",
    "measure_drift",
    "model_reference",
    "performance",
    "psi",
    "verdict",
]
