"""Partial dependence: grids per role, and the curve of a monotone feature is monotone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfit import Regressor
from deepfit.explain import partial_dependence
from tests.support.tables import make_table


def test_the_curve_of_a_monotone_feature_is_monotone(
    simple: tuple[Regressor, pd.DataFrame, pd.Series],
) -> None:
    model, X, _ = simple
    curve = partial_dependence(model, X, ["x1"])
    values = curve["value"].to_numpy(dtype=float)
    assert len(values) >= 10
    assert np.all(np.diff(values) > 0)
    assert np.all(np.diff(curve["average_prediction"].to_numpy()) > 0)
    # y = 5 * x1: the curve spans about 5 times the grid's range
    rise = curve["average_prediction"].iloc[-1] - curve["average_prediction"].iloc[0]
    assert 3.5 * (values[-1] - values[0]) < rise < 6.5 * (values[-1] - values[0])


def test_grids_follow_each_columns_role(fitted: Regressor) -> None:
    X = make_table(n_rows=60, seed=8).drop(columns="y")
    curve = partial_dependence(fitted, X, ["colour", "flag", "day", "x2"], grid_size=5)
    grids = {name: group["value"].tolist() for name, group in curve.groupby("feature")}
    assert grids["colour"] == ["blue", "green", "red"]
    assert grids["flag"] == [False, True]
    days = pd.DatetimeIndex(grids["day"])
    assert len(days) == 5
    assert days.is_monotonic_increasing
    assert (days == days.normalize()).all()  # whole dates: the model saw no times of day
    assert len(grids["x2"]) == 5  # quantiles of the values present (x2 has gaps)
    assert not np.isnan(np.asarray(grids["x2"], dtype=float)).any()
    colour = curve[curve["feature"] == "colour"].set_index("value")["average_prediction"]
    assert colour["red"] > colour["green"] > colour["blue"]  # the effects in make_table
