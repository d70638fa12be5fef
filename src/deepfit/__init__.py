"""deepfit: deep-learning regression that is strong by default.

Example:
    >>> from deepfit import Regressor, load  # doctest: +SKIP
    >>> model = Regressor(hidden_layers=(256, 256)).fit(X, y)  # doctest: +SKIP
    >>> model.save("m.deepfit"); load("m.deepfit").predict(X_new)  # doctest: +SKIP
"""

from deepfit.artifact import load
from deepfit.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    DeepfitError,
    DeepfitWarning,
    NotFittedError,
)
from deepfit.estimator import Regressor

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataError",
    "DeepfitError",
    "DeepfitWarning",
    "NotFittedError",
    "Regressor",
    "__version__",
    "load",
]
