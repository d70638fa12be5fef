"""Labelled rows and a report page shared by the report tests."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfit import Regressor
from deepfit.report.report import build_report
from tests.support.tables import make_table


@pytest.fixture(scope="session")
def rows() -> tuple[pd.DataFrame, pd.Series]:
    """120 fresh labelled rows from the distribution ``fitted`` was trained on."""
    frame = make_table(n_rows=120, seed=4)
    return frame.drop(columns="y"), frame["y"]


@pytest.fixture(scope="session")
def page(fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]) -> str:
    """The report of ``fitted`` on ``rows``."""
    return build_report(fitted, *rows)
