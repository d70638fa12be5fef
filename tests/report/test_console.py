"""The tables the command line prints."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfit import Regressor
from deepfit.report.console import schema_table


def test_a_wide_table_shows_its_first_columns_and_counts_the_rest() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 60)), columns=[f"c{i}" for i in range(60)])
    X["colour"] = rng.choice(["red", "blue"], 80)
    model = Regressor(model="mlp", hidden_layers=(8,), max_epochs=1, time_limit=None)
    model.fit(X, X["c0"])
    names = list(schema_table(model, limit=40).columns[0].cells)
    assert names[:39] == [f"c{i}" for i in range(39)]
    assert names[39:] == ["… 22 more"]
    assert list(schema_table(model, limit=40).columns[1].cells)[-1] == "21 numeric, 1 categorical"
    assert list(schema_table(model).columns[0].cells) == list(X.columns)  # deepfit info: all
    assert len(list(schema_table(model, limit=61).columns[0].cells)) == 61
