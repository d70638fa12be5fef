"""Tiny settings and data for the study tests: every run trains in a fraction of a second."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.support.tables import make_table


@pytest.fixture
def small() -> pd.DataFrame:
    return make_table(n_rows=120)
