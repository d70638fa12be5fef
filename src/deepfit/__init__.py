"""deepfit: deep learning for tables, series and images: regression, classification, forecasting.

Example:
    >>> from deepfit import Regressor, load  # doctest: +SKIP
    >>> model = Regressor(hidden_layers=(256, 256)).fit(X, y)  # doctest: +SKIP
    >>> model.save("m.deepfit"); load("m.deepfit").predict(X_new)  # doctest: +SKIP
"""

from deepfit.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    DeepfitError,
    DeepfitWarning,
    NotFittedError,
)
from deepfit.estimator import Classifier, Forecaster, ImageRegressor, Regressor, backtest, load
from deepfit.version import __version__
from deepfit.workflow import train_table

__all__ = [
    "ArtifactError",
    "Classifier",
    "ConfigError",
    "DataError",
    "DeepfitError",
    "DeepfitWarning",
    "Forecaster",
    "ImageRegressor",
    "NotFittedError",
    "Regressor",
    "__version__",
    "backtest",
    "load",
    "train_table",
]
