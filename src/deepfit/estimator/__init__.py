"""The estimators: ``Regressor``, ``Classifier`` and ``Forecaster``, their parameters and auto.

* :mod:`~deepfit.estimator.params`: every parameter, declared once; checked at ``fit``;
* :mod:`~deepfit.estimator.auto`: ``"auto"`` resolved, a pure function of the data's shape;
* :mod:`~deepfit.estimator.fitting`, :mod:`~deepfit.estimator.training`,
  :mod:`~deepfit.estimator.resume`, :mod:`~deepfit.estimator.finetune`: ``fit``;
* :mod:`~deepfit.estimator.base` and the thin fronts :mod:`~deepfit.estimator.regressor` and
  :mod:`~deepfit.estimator.classifier`;
* :mod:`~deepfit.estimator.forecaster` (the front), :mod:`~deepfit.estimator.forecasting`
  (fit and forecast) and :mod:`~deepfit.estimator.backtest` (rolling origins, baselines);
* :mod:`~deepfit.estimator.image_regressor` (the front) and
  :mod:`~deepfit.estimator.imaging` (sizing the network, fit, transfer learning);
* :mod:`~deepfit.estimator.load`: a model file back as its estimator.
"""

from deepfit.estimator.backtest import Backtest, backtest
from deepfit.estimator.base import Estimator
from deepfit.estimator.classifier import Classifier
from deepfit.estimator.forecaster import Forecaster
from deepfit.estimator.image_regressor import ImageRegressor
from deepfit.estimator.load import estimator_for, load, load_estimator
from deepfit.estimator.regressor import PredictionResult, Regressor

__all__ = [
    "Backtest",
    "Classifier",
    "Estimator",
    "Forecaster",
    "ImageRegressor",
    "PredictionResult",
    "Regressor",
    "backtest",
    "estimator_for",
    "load",
    "load_estimator",
]
