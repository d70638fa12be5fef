"""Permutation importance: the columns the target depends on rank above the others."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfit import Regressor
from deepfit.explain import permutation_importances
from tests.support.tables import make_table


def test_a_column_the_target_ignores_ranks_below_the_one_it_depends_on(
    simple: tuple[Regressor, pd.DataFrame, pd.Series],
) -> None:
    model, X, y = simple
    table = permutation_importances(model, X, y.to_numpy(), n_repeats=5, seed=0)
    assert table["feature"].tolist() == ["x1", "noise"]
    by_name = table.set_index("feature")
    # shuffling x1 destroys the fit (about 5 * sqrt(2) RMSE); shuffling noise barely moves it
    assert by_name.loc["x1", "importance_mean"] > 3.0
    assert abs(by_name.loc["noise", "importance_mean"]) < 0.1 * by_name.loc["x1", "importance_mean"]
    assert (table["importance_std"] >= 0).all()


def test_every_raw_column_once_with_its_role_most_important_first(fitted: Regressor) -> None:
    frame = make_table()
    table = permutation_importances(
        fitted, frame.drop(columns="y"), frame["y"].to_numpy(), n_repeats=2, seed=3
    )
    assert sorted(table["feature"]) == ["colour", "day", "flag", "x1", "x2"]
    roles = dict(zip(table["feature"], table["role"], strict=True))
    assert roles == {
        "x1": "numeric",
        "x2": "numeric",
        "colour": "categorical",
        "flag": "boolean",
        "day": "datetime",
    }
    assert np.all(np.diff(table["importance_mean"].to_numpy()) <= 0)
    assert table["feature"].iloc[0] == "x1"  # y = 30 * x1 - 20 * x2 + ...


def test_the_same_seed_gives_the_same_importances(fitted: Regressor) -> None:
    frame = make_table(n_rows=120)
    X, y = frame.drop(columns="y"), frame["y"].to_numpy()
    first = permutation_importances(fitted, X, y, n_repeats=2, seed=7)
    again = permutation_importances(fitted, X, y, n_repeats=2, seed=7)
    pd.testing.assert_frame_equal(first, again)
