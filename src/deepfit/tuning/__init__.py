"""Hyper-parameter search with Optuna: ``tune(data, target=..., trials=..., time_limit=...)``.

``space`` (what may change, per model), ``objective`` (one trial: train, score), ``pruning``
(stop bad trials from their learning curves), ``search`` (the study), ``history`` (trials,
importances, summary) and ``table`` (what the CLI prints).

Example:
    >>> from deepfit.tuning import tune
    >>> result = tune("data.csv", target="y", trials=20, time_limit=600)  # doctest: +SKIP
    >>> result.improved  # doctest: +SKIP
    True
"""

from deepfit.tuning.search import TuningResult, tune
from deepfit.tuning.space import SPACES, SearchSpace

__all__ = ["SPACES", "SearchSpace", "TuningResult", "tune"]
