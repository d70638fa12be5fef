"""Tiny settings and data for the study tests: every run trains in a fraction of a second."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.conftest import make_table

TINY: dict[str, Any] = {"model": "mlp", "hidden_layers": (8,), "max_epochs": 3, "batch_size": 32}


@pytest.fixture
def small() -> pd.DataFrame:
    return make_table(n_rows=120)
