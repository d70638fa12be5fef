"""Classification metrics from class codes and predicted probabilities.

Labels are integer codes ``0..C-1`` in the model's class order; probabilities are float
arrays ``[rows, C]`` whose rows sum to 1. The predicted class is the most probable one (the
lowest code on a tie). Metrics that a split does not allow (ROC AUC with a single class in
it) are left out of :func:`classification_metrics` rather than reported as NaN.

Example:
    >>> codes = np.array([0, 1, 1, 0])
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    >>> classification_metrics(codes, proba)["accuracy"]
    0.75
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn import metrics as skm

from deepfit.errors import DataError

# Probabilities are clipped to at least this before a logarithm: a confident mistake costs
# about 34.5 nats of log-loss rather than infinity.
PROBABILITY_FLOOR = 1e-15
# How far a row of probabilities may sum from 1 (float32 softmax drifts by about 1e-7).
SUM_TOLERANCE = 1e-3

# name -> (label shown to a person, higher is better); the order is the order of reports.
CLASSIFICATION_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("accuracy", True),
    "balanced_accuracy": ("balanced accuracy", True),
    "log_loss": ("log-loss", False),
    "brier": ("Brier score", False),
    "roc_auc": ("ROC AUC", True),
    "f1_macro": ("macro F1", True),
}


def as_probabilities(proba: Any) -> np.ndarray:
    """``proba`` as float64 ``[rows, C]`` with rows renormalised to sum to 1, or a DataError.

    Example:
        >>> as_probabilities([[0.25, 0.75]]).dtype
        dtype('float64')
    """
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 1:
        raise DataError(
            f"probabilities must be a 2-D array [rows, classes]; got shape {values.shape}; "
            "pass predict_proba's output"
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise DataError(
            "probabilities must be finite and non-negative; found NaN, infinite or negative "
            "values; pass probabilities (a softmax of the logits), not logits"
        )
    sums = values.sum(axis=1, keepdims=True)
    if (np.abs(sums - 1.0) > SUM_TOLERANCE).any():
        worst = float(sums[np.argmax(np.abs(sums - 1.0))][0])
        raise DataError(
            f"each row of probabilities must sum to 1; found a row summing to {worst:g}; "
            "pass probabilities (a softmax of the logits), not logits or scores"
        )
    return values / sums


def as_codes(codes: Any, n_classes: int, n_rows: int | None = None) -> np.ndarray:
    """``codes`` as int64 class codes in ``0..n_classes-1`` (``n_rows`` long), or a DataError.

    Example:
        >>> as_codes([0.0, 2.0], n_classes=3)
        array([0, 2])
    """
    values = np.asarray(codes).ravel()
    if (
        values.dtype.kind == "f"
        and np.isfinite(values).all()
        and (values == np.round(values)).all()
    ):
        values = values.astype(np.int64)
    if values.dtype.kind not in "iu":
        raise DataError(
            f"class codes must be integers 0..{n_classes - 1}; got dtype {values.dtype}; "
            "encode the labels in the model's class order first"
        )
    if n_rows is not None and len(values) != n_rows:
        raise DataError(
            f"expected {n_rows} class codes, one per row of probabilities; got {len(values)}; "
            "pass the labels of the same rows"
        )
    if len(values) and (values.min() < 0 or values.max() >= n_classes):
        raise DataError(
            f"class codes must lie in 0..{n_classes - 1} (the model's {n_classes} classes); "
            f"found {int(values.min())}..{int(values.max())}; encode the labels in the "
            "model's class order"
        )
    return values.astype(np.int64)


def log_loss(codes: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-probability of the true class, probabilities clipped at 1e-15.

    Example:
        >>> round(log_loss(np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]])), 4)
        0.6931
    """
    proba = as_probabilities(proba)
    n_classes = proba.shape[1]
    codes = as_codes(codes, n_classes, len(proba))
    if n_classes < 2:
        return 0.0
    clipped = np.clip(proba, PROBABILITY_FLOOR, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return float(skm.log_loss(codes, clipped, labels=list(range(n_classes))))


def brier(codes: np.ndarray, proba: np.ndarray) -> float:
    """Brier score: binary, the mean of ``(p_1 - [y = 1])^2`` (sklearn's
    ``brier_score_loss``); multiclass, the mean over rows of the sum over classes of
    ``(p_k - [y = k])^2`` (so between 0 and 2).

    Example:
        >>> brier(np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]))
        0.1
    """
    proba = as_probabilities(proba)
    codes = as_codes(codes, proba.shape[1], len(proba))
    if proba.shape[1] == 2:
        return float(np.mean((proba[:, 1] - (codes == 1)) ** 2))
    onehot = np.eye(proba.shape[1])[codes]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def roc_auc(codes: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC: binary on ``proba[:, 1]``; multiclass macro one-vs-rest over the classes
    present in ``codes`` (their columns renormalised); NaN with fewer than two present.

    Example:
        >>> roc_auc(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
        1.0
    """
    proba = as_probabilities(proba)
    codes = as_codes(codes, proba.shape[1], len(proba))
    present = np.unique(codes)
    if len(present) < 2:
        return float("nan")
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(codes, proba[:, 1]))
    if len(present) < proba.shape[1]:
        proba = proba[:, present]
        sums = proba.sum(axis=1, keepdims=True)
        # a row with no mass on any present class carries no ranking information: uniform
        proba = np.where(sums > 0, proba / np.where(sums > 0, sums, 1.0), 1.0 / len(present))
        codes = np.searchsorted(present, codes)
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(codes, proba[:, 1]))
    return float(
        skm.roc_auc_score(
            codes, proba, multi_class="ovr", average="macro", labels=list(range(proba.shape[1]))
        )
    )


def classification_metrics(codes: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Every metric the split allows, by name, in the order of :data:`CLASSIFICATION_METRICS`.

    ``f1_macro`` averages over the classes found in ``codes`` or in the predictions (as
    sklearn's ``f1_score`` does), so a class absent from both does not count as an F1 of 0.

    Example:
        >>> proba = np.array([[0.8, 0.2], [0.3, 0.7]])
        >>> sorted(classification_metrics(np.array([0, 1]), proba))[:3]
        ['accuracy', 'balanced_accuracy', 'brier']
    """
    proba = as_probabilities(proba)
    codes = as_codes(codes, proba.shape[1], len(proba))
    if len(codes) == 0:
        return {}
    predicted = np.argmax(proba, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true" and kin
        scores = {
            "accuracy": float(skm.accuracy_score(codes, predicted)),
            "balanced_accuracy": float(skm.balanced_accuracy_score(codes, predicted)),
            "log_loss": log_loss(codes, proba),
            "brier": brier(codes, proba),
            "roc_auc": roc_auc(codes, proba),
            "f1_macro": float(skm.f1_score(codes, predicted, average="macro", zero_division=0)),
        }
    return {name: value for name, value in scores.items() if np.isfinite(value)}


def confusion(codes: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``[C, C]`` (int64) of rows by true class (rows) and predicted class (columns).

    Example:
        >>> confusion(np.array([0, 1, 1]), np.array([0, 1, 0]), n_classes=3)
        array([[1, 0, 0],
               [1, 1, 0],
               [0, 0, 0]])
    """
    true = as_codes(codes, n_classes)
    guess = as_codes(predicted, n_classes, len(true))
    counts = np.bincount(true * n_classes + guess, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def per_class_metrics(codes: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall, F1 and support of each class code ``0..C-1`` (0 where undefined).

    Example:
        >>> proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
        >>> per_class_metrics(np.array([0, 1, 1]), proba)[1]["recall"]
        0.5
    """
    proba = as_probabilities(proba)
    codes = as_codes(codes, proba.shape[1], len(proba))
    labels = list(range(proba.shape[1]))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        codes, np.argmax(proba, axis=1), labels=labels, zero_division=0
    )
    return [
        {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k in labels
    ]


__all__ = [
    "CLASSIFICATION_METRICS",
    "as_codes",
    "as_probabilities",
    "brier",
    "classification_metrics",
    "confusion",
    "log_loss",
    "per_class_metrics",
    "roc_auc",
]
