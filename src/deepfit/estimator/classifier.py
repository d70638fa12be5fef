"""``Classifier``: a scikit-learn classifier that fits a tabular neural network.

Example:
    >>> import numpy as np
    >>> from deepfit import Classifier
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    >>> clf = Classifier(model="mlp", hidden_layers=(32,), max_epochs=30).fit(X, y)
    >>> clf.classes_.tolist()
    ['no', 'yes']
    >>> clf.predict_proba(X[:2]).shape, clf.predict(X[:2]).dtype
    ((2, 2), dtype('O'))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin

from deepfit.data.preprocess import PreparedFeatures
from deepfit.errors import ConfigError
from deepfit.estimator.base import Estimator, store_params
from deepfit.estimator.params import AUTO
from deepfit.evaluation.intervals import check_level
from deepfit.evaluation.prediction_sets import SetCalibration
from deepfit.tasks.classification import ClassificationTask

SET_SEPARATOR = "|"


class Classifier(ClassifierMixin, Estimator):
    """A neural-network classifier for tables, with scikit-learn's fit / predict / predict_proba.

    Labels may be strings, integers or booleans; ``classes_`` keeps them sorted and in their
    own type, and ``predict`` returns them. Binary and multiclass targets train the same
    network (one logit per class, softmax, cross-entropy with optional ``label_smoothing``;
    ``class_weight="balanced"`` for imbalanced labels) and early-stop on the validation
    log-loss. ``model="auto"`` is the regression's recipe (TabM over piecewise-linear
    embeddings) with the output width and loss from the labels.

    Calibration: after training, the held-out validation rows fit one temperature that the
    logits are divided by (temperature scaling), so ``predict_proba`` is calibrated; they
    then calibrate conformal prediction sets (:meth:`predict_sets`, ``interval_method`` lac
    or aps, see :mod:`deepfit.evaluation.prediction_sets`), which hold the true label of at
    least ``level`` of new rows from the same distribution.

    Every parameter is declared in :mod:`deepfit.estimator.params`.

    Example:
        >>> clf = Classifier(class_weight="balanced").fit(X, y)  # doctest: +SKIP
        >>> clf.predict_sets(X_new, 0.9)  # bool [rows, classes]  # doctest: +SKIP
    """

    task_name: ClassVar[str] = "classification"

    def __init__(
        self,
        *,
        model: str = AUTO,
        hidden_layers: tuple[int, ...] | str = AUTO,
        activation: str = "relu",
        dropout: float | str = AUTO,
        norm: str | None = None,
        label_smoothing: float = 0.0,
        class_weight: str | dict[Any, float] | None = None,
        optimizer: str = "adamw",
        learning_rate: float | str = AUTO,
        weight_decay: float | str = AUTO,
        momentum: float = 0.9,
        schedule: str = AUTO,
        l1: float = 0.0,
        l2: float = 0.0,
        batch_size: int | str = AUTO,
        max_epochs: int | str = AUTO,
        patience: int | str | None = AUTO,
        validation_fraction: float = 0.15,
        time_limit: float | str | None = AUTO,
        clip: float | str = AUTO,
        min_category_count: int = 2,
        column_roles: dict[str, str] | None = None,
        device: str = "auto",
        precision: str = "auto",
        random_state: int | None = 0,
        verbose: int = 0,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1,
        init_from: str | Path | None = None,
        train_last: int | None = None,
        n_ensemble: int = 1,
        bootstrap: bool = False,
        numeric_embedding: str | None = AUTO,
        model_options: dict[str, Any] | str | None = AUTO,
        interval_method: str = "lac",
    ) -> None:
        store_params(self, locals())

    @property
    def classes_(self) -> np.ndarray:
        """The labels, sorted, in their own type; ``predict_proba``'s columns follow them."""
        self.check_fitted()
        return np.asarray(cast(ClassificationTask, self.task_).classes)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each row of ``X``."""
        probabilities = self.predict_proba(X)  # checks that the model is fitted
        return self.task_.predictions(probabilities)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities ``[rows, classes]`` (columns in ``classes_`` order);
        each row sums to 1."""
        return self.predict_answers(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict_sets(self, X: Any, level: float) -> np.ndarray:
        """Conformal prediction sets at ``level`` (e.g. 0.9): bool ``[rows, classes]``, True
        where a label is in the row's set. A set may be empty (lac) when no label is likely
        enough for the level; the true label is in the set for at least ``level`` of rows."""
        calibration = self.set_calibration(level)
        return calibration.sets(self.predict_proba(X), level)

    def set_calibration(self, level: float) -> SetCalibration:
        """The calibration behind sets at ``level``, or a ConfigError saying why there is none."""
        self.check_fitted()
        level = check_level(level)
        calibration: SetCalibration | None = getattr(self, "calibration_", None)
        if calibration is None:
            raise ConfigError(
                "this model has no prediction sets: it was fitted without held-out validation "
                "rows to calibrate them on (patience=None and no X_val, or "
                "validation_fraction=0); refit it with early stopping or with X_val, y_val"
            )
        calibration.threshold(level)  # a level too high for the calibration rows: ConfigError
        return calibration

    def check_interval(self, level: float) -> None:
        self.set_calibration(level)

    def answer_fields(
        self, features: PreparedFeatures, answers: np.ndarray, level: float | None
    ) -> dict[str, Any]:
        """``predictions`` (labels), ``classes`` and ``probabilities`` (and with ``level``:
        ``interval`` and ``sets``, each a list of labels)."""
        classes = self.classes_
        fields: dict[str, Any] = {
            "predictions": self.task_.predictions(answers).tolist(),
            "classes": classes.tolist(),
            "probabilities": answers.tolist(),
        }
        if level is not None:
            sets = self.set_calibration(level).sets(answers, level)
            fields |= {"interval": level, "sets": [classes[row].tolist() for row in sets]}
        return fields

    def prediction_frame(
        self, X: Any, *, interval: float | None = None
    ) -> tuple[pd.DataFrame, int]:
        """``predicted_TARGET``, ``proba_LABEL`` per class, and with ``interval``
        ``set_TARGET`` (the set's labels joined by ``|``)."""
        features = self.prepare(X)
        probabilities = self.answers(features)
        target = self.target_name_
        table = pd.DataFrame({f"predicted_{target}": self.task_.predictions(probabilities)})
        for j, label in enumerate(self.classes_):
            table[f"proba_{label}"] = probabilities[:, j]
        if interval is not None:
            sets = self.set_calibration(interval).sets(probabilities, interval)
            table[f"set_{target}"] = label_sets(sets, self.classes_)
        return table, features.unseen_categories


def label_sets(sets: np.ndarray, classes: np.ndarray) -> list[str]:
    """Each row's set as its labels joined by ``|`` (empty text for an empty set)."""
    names = [str(label) for label in classes]
    return [
        SET_SEPARATOR.join(n for n, kept in zip(names, row, strict=True) if kept) for row in sets
    ]
