"""Classification metrics agree with scikit-learn's and survive absent classes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from deepfit.errors import DataError
from deepfit.evaluation.classification_metrics import (
    CLASSIFICATION_METRICS,
    classification_metrics,
    confusion,
    per_class_metrics,
)


def _problem(n_rows: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels sampled from noisy probabilities: better than chance, far from perfect."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n_rows, n_classes))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    codes = (rng.random((n_rows, 1)) > np.cumsum(proba, axis=1)).sum(axis=1)
    return np.minimum(codes, n_classes - 1), proba


# ---------------------------------------------------------------------- against sklearn
def test_binary_metrics_are_sklearns() -> None:
    codes, proba = _problem(500, 2)
    scores = classification_metrics(codes, proba)
    predicted = proba.argmax(axis=1)
    assert list(scores) == list(CLASSIFICATION_METRICS)
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(codes, predicted))
    assert scores["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(codes, predicted)
    )
    assert scores["log_loss"] == pytest.approx(skm.log_loss(codes, proba))
    assert scores["brier"] == pytest.approx(skm.brier_score_loss(codes, proba[:, 1]))
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(codes, proba[:, 1]))
    assert scores["f1_macro"] == pytest.approx(skm.f1_score(codes, predicted, average="macro"))
    assert 0.6 < scores["roc_auc"] < 0.95  # the problem is learnable but noisy


def test_multiclass_metrics_are_sklearns() -> None:
    codes, proba = _problem(600, 4, seed=1)
    scores = classification_metrics(codes, proba)
    predicted = proba.argmax(axis=1)
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(codes, predicted))
    assert scores["log_loss"] == pytest.approx(skm.log_loss(codes, proba, labels=range(4)))
    expected_auc = skm.roc_auc_score(codes, proba, multi_class="ovr", average="macro")
    assert scores["roc_auc"] == pytest.approx(expected_auc)
    assert scores["f1_macro"] == pytest.approx(skm.f1_score(codes, predicted, average="macro"))
    # multiclass Brier: mean over rows of the squared distance to the one-hot label
    onehot = np.eye(4)[codes]
    assert scores["brier"] == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    assert scores["brier"] == pytest.approx(skm.brier_score_loss(codes, proba, labels=range(4)))


def test_a_perfect_model_scores_perfectly() -> None:
    codes = np.array([0, 1, 2, 2, 1, 0])
    scores = classification_metrics(codes, np.eye(3)[codes])
    assert scores["accuracy"] == scores["balanced_accuracy"] == scores["f1_macro"] == 1.0
    assert scores["roc_auc"] == 1.0
    assert scores["brier"] == 0.0
    assert scores["log_loss"] < 1e-12


# ---------------------------------------------------------------------- absent classes
def test_a_confident_mistake_has_a_large_finite_log_loss() -> None:
    codes = np.array([0, 1, 2])
    proba = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    scores = classification_metrics(codes, proba)
    assert 10.0 < scores["log_loss"] < 15.0  # one row at -log(1e-15) = 34.5, two at 0


def test_log_loss_counts_every_class_even_when_the_labels_lack_some() -> None:
    codes = np.array([0, 0, 1])  # class 2 absent from the labels, not from the model
    proba = np.array([[0.5, 0.2, 0.3], [0.6, 0.2, 0.2], [0.1, 0.6, 0.3]])
    expected = -np.mean(np.log([0.5, 0.6, 0.6]))
    assert classification_metrics(codes, proba)["log_loss"] == pytest.approx(expected)


def test_roc_auc_is_over_the_present_classes_only() -> None:
    codes, proba = _problem(400, 4, seed=2)
    keep = codes != 3  # class 3 never occurs in this split
    codes, proba = codes[keep], proba[keep]
    present = proba[:, :3] / proba[:, :3].sum(axis=1, keepdims=True)
    expected = skm.roc_auc_score(codes, present, multi_class="ovr", average="macro")
    assert classification_metrics(codes, proba)["roc_auc"] == pytest.approx(expected)
    # with two classes left, it is the binary AUC between them
    two = codes != 2
    pair = proba[two][:, 1] / (proba[two][:, 0] + proba[two][:, 1])
    expected_pair = skm.roc_auc_score(codes[two], pair)
    assert classification_metrics(codes[two], proba[two])["roc_auc"] == pytest.approx(expected_pair)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_roc_auc_is_left_out_with_a_single_class(n_classes: int) -> None:
    codes = np.ones(5, dtype=np.int64)
    proba = np.full((5, n_classes), 1.0 / n_classes)
    scores = classification_metrics(codes, proba)
    assert "roc_auc" not in scores
    assert all(np.isfinite(value) for value in scores.values())
    assert set(scores) == set(CLASSIFICATION_METRICS) - {"roc_auc"}


def test_no_rows_give_no_metrics() -> None:
    assert classification_metrics(np.zeros(0, dtype=np.int64), np.zeros((0, 3))) == {}


# ----------------------------------------------------------- confusion and per class
def test_confusion_is_sklearns_with_every_class_kept() -> None:
    codes = np.array([0, 0, 1, 1, 1, 3])
    predicted = np.array([0, 1, 1, 1, 0, 0])
    matrix = confusion(codes, predicted, n_classes=5)
    assert matrix.dtype == np.int64
    assert matrix.shape == (5, 5)
    np.testing.assert_array_equal(matrix, skm.confusion_matrix(codes, predicted, labels=range(5)))
    assert matrix[1, 0] == 1  # row: true class, column: predicted class
    assert matrix[2].sum() == matrix[:, 2].sum() == 0  # class 2 absent from both
    assert matrix.sum() == 6


def test_per_class_metrics_are_sklearns() -> None:
    codes, proba = _problem(300, 3, seed=3)
    proba = np.column_stack([proba[:, :2], np.zeros(300)])  # class 2 never predicted
    proba /= proba.sum(axis=1, keepdims=True)
    rows = per_class_metrics(codes, proba)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        codes, proba.argmax(axis=1), labels=range(3), zero_division=0
    )
    assert len(rows) == 3
    for k, row in enumerate(rows):
        assert row == pytest.approx(
            {"precision": precision[k], "recall": recall[k], "f1": f1[k], "support": support[k]}
        )
    assert rows[2]["precision"] == rows[2]["recall"] == 0.0
    assert sum(row["support"] for row in rows) == 300


def test_metric_table_names_a_direction_for_each_metric() -> None:
    assert CLASSIFICATION_METRICS["log_loss"] == ("log-loss", False)
    assert CLASSIFICATION_METRICS["accuracy"][1] is True
    assert CLASSIFICATION_METRICS["brier"][1] is False


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("codes", "proba", "message"),
    [
        ([0, 1], [[0.5, 0.5]], "expected 1 class codes"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], r"0\.\.1"),
        ([0, 1], [[2.0, -1.0], [0.5, 0.5]], "non-negative"),
        ([0, 1], [[3.0, 1.0], [0.5, 0.5]], "sum to 1"),
        ([0.5, 1], [[0.5, 0.5], [0.5, 0.5]], "integers"),
        ([0, 1], [0.5, 0.5], "2-D"),
    ],
)
def test_bad_input_is_a_data_error(codes: list, proba: list, message: str) -> None:
    with pytest.raises(DataError, match=message):
        classification_metrics(np.array(codes), np.array(proba))
