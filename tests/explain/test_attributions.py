"""Integrated gradients: completeness, raw columns (date parts summed), unknown categories."""

from __future__ import annotations

import numpy as np

from deepfit import Regressor
from deepfit.explain import integrated_gradients
from deepfit.explain.columns import numeric_owners
from tests.support.tables import make_table


def test_a_rows_attributions_add_up_to_its_prediction_minus_the_baseline(
    fitted: Regressor,
) -> None:
    X = make_table(n_rows=80, seed=5).drop(columns="y")
    assert X["x2"].isna().any()  # the imputed path and the missing indicators are covered
    result = integrated_gradients(fitted, X)
    total = result.values.sum(axis=1).to_numpy() + result.baseline_prediction
    std = fitted.task_.answer_scale
    np.testing.assert_allclose(total, result.predictions, rtol=0, atol=2e-3 * std)
    np.testing.assert_allclose(result.delta, total - result.predictions, atol=1e-9)
    np.testing.assert_allclose(result.predictions, fitted.predict(X), rtol=1e-4, atol=1e-3)
    # not trivially complete: the attributions carry the prediction
    assert result.values.abs().to_numpy().max() > 0.05 * std


def test_the_finer_passes_stop_at_their_flop_budget_and_leave_the_gap_in_delta(
    fitted: Regressor,
) -> None:
    X = make_table(n_rows=40, seed=6).drop(columns="y")
    coarse = integrated_gradients(fitted, X, n_steps=4, refine_flops=0)
    refined = integrated_gradients(fitted, X, n_steps=4)
    assert np.abs(refined.delta).max() < np.abs(coarse.delta).max()
    total = coarse.values.sum(axis=1).to_numpy() + coarse.baseline_prediction
    np.testing.assert_allclose(coarse.delta, total - coarse.predictions, atol=1e-9)


def test_date_parts_are_summed_into_their_date_column(fitted: Regressor) -> None:
    parts = fitted.preprocessor_.date_parts["day"]
    assert len(parts) > 1
    owners = numeric_owners(fitted)
    assert owners == ["x1", "x2", "flag", *["day"] * len(parts)]
    X = make_table(n_rows=30, seed=6).drop(columns="y")
    result = integrated_gradients(fitted, X)
    assert list(result.values.columns) == ["x1", "x2", "colour", "flag", "day"]
    assert result.values.index.equals(X.index)
    assert result.values["day"].abs().sum() > 0


def test_an_unknown_category_is_the_baseline_so_it_gets_no_attribution(
    fitted: Regressor,
) -> None:
    X = make_table(n_rows=10, seed=7).drop(columns="y")
    X["colour"] = ["purple"] * 5 + ["red"] * 5
    result = integrated_gradients(fitted, X)
    np.testing.assert_allclose(result.values["colour"].iloc[:5], 0.0, atol=1e-12)
    assert (result.values["colour"].iloc[5:].abs() > 1e-3).all()
