"""The classification task: labels in their own type, codes, checks, calibration, JSON."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from deepfit.errors import DataError, DeepfitWarning
from deepfit.tasks import ClassificationTask, task_from_dict


def fitted(labels: list) -> ClassificationTask:
    task = ClassificationTask()
    target = task.check_target(labels, "y")
    task.check_learnable(target)
    task.fit(target)
    return task


@pytest.mark.parametrize(
    ("labels", "kind"),
    [
        (["b", "a", "c", "a", "b", "c"], str),
        ([3, 1, 2, 1, 3, 2], int),
        ([True, False, True, False], bool),
    ],
)
def test_classes_are_sorted_in_their_own_type_and_survive_json(labels: list, kind: type) -> None:
    task = fitted(labels)
    assert task.classes.tolist() == sorted(set(labels))
    assert all(type(label) is kind for label in task.classes.tolist())
    again = task_from_dict(task.to_dict())
    assert again.classes.tolist() == task.classes.tolist()  # type: ignore[attr-defined]
    assert all(type(label) is kind for label in again.classes.tolist())  # type: ignore[attr-defined]
    codes = task.encode(np.asarray(labels))
    assert codes.dtype == torch.int64
    assert task.classes[codes.numpy()].tolist() == labels


def test_a_single_class_and_a_label_seen_once_are_one_line_errors_naming_them() -> None:
    with pytest.raises(DataError, match=r"only one class \('yes'\)"):
        fitted(["yes"] * 5)
    with pytest.raises(DataError, match=r"class 'rare' appears in only one row"):
        fitted(["a", "a", "b", "b", "rare"])
    districts = [f"AL-{i}" for i in range(40)]  # a name or id on every row
    with pytest.raises(
        DataError, match=r"has 40 labels in 40 rows, and 40 of them appear only once"
    ):
        fitted(districts)
    with pytest.raises(DataError, match=r"class 'AL-0' appears in only one row"):
        fitted(districts[:3] + ["a", "b"] * 10)  # a few rare labels among common ones


def test_rows_of_a_label_seen_once_are_left_out_with_a_warning_naming_it() -> None:
    task = ClassificationTask()
    labels = np.asarray(["a", "b", "rare", "a", "b", "odd", "a", "b"] * 1, dtype=object)
    with pytest.warns(DeepfitWarning, match=r"left out 2 rows .*\('odd', 'rare'\)"):
        keep = task.learnable_rows(labels)
    assert keep is not None
    assert labels[keep].tolist() == ["a", "b", "a", "b", "a", "b"]
    task.check_learnable(labels[keep])  # what is left can be learned
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert task.learnable_rows(np.asarray(["a", "b", "a", "b"])) is None
        names = np.asarray([f"n{i}" for i in range(12)])
        assert task.learnable_rows(names) is None  # a name on every row: refused instead
    with pytest.raises(DataError, match="as names or ids do"):
        task.check_learnable(names)


def test_classes_the_split_kept_out_of_training_still_get_an_output() -> None:
    task = ClassificationTask()
    task.fit(np.array(["a", "a", "b"]), every=np.array(["a", "b", "c", "c"]))
    assert task.classes.tolist() == ["a", "b", "c"]
    assert task.counts == [2, 1, 0]  # training rows per class
    assert task.class_weights("balanced")[2] == pytest.approx(3 / 3)  # as if seen once


def test_missing_and_continuous_targets_are_refused() -> None:
    task = ClassificationTask()
    with pytest.raises(DataError, match=r"missing in 1 row\(s\) \(first: 2\)"):
        task.check_target(["a", None, "b"], "y")
    with pytest.raises(DataError, match="Unknown label type: target 'y' holds continuous"):
        task.check_target([0.5, 1.25, 2.0], "y")


def test_a_label_never_trained_on_is_named() -> None:
    task = fitted(["a", "a", "b", "b"])
    with pytest.raises(DataError, match="label 'c' was not among the classes"):
        task.codes(np.array(["a", "c"], dtype=object))


def test_balanced_weights_grow_for_rare_classes_and_dict_weights_follow_labels() -> None:
    task = fitted(["a"] * 8 + ["b"] * 2)
    weights = task.class_weights("balanced")
    assert weights == pytest.approx((10 / (2 * 8), 10 / (2 * 2)))
    assert task.class_weights({"b": 3.0}) == (1.0, 3.0)
    assert task.class_weights(None) == ()


def test_calibration_softens_over_confident_logits_and_keeps_the_argmax() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2000, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array(["a", "b", "c"], dtype=object)[
        [rng.choice(3, p=row) for row in probabilities]
    ]
    task = fitted(["a", "a", "b", "b", "c", "c"])
    calibration = task.calibrate(4.0 * logits, labels, {"interval_method": "lac"})  # 4x sure
    assert 3.0 < task.temperature < 5.0
    answers = task.head()(torch.as_tensor(4.0 * logits)).numpy()
    np.testing.assert_allclose(answers.sum(axis=1), 1.0, atol=1e-12)
    assert (answers.argmax(axis=1) == logits.argmax(axis=1)).all()
    assert calibration is not None
    assert calibration.method == "lac"
    assert task_from_dict(task.to_dict()).temperature == task.temperature  # type: ignore[attr-defined]


def test_metrics_and_predictions_speak_labels() -> None:
    task = fitted(["no", "yes", "no", "yes"])
    answers = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    assert task.predictions(answers).tolist() == ["no", "yes", "yes"]
    scores = task.metrics(np.array(["no", "yes", "no"], dtype=object), answers)
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert task.better("accuracy", 0.9, 0.8)
    assert task.better("log_loss", 0.2, 0.3)


def test_labels_that_differ_only_in_spaces_or_case_are_kept_with_a_warning() -> None:
    task = ClassificationTask()
    labels = np.asarray(["no", "no ", "yes", "Yes", "no", "yes"], dtype=object)
    with pytest.warns(DeepfitWarning, match=r"labels 'Yes' and 'yes' \(and 1 more such group"):
        task.fit(labels)
    assert task.n_outputs == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ClassificationTask().fit(np.asarray(["no", "yes", "maybe"], dtype=object))
