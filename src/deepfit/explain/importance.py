"""Permutation importance on the raw columns: how much the error grows when one is shuffled.

The error is the task's: RMSE for regression, log-loss for classification."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from deepfit.explain.columns import feature_roles

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator


def permutation_importances(
    model: Estimator, X: pd.DataFrame, y: np.ndarray, *, n_repeats: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Increase in the task's error when each raw feature column is shuffled, most first.

    Uses :func:`sklearn.inspection.permutation_importance` with the task's scorer (RMSE in
    target units, or log-loss), so a column's importance is the mean (and standard deviation
    over ``n_repeats`` seeded shuffles) of ``error(shuffled) - error(as given)``. A value near
    zero, or below it, means the model does not rely on the column.

    Example:
        >>> permutation_importances(model, X, y, n_repeats=5).head(3)  # doctest: +SKIP
          feature         role  importance_mean  importance_std
        0      x1      numeric            29.41            0.85
    """
    roles = feature_roles(model)
    frame = X[list(roles)]
    result = permutation_importance(
        model,
        frame,
        y,
        scoring=model.task_.importance_scorer,
        n_repeats=n_repeats,
        random_state=seed,
    )
    table = pd.DataFrame(
        {
            "feature": list(roles),
            "role": list(roles.values()),
            "importance_mean": np.asarray(result["importances_mean"], dtype=np.float64),
            "importance_std": np.asarray(result["importances_std"], dtype=np.float64),
        }
    )
    return table.sort_values("importance_mean", ascending=False, kind="stable").reset_index(
        drop=True
    )
