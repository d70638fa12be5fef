"""``load``: a saved model back as the estimator that fitted it.

Example:
    >>> from deepfit import load
    >>> load("price.deepfit").predict(new_rows)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from deepfit.artifact import load_model, model_kind
from deepfit.errors import ArtifactError, ConfigError, brief
from deepfit.estimator.base import Estimator
from deepfit.estimator.classifier import Classifier
from deepfit.estimator.forecaster import Forecaster
from deepfit.estimator.image_regressor import ImageRegressor
from deepfit.estimator.regressor import Regressor

FRONTS: dict[str, type[Estimator]] = {
    Regressor.task_name: Regressor,
    Classifier.task_name: Classifier,
}


def estimator_for(task: str) -> type[Estimator]:
    """The estimator class of a task, e.g. ``Regressor`` for ``"regression"``."""
    if task not in FRONTS:
        raise ConfigError(f"task must be one of {', '.join(FRONTS)}, however: {task!r}")
    return FRONTS[task]


def load(path: str | Path) -> Estimator | Forecaster | ImageRegressor:
    """Load a model written by ``save``; its predictions are bit-identical to the saved one's.

    The estimator's class follows the file's task and kind: a ``Regressor``, a
    ``Classifier``, a ``Forecaster`` or an ``ImageRegressor``.
    """
    kind = model_kind(path)
    if kind == "series":
        return Forecaster.load(path)
    if kind == "image":
        return ImageRegressor.load(path)
    saved = load_model(path)
    front = FRONTS.get(saved.task.name)
    if front is None:
        raise ArtifactError(f"{path} holds a {saved.task.name} model, which this deepfit lacks")
    try:
        return front.from_saved(saved)
    except (TypeError, ValueError) as error:  # parameters this deepfit does not take
        raise ArtifactError(
            f"{path} has a malformed configuration ({brief(error)}); "
            "the file was altered or written by an incompatible tool"
        ) from error


def load_estimator(path: str | Path, use: str) -> Estimator:
    """Load a table model (``Regressor`` or ``Classifier``) for ``use`` (e.g. "explain"),
    which does not take a forecaster yet: a one-line error names what does."""
    model = load(path)
    if isinstance(model, Forecaster):
        raise ConfigError(
            f"{path} is a forecasting model, which {use} does not take yet; forecast with "
            "'deepfit predict MODEL HISTORY', score with 'deepfit evaluate' or 'deepfit backtest'"
        )
    if isinstance(model, ImageRegressor):
        raise ConfigError(
            f"{path} is an image model, which {use} does not take yet; predict with "
            "'deepfit predict MODEL FOLDER', score with 'deepfit evaluate MODEL FOLDER --labels'"
        )
    return model
