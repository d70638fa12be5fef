"""scikit-learn's own estimator checks: the contract that makes Pipeline and GridSearchCV work."""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from deepfit import Regressor
from deepfit.errors import DeepfitWarning

# Each excused check, and why.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


def _fast_regressor() -> Regressor:
    return Regressor(model="mlp", hidden_layers=(32,), max_epochs=60, batch_size=32, device="cpu")


@parametrize_with_checks(
    [_fast_regressor()],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeepfitWarning)
        check(estimator)
