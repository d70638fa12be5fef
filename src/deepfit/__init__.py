"""deepfit: deep learning for tables, regression and classification, strong by default.

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
from deepfit.estimator import Classifier, Regressor, load
from deepfit.version import __version__
from deepfit.workflow import train_table

__all__ = [
    "ArtifactError",
    "Classifier",
    "ConfigError",
    "DataError",
    "DeepfitError",
    "DeepfitWarning",
    "NotFittedError",
    "Regressor",
    "__version__",
    "load",
    "train_table",
]
