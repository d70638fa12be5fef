"""scikit-learn's own estimator checks: the contract that makes Pipeline and GridSearchCV work."""

from __future__ import annotations

import warnings
from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from deepfit import Classifier, Regressor
from deepfit.errors import DeepfitWarning

# Each excused check, and why.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {"Regressor": {}, "Classifier": {}}


def _fast_regressor() -> Regressor:
    return Regressor(model="mlp", hidden_layers=(32,), max_epochs=60, batch_size=32, device="cpu")


def _fast_classifier() -> Classifier:
    return Classifier(model="mlp", hidden_layers=(32,), max_epochs=60, batch_size=32, device="cpu")


def _excused(estimator: Any) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


@parametrize_with_checks([_fast_regressor(), _fast_classifier()], expected_failed_checks=_excused)
def test_sklearn_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeepfitWarning)
        check(estimator)
