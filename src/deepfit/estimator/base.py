"""What ``Regressor`` and ``Classifier`` share: scikit-learn's contract around one fitted network.

``__init__`` only stores the parameters (declared in :mod:`deepfit.estimator.params`), ``fit``
returns ``self``, and everything fitted ends in ``_``:

* ``network_``, ``preprocessor_``, ``task_`` (the fitted task: the target's encoding),
  ``settings_`` (every parameter resolved, ``"auto"`` included), ``target_name_``;
* ``history_`` (one record per epoch), ``training_summary_``, ``calibration_`` (intervals
  or prediction sets, or None), ``metrics_`` (when :func:`deepfit.train_table` scored it),
  ``reference_`` (the training data's for drift, :mod:`deepfit.monitor`; None in old files).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from deepfit.artifact import SavedModel, model_params, save_model
from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor
from deepfit.errors import NotFittedError
from deepfit.estimator.fitting import Fitted, fit_model
from deepfit.estimator.inputs import as_frame
from deepfit.estimator.prediction import answers, note_all_missing
from deepfit.estimator.streaming import StreamedData, fit_streamed
from deepfit.models.network import TabularNetwork
from deepfit.tasks.base import Task
from deepfit.training.callbacks import Callback

# Fitted attributes, as SavedModel fields
_SAVED = {
    "network_": "network",
    "preprocessor_": "preprocessor",
    "task_": "task",
    "settings_": "settings",
    "target_name_": "target_name",
    "history_": "history",
    "training_summary_": "training",
    "calibration_": "calibration",
    "quantile_network_": "quantile_network",
    "reference_": "reference",
    "served_network_": "served_network",
}


def store_params(estimator: BaseEstimator, arguments: dict[str, Any]) -> None:
    """``__init__``'s body: keep every keyword argument as an attribute, unchanged."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class Estimator(BaseEstimator):
    """The shared half of the fronts; subclasses set ``task_name`` and their ``__init__``."""

    task_name: ClassVar[str]
    network_: TabularNetwork
    preprocessor_: TabularPreprocessor
    task_: Task
    settings_: dict[str, Any]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_val: Any = None,
        y_val: Any = None,
        resume: bool = False,
        callbacks: Sequence[Callback] | None = None,
    ) -> Self:
        """Fit the network on ``X, y``; early-stop on ``X_val, y_val`` or a held-out share.

        ``resume=True`` continues the run saved in ``checkpoint_dir``. ``callbacks`` are
        :class:`~deepfit.training.callbacks.Callback` objects that see every epoch of every
        network trained (e.g. an Optuna pruner). Ctrl-C stops training at the end of the
        current batch and the model keeps the best weights so far
        (``training_summary_["stop_reason"] == "interrupted"``). Returns self.
        """
        fitted = fit_model(
            self,
            self.task_name,
            X,
            y,
            X_val=X_val,
            y_val=y_val,
            resume=resume,
            callbacks=list(callbacks or ()),
        )
        self._adopt(fitted)
        return self

    def fit_streamed(
        self,
        data: StreamedData,
        task: Task,
        *,
        resume: bool = False,
        callbacks: Sequence[Callback] | None = None,
    ) -> Self:
        """Fit on a table streamed from disk after its statistics pass (see
        :mod:`deepfit.streamed`, which makes ``data``); ``task`` is a fresh task object."""
        fitted = fit_streamed(
            self, self.task_name, data, task, resume=resume, callbacks=list(callbacks or ())
        )
        self._adopt(fitted)
        return self

    def _adopt(self, fitted: Fitted) -> None:
        self.network_ = fitted.network
        self.preprocessor_ = fitted.preprocessor
        self.task_ = fitted.task
        self.settings_ = fitted.settings
        self.target_name_ = fitted.target_name
        self.history_ = fitted.history
        self.training_summary_ = fitted.summary
        self.calibration_ = fitted.calibration
        self.quantile_network_ = fitted.quantile_network
        self.reference_ = fitted.reference
        self.served_network_ = fitted.served_network
        self.__dict__.pop("metrics_", None)  # scores of an earlier fit

    # ------------------------------------------------------------------------- predicting
    def check_fitted(self) -> None:
        """Raise NotFittedError unless the estimator was fitted or loaded."""
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first or load "
                "a saved model"
            )

    def prepare(self, X: Any) -> PreparedFeatures:
        """``X`` prepared by the fitted preprocessor (counts unseen categories, and notes a
        feature missing in every row)."""
        self.check_fitted()
        features = self.preprocessor_.transform(as_frame(self, X, reset=False))
        note_all_missing(features)
        return features

    def predict_answers(self, X: Any) -> np.ndarray:
        """The network's answers for raw rows ``X``: :meth:`answers` of :meth:`prepare`."""
        return self.answers(self.prepare(X))

    def answers(self, features: PreparedFeatures) -> np.ndarray:
        """The network's answers for prepared rows: numbers in the target's units, or class
        probabilities ``[rows, classes]``."""
        self.check_fitted()
        return answers(self.network_, features)

    def check_interval(self, level: float) -> None:
        """Raise a ConfigError unless the model can give intervals or sets at ``level``."""
        raise NotImplementedError

    def prediction_frame(
        self, X: Any, *, interval: float | None = None
    ) -> tuple[pd.DataFrame, int]:
        """The columns ``deepfit predict`` writes for ``X``, and the unseen categories."""
        raise NotImplementedError

    def answer_fields(
        self, features: PreparedFeatures, answers: np.ndarray, level: float | None
    ) -> dict[str, Any]:
        """The task's fields of the server's answer for prepared rows and their answers."""
        raise NotImplementedError

    # --------------------------------------------------------------------------- saving
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the fitted model to one ``.deepfit`` file (atomically; no pickle)."""
        self.check_fitted()
        return save_model(self.describe(), path, overwrite=overwrite)

    def describe(self) -> SavedModel:
        """The fitted model as the model file holds it."""
        self.check_fitted()
        names = getattr(self, "feature_names_in_", None)
        return SavedModel(
            network=self.network_,
            preprocessor=self.preprocessor_,
            task=self.task_,
            settings=self.settings_,
            target_name=self.target_name_,
            history=self.history_,
            training=self.training_summary_,
            calibration=getattr(self, "calibration_", None),
            quantile_network=getattr(self, "quantile_network_", None),
            reference=getattr(self, "reference_", None),
            served_network=getattr(self, "served_network_", None),
            params=self.get_params(deep=False),
            n_features_in=int(self.n_features_in_),
            feature_names_in=None if names is None else [str(n) for n in names],
            metrics=getattr(self, "metrics_", None),
        )

    @classmethod
    def from_saved(cls, saved: SavedModel) -> Self:
        """The estimator a model file describes, fitted, with its parameters as saved."""
        estimator = cls(**model_params(saved.params))
        for name, field in _SAVED.items():
            setattr(estimator, name, getattr(saved, field))
        estimator.n_features_in_ = saved.n_features_in
        if saved.feature_names_in is not None:
            estimator.feature_names_in_ = np.asarray(saved.feature_names_in, dtype=object)
        if saved.metrics is not None:
            estimator.metrics_ = saved.metrics
        estimator.metadata_ = saved.versions
        return estimator
