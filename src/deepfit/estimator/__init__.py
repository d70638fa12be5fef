"""The estimators: ``Regressor`` and ``Classifier``, their parameters and auto.

* :mod:`~deepfit.estimator.params`: every parameter, declared once; checked at ``fit``;
* :mod:`~deepfit.estimator.auto`: ``"auto"`` resolved, a pure function of the data's shape;
* :mod:`~deepfit.estimator.fitting`, :mod:`~deepfit.estimator.training`,
  :mod:`~deepfit.estimator.resume`, :mod:`~deepfit.estimator.finetune`: ``fit``;
* :mod:`~deepfit.estimator.base` and the thin fronts :mod:`~deepfit.estimator.regressor` and
  :mod:`~deepfit.estimator.classifier`;
* :mod:`~deepfit.estimator.load`: a model file back as its estimator.
"""

from deepfit.estimator.base import Estimator
from deepfit.estimator.classifier import Classifier
from deepfit.estimator.load import estimator_for, load
from deepfit.estimator.regressor import PredictionResult, Regressor

__all__ = ["Classifier", "Estimator", "PredictionResult", "Regressor", "estimator_for", "load"]
