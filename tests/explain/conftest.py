"""A tiny model whose target depends on ``x1`` only, trained once for the explain tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor


def make_simple(n_rows: int = 300, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """``y = 5 * x1`` plus a little noise; ``noise`` is a column the target ignores."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.normal(size=n_rows), "noise": rng.normal(size=n_rows)})
    y = pd.Series(5.0 * X["x1"] + rng.normal(scale=0.05, size=n_rows), name="y")
    return X, y


@pytest.fixture(scope="session")
def simple() -> tuple[Regressor, pd.DataFrame, pd.Series]:
    """A small network fitted to ``make_simple()`` (a second or two on one CPU thread)."""
    X, y = make_simple()
    model = Regressor(
        hidden_layers=(16,), max_epochs=40, batch_size=32, learning_rate=1e-2, dropout=0.0
    )
    return model.fit(X, y), X, y
