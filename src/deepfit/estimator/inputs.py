"""What ``fit`` and ``predict`` accept: DataFrames (pandas or polars) or numeric arrays.

Example:
    >>> from deepfit import Regressor
    >>> as_frame(Regressor(), np.zeros((2, 2)), reset=True).columns.tolist()
    ['x0', 'x1']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from deepfit.data.io import check_unique_columns, read_table
from deepfit.errors import DataError

MIN_TRAIN_ROWS = 2


def is_dataframe(X: Any) -> bool:
    return isinstance(X, pd.DataFrame) or type(X).__module__.startswith("polars")


def as_frame(estimator: BaseEstimator, X: Any, *, reset: bool) -> pd.DataFrame:
    """Features as a DataFrame, checked against what ``estimator`` was fitted on.

    ``reset=True`` (in ``fit``) records the number and names of the features on the
    estimator, as scikit-learn's ``validate_data`` does; otherwise they are checked.
    """
    if is_dataframe(X):
        check_unique_columns(X.columns, "the data")  # before scikit-learn's check of the names
        if reset:
            validate_data(estimator, X, reset=True, skip_check_array=True)
        frame = read_table(X)
        if len(frame) == 0:
            raise DataError("the data has 0 rows (0 samples); provide at least one row")
        return frame
    array = validate_data(estimator, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan")
    names = getattr(estimator, "feature_names_in_", None)
    columns = (
        [str(n) for n in names] if names is not None else [f"x{i}" for i in range(array.shape[1])]
    )
    return pd.DataFrame(array, columns=columns)


def target_name(y: Any) -> str:
    """The target's name: a Series' name, else ``"target"``."""
    name = getattr(y, "name", None)
    return str(name) if name is not None and not isinstance(y, np.ndarray) else "target"


def check_lengths(frame: pd.DataFrame, target: np.ndarray) -> None:
    """Refuse features and target of different lengths, or too few rows to train on."""
    if len(target) != len(frame):
        raise DataError(f"X has {len(frame)} rows but y has {len(target)} values; they must match")
    if len(frame) < MIN_TRAIN_ROWS:
        raise DataError(
            f"{len(frame)} sample(s) are too few to train on; provide at least "
            f"{MIN_TRAIN_ROWS} rows"
        )
