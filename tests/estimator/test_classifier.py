"""``Classifier``: labels in, calibrated probabilities and conformal sets out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepfit import Classifier, ConfigError, load
from tests.support.tables import FAST_CLASSIFIER, make_label_table


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns="label"), frame["label"]


@pytest.fixture(scope="module")
def fitted() -> Classifier:
    X, y = split(make_label_table(600, seed=0, classes=3))
    return Classifier(**FAST_CLASSIFIER).fit(X, y)


def test_predictions_are_labels_and_probabilities_sum_to_one(fitted: Classifier) -> None:
    X, y = split(make_label_table(300, seed=1, classes=3))
    assert fitted.classes_.tolist() == ["high", "low", "mid"]
    probabilities = fitted.predict_proba(X)
    assert probabilities.shape == (300, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    predicted = fitted.predict(X)
    assert set(predicted) <= {"high", "low", "mid"}
    assert (predicted == fitted.classes_[probabilities.argmax(axis=1)]).all()
    assert fitted.score(X, y) > 0.55  # a learnable, noisy problem: well above a third
    assert fitted.training_summary_["stop_reason"]
    assert 0.2 < fitted.task_.temperature < 5.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("labels", [[0, 1], [10, 20, 30], [False, True]])
def test_integer_and_boolean_labels_come_back_in_their_own_type(labels: list) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.asarray(labels)[(X[:, 0] > 0).astype(int) + (len(labels) == 3) * (X[:, 1] > 1)]
    model = Classifier(**{**FAST_CLASSIFIER, "max_epochs": 5}).fit(X, y)
    assert model.classes_.tolist() == labels
    assert type(model.predict(X[:1])[0].item()) is type(labels[0])


def test_prediction_sets_cover_the_level_on_fresh_rows() -> None:
    X, y = split(make_label_table(1500, seed=2, classes=3))
    model = Classifier(**{**FAST_CLASSIFIER, "max_epochs": 30}, validation_fraction=0.3)
    model.fit(X, y)
    X_new, y_new = split(make_label_table(4000, seed=3, classes=3))
    sets = model.predict_sets(X_new, 0.9)
    covered = sets[np.arange(len(y_new)), np.searchsorted(model.classes_, y_new)]
    assert 0.87 <= covered.mean() <= 0.93
    frame, unseen = model.prediction_frame(X_new.head(4), interval=0.9)
    assert list(frame.columns) == [
        "predicted_label", "proba_high", "proba_low", "proba_mid", "set_label"
    ]  # fmt: skip
    assert unseen == 0
    first = set(frame["set_label"][0].split("|")) - {""}
    assert first == set(model.classes_[sets[0]])
    with pytest.raises(ConfigError, match="at most"):
        model.predict_sets(X_new, 0.9999)


def test_a_model_without_held_out_rows_has_no_sets() -> None:
    X, y = split(make_label_table(100, seed=4))
    model = Classifier(**{**FAST_CLASSIFIER, "max_epochs": 3}, patience=None).fit(X, y)
    with pytest.raises(ConfigError, match="no prediction sets"):
        model.predict_sets(X, 0.9)


def test_save_and_load_give_the_same_probabilities(fitted: Classifier, tmp_path: Path) -> None:
    X, _ = split(make_label_table(50, seed=5, classes=3))
    again = load(fitted.save(tmp_path / "clf.deepfit"))
    assert isinstance(again, Classifier)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert again.classes_.tolist() == fitted.classes_.tolist()
    np.testing.assert_array_equal(again.predict_sets(X, 0.8), fitted.predict_sets(X, 0.8))


def test_balanced_class_weights_find_more_of_a_rare_class() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(1200, 3))
    rare = X[:, 0] + 0.8 * rng.normal(size=1200) > 1.6  # about 8% of rows
    y = np.where(rare, "rare", "common")
    settings = {**FAST_CLASSIFIER, "max_epochs": 20}
    plain = Classifier(**settings).fit(X, y)
    balanced = Classifier(**settings, class_weight="balanced").fit(X, y)
    X_new = rng.normal(size=(3000, 3))
    truly_rare = X_new[:, 0] + 0.8 * rng.normal(size=3000) > 1.6
    recall = [float((m.predict(X_new)[truly_rare] == "rare").mean()) for m in (plain, balanced)]
    assert recall[1] > recall[0] + 0.1


def test_auto_is_the_default_recipe_with_the_task_s_output() -> None:
    X, y = split(make_label_table(150, seed=7, classes=3))
    model = Classifier(max_epochs=2, time_limit=30.0).fit(X, y)
    assert model.training_summary_["auto"]["model"] == "ensemble"
    assert model.predict_proba(X).shape == (150, 3)


def test_works_in_pipeline_grid_search_and_cross_validation_with_its_scorers() -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(240, 4))
    y = np.where(X @ np.array([1.0, -1.0, 0.5, 2.0]) > 0, "pos", "neg")
    settings = {**FAST_CLASSIFIER, "max_epochs": 15}
    assert make_pipeline(StandardScaler(), Classifier(**settings)).fit(X, y).score(X, y) > 0.9
    search = GridSearchCV(Classifier(**settings), {"label_smoothing": [0.0, 0.1]}, cv=2)
    assert search.fit(X, y).best_params_["label_smoothing"] in (0.0, 0.1)
    for scoring in ("accuracy", "neg_log_loss", "roc_auc"):
        scores = cross_val_score(Classifier(**settings), X, y, cv=3, scoring=scoring)
        assert scores.shape == (3,)
        assert np.isfinite(scores).all()
    assert cross_val_score(Classifier(**settings), X, y, cv=3, scoring="roc_auc").min() > 0.9
