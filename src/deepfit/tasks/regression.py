"""Regression: a number per row, a linear output, a standardised target, intervals.

Example:
    >>> task = RegressionTask()
    >>> task.fit(np.array([10.0, 20.0, 30.0]))
    >>> task.encode(np.array([20.0])).tolist(), task.n_outputs
    ([0.0], 1)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from deepfit.data.target import LOG_TRANSFORMS, TARGET_TRANSFORMS, TargetScaler, check_target
from deepfit.errors import DataError, DeepfitWarning
from deepfit.evaluation.baselines import BASELINES, BaselineData, fit_baselines
from deepfit.evaluation.intervals import (
    ConformalCalibration,
    QuantileCalibration,
    calibration_from_dict,
)
from deepfit.evaluation.metrics import regression_metrics
from deepfit.models.heads import TargetUnits
from deepfit.tasks.base import Predictor, Task

SHOWN = {
    "rmse": "RMSE",
    "mae": "MAE",
    "median_ae": "median AE",
    "r2": "R²",
    "explained_variance": "expl. variance",
    "mape": "MAPE",
    "rmsle": "RMSLE",
    "mse": "MSE",
    "msle": "MSLE",
}


class RegressionTask(Task):
    """Predict a number: the loss reads the standardised target, the head gives its units."""

    name: ClassVar[str] = "regression"
    shown_metrics: ClassVar[dict[str, str]] = SHOWN
    primary_metric: ClassVar[str] = "rmse"
    higher_is_better: ClassVar[frozenset[str]] = frozenset({"r2", "explained_variance"})
    baseline_names: ClassVar[tuple[str, ...]] = BASELINES
    importance_scorer: ClassVar[str] = "neg_root_mean_squared_error"
    answer_name: ClassVar[str] = "prediction"

    def __init__(self, scaler: TargetScaler | None = None, transform: str = "none") -> None:
        self.scaler = scaler or TargetScaler()
        self.transform = transform

    def check_target(self, y: Any, name: str = "target") -> np.ndarray:
        return check_target(y, name)

    def configure(self, settings: Mapping[str, Any], y: np.ndarray) -> None:
        """``target_transform``: "log" and "log_link" train on the logarithm of a positive
        target; "log_link" scores it in the target's units."""
        self.transform = str(settings.get("target_transform") or "none")
        self._transformed(y)

    def fit(self, y: np.ndarray, *, every: np.ndarray | None = None) -> None:
        self.scaler = TargetScaler.fit(self._transformed(y))  # the training rows' scale only

    def _transformed(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if self.transform not in LOG_TRANSFORMS:
            return y
        rows = np.flatnonzero(~(y > 0))
        if len(rows):
            raise DataError(
                f"target_transform='{self.transform}' needs a positive target, but row "
                f"{rows[0] + 1} holds {y[rows[0]]:g} ({len(rows)} such row(s)); drop them or use "
                "target_transform='none'"
            )
        return np.log(y)

    @property
    def n_outputs(self) -> int:
        return 1

    @property
    def answer_scale(self) -> float:
        if self.transform in LOG_TRANSFORMS:  # exp's slope at the mean: a spread in its units
            return float(self.scaler.std * np.exp(self.scaler.mean))
        return self.scaler.std

    def encode(self, y: np.ndarray) -> torch.Tensor:
        return torch.tensor(self.scaler.transform(self._transformed(y)), dtype=torch.float32)

    def head(self) -> nn.Module:
        return TargetUnits(
            mean=self.scaler.mean, std=self.scaler.std, log=self.transform in LOG_TRANSFORMS
        )

    def loss_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The loss by name; under "log_link" it scores ``exp`` of the network's answer in
        units of :attr:`answer_scale`."""
        link = None
        if self.transform == "log_link":
            link = (self.scaler.mean, self.scaler.std, self.answer_scale)
        return {
            "loss": settings["loss"],
            "huber_delta": float(settings["huber_delta"]),
            "log_link": link,
        }

    def predictions(self, answers: np.ndarray) -> np.ndarray:
        return np.asarray(answers, dtype=np.float64)

    def metrics(self, y: np.ndarray, answers: np.ndarray) -> dict[str, float]:
        return regression_metrics(y, answers)

    def target_values(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64)

    def baselines(
        self, data: BaselineData, *, seed: int, names: tuple[str, ...] | None = None
    ) -> dict[str, Predictor]:
        return fit_baselines(data, seed=seed, names=names or BASELINES)

    def calibrate(
        self, raw: np.ndarray, y: np.ndarray, settings: Mapping[str, Any]
    ) -> ConformalCalibration | None:
        """The split-conformal residuals of the held-out rows (the quantile method's scores
        are the estimator's, which owns the interval network)."""
        predicted = self.head()(torch.as_tensor(raw)).numpy()
        residuals = np.abs(np.asarray(y, dtype=np.float64) - predicted)
        if not np.isfinite(residuals).all():
            warnings.warn(
                "some validation predictions are not finite, so the model has no prediction "
                "intervals",
                DeepfitWarning,
                stacklevel=3,
            )
            return None
        return ConformalCalibration.from_residuals(residuals)

    def calibration_from_dict(self, document: Any) -> ConformalCalibration | QuantileCalibration:
        return calibration_from_dict(document)

    def to_dict(self) -> dict[str, Any]:
        scaler = self.scaler
        document = {"task": self.name, "target_mean": scaler.mean, "target_std": scaler.std}
        if self.transform != "none":  # files without it load as before
            document["target_transform"] = self.transform
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> RegressionTask:
        mean, std = float(document["target_mean"]), float(document["target_std"])
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ValueError("the target's mean and standard deviation must be finite, std > 0")
        transform = document.get("target_transform", "none")
        if transform not in TARGET_TRANSFORMS:
            raise ValueError(f"target_transform must be one of {', '.join(TARGET_TRANSFORMS)}")
        return cls(TargetScaler(mean, std), transform)
