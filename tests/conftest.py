"""Seeded, small datasets and a trained model shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from deepfit import Regressor
from tests.support.tables import FAST, make_table

torch.set_num_threads(1)  # tiny networks run faster on one thread, and results stay stable


@pytest.fixture
def table() -> pd.DataFrame:
    """400 rows: numeric (one with missing values), categorical, boolean, date; target ``y``."""
    return make_table()


@pytest.fixture
def table_csv(tmp_path: Path, table: pd.DataFrame) -> Path:
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def fitted() -> Regressor:
    """A small model fitted once on ``make_table()``; do not modify it in a test."""
    frame = make_table()
    return Regressor(**FAST).fit(frame.drop(columns="y"), frame["y"])


@pytest.fixture
def files(tmp_path: Path, fitted: Regressor) -> tuple[Path, Path]:
    """``fitted`` saved to a file, and 120 fresh labelled rows as CSV."""
    model = fitted.save(tmp_path / "model.deepfit")
    data = tmp_path / "data.csv"
    make_table(n_rows=120, seed=4).to_csv(data, index=False)
    return model, data
