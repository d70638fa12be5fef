"""``Regressor``: a scikit-learn regressor that fits a tabular neural network.

Example:
    >>> import numpy as np
import pandas as pd
    >>> from deepfit import Regressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> model = Regressor(model="mlp", hidden_layers=(32,), max_epochs=30).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    >>> model.predict(X[:2], interval=0.9).lower.shape  # split-conformal bounds
    (2,)
    >>> ensemble = Regressor(model="mlp", hidden_layers=(32,), max_epochs=30, n_ensemble=3)
    >>> ensemble.fit(X, y).predict_spread(X[:2]).shape  # std across the 3 members
    (2,)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, overload

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin

from deepfit.data.preprocess import PreparedFeatures
from deepfit.errors import ConfigError
from deepfit.estimator.base import Estimator, store_params
from deepfit.estimator.params import AUTO
from deepfit.estimator.prediction import answers, member_answers
from deepfit.evaluation.intervals import (
    ConformalCalibration,
    PredictionIntervals,
    QuantileCalibration,
    bounds,
    check_level,
    quantile_bounds,
)

Calibration = ConformalCalibration | QuantileCalibration


@dataclass
class PredictionResult:
    """Predictions in the target's units, and what preparing the rows noticed.

    With ``predict_with_details(X, interval=level)``, ``lower`` and ``upper`` hold the
    interval of every row at ``level``; otherwise the three are None. With ``spread=True``,
    ``spread`` holds the standard deviation across an ensemble's members.
    """

    values: np.ndarray
    unseen_categories: int
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float | None = None
    spread: np.ndarray | None = None


class Regressor(RegressorMixin, Estimator):
    """A neural-network regressor for tables, with scikit-learn's fit / predict / score.

    Features may be a pandas or polars DataFrame (numeric, categorical, boolean and date
    columns; missing values allowed) or a numeric array. The target is standardised for
    training and predictions come back in its own units. ``target_transform="log"`` trains on
    the logarithm of a positive, skewed target (prices) instead, weighing relative errors
    alike; ``"log_link"`` learns the logarithm but scores its exponential in the target's
    units and in logs, which ``model="auto"`` picks for a positive, right-skewed target.

    Every parameter, its default and what it allows is declared once in
    :mod:`deepfit.estimator.params` (``deepfit train --help`` shows the same table). The
    parameters left at ``"auto"`` are chosen by ``model="auto"`` (TabM over piecewise-linear
    embeddings with its training recipe, see :mod:`deepfit.estimator.auto`), or take their
    plain defaults under another model. Architecture settings of one model go in
    ``model_options`` (e.g. ``{"k": 16}`` for ``ensemble``, ``{"d_token": 96}`` for
    ``ft_transformer``).

    Prediction intervals: ``fit`` keeps the absolute residuals of the held-out validation
    rows (``calibration_``), and ``predict(X, interval=0.9)`` returns split-conformal bounds
    that contain the target of 90% of new rows from the same distribution;
    ``interval_method="quantile"`` gives conformalised quantile regression instead (see
    :mod:`deepfit.evaluation.intervals`). A model fitted without held-out rows has none.

    Ensembles: with ``n_ensemble=K`` the fitted ``network_`` is an
    :class:`~deepfit.models.ensemble.EnsembleNetwork` whose output is the mean of the K
    members; :meth:`predict_spread` gives the members' disagreement.

    Example:
        >>> tuned = Regressor(init_from="old.deepfit", train_last=1)  # doctest: +SKIP
        >>> tuned.fit(X_new, y_new).save("tuned.deepfit")  # doctest: +SKIP
    """

    task_name: ClassVar[str] = "regression"

    def __init__(
        self,
        *,
        model: str = AUTO,
        hidden_layers: tuple[int, ...] | str = AUTO,
        activation: str = "relu",
        dropout: float | str = AUTO,
        norm: str | None = None,
        loss: str = "mse",
        huber_delta: float = 1.0,
        target_transform: str = "auto",
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
        interval_method: str = "conformal",
    ) -> None:
        store_params(self, locals())

    # ------------------------------------------------------------------------- predict
    @overload
    def predict(self, X: Any, interval: None = None) -> np.ndarray: ...

    @overload
    def predict(self, X: Any, interval: float) -> PredictionIntervals: ...

    def predict(self, X: Any, interval: float | None = None) -> np.ndarray | PredictionIntervals:
        """Predictions for ``X`` in the target's units, as float64.

        With ``interval`` (a coverage level in (0, 1), e.g. 0.9), a
        :class:`~deepfit.evaluation.intervals.PredictionIntervals` instead: ``.prediction``,
        ``.lower`` and ``.upper``; ``.to_frame()`` makes a DataFrame of them. A level outside
        (0, 1), one too high for the calibration rows, or a model without calibration raise a
        ConfigError.

        Example:
            >>> model.predict(X_new, interval=0.9).to_frame()  # doctest: +SKIP
        """
        result = self.predict_with_details(X, interval=interval)
        if result.lower is None or result.upper is None or result.level is None:
            return result.values
        return PredictionIntervals(result.values, result.lower, result.upper, result.level)

    def predict_with_details(
        self, X: Any, *, interval: float | None = None, spread: bool = False
    ) -> PredictionResult:
        """Predictions, how many category values were unseen, bounds at ``interval``, and
        with ``spread=True`` the ensemble members' standard deviation."""
        self.check_fitted()
        if interval is not None:
            self.interval_calibration(interval)
        features = self.prepare(X)
        values = self.answers(features)
        deviation = self.spread_features(features) if spread else None
        if interval is None:
            return PredictionResult(values, features.unseen_categories, spread=deviation)
        lower, upper = self.interval_bounds(features, values, interval)
        return PredictionResult(
            values, features.unseen_categories, lower, upper, check_level(interval), deviation
        )

    def predict_features(self, features: PreparedFeatures) -> np.ndarray:
        """Predictions for rows already prepared by ``self.preprocessor_``."""
        return self.answers(features)

    def predict_spread(self, X: Any) -> np.ndarray:
        """How much an ensemble's members disagree on each row of ``X``, in target units.

        The standard deviation (``ddof=0``) of the members' predictions; zeros for a single
        network (``n_ensemble=1``).
        """
        return self.spread_features(self.prepare(X))

    def spread_features(self, features: PreparedFeatures) -> np.ndarray:
        """:meth:`predict_spread` for rows already prepared by ``self.preprocessor_``."""
        self.check_fitted()
        members = member_answers(self.network_, features)
        if members is None:
            return np.zeros(len(features), dtype=np.float64)
        return np.asarray(members.std(axis=0), dtype=np.float64)

    def prediction_frame(
        self, X: Any, *, interval: float | None = None
    ) -> tuple[pd.DataFrame, int]:
        """``predicted_TARGET`` (with ``interval``, ``lower_TARGET`` and ``upper_TARGET``)."""
        result = self.predict_with_details(X, interval=interval)
        target = self.target_name_
        table = pd.DataFrame({f"predicted_{target}": result.values})
        if result.lower is not None and result.upper is not None:
            table[f"lower_{target}"] = result.lower
            table[f"upper_{target}"] = result.upper
        return table, result.unseen_categories

    def answer_fields(
        self, features: PreparedFeatures, answers: np.ndarray, level: float | None
    ) -> dict[str, Any]:
        """``predictions`` (and with ``level``: ``interval``, ``lower`` and ``upper``)."""
        fields: dict[str, Any] = {"predictions": answers.tolist()}
        if level is not None:
            lower, upper = self.interval_bounds(features, answers, level)
            fields |= {"interval": level, "lower": lower.tolist(), "upper": upper.tolist()}
        return fields

    # ------------------------------------------------------------------------ intervals
    def check_interval(self, level: float) -> None:
        self.interval_calibration(level)

    def interval_bounds(
        self, features: PreparedFeatures, predictions: np.ndarray, level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds at ``level`` for prepared rows whose predictions are
        ``predictions``."""
        calibration = self.interval_calibration(level)
        if isinstance(calibration, QuantileCalibration):
            return quantile_bounds(
                predictions, self.quantile_features(features), calibration, level
            )
        return bounds(predictions, calibration, level)

    def quantile_features(self, features: PreparedFeatures) -> np.ndarray:
        """The interval network's quantiles ``[rows, QUANTILE_LEVELS]`` in target units."""
        network = getattr(self, "quantile_network_", None)
        if network is None:
            raise ConfigError(
                "this model has no quantile network; train it with interval_method='quantile'"
            )
        return answers(network, features).reshape(len(features), -1)

    def interval_calibration(self, level: float) -> Calibration:
        """The calibration behind intervals at ``level``, or a ConfigError saying why not."""
        self.check_fitted()
        level = check_level(level)
        calibration: Calibration | None = getattr(self, "calibration_", None)
        if calibration is None:
            raise ConfigError(
                "this model has no prediction intervals: it was fitted without held-out "
                "validation rows to calibrate them on (patience=None and no X_val, or "
                "validation_fraction=0), or saved by a deepfit without intervals; refit it "
                "with early stopping or with X_val, y_val"
            )
        calibration.quantile(level)  # a level too high for the calibration rows: ConfigError
        return calibration
