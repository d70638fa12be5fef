"""Real demo data that installs with a PyPI package: ggplot2's diamonds, as shipped by plotnine.

plotnine (MIT licence) ships ``plotnine/data/diamonds.csv``: 53,940 diamonds, target ``price``
in US dollars, with numeric (carat, depth, table, x, y, z) and categorical (cut, color,
clarity) columns. We read the file from the installed package without importing plotnine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from deepfit.errors import DataFileNotFoundError

DIAMONDS_TARGET = "price"


def diamonds_path() -> Path:
    """Where the installed plotnine keeps diamonds.csv."""
    spec = importlib.util.find_spec("plotnine")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / "diamonds.csv"
        if path.exists():
            return path
    raise DataFileNotFoundError(
        "the demo data (diamonds) comes with the plotnine package, which is not installed; "
        "run 'pip install plotnine' or 'make demo'"
    )


def load_diamonds() -> pd.DataFrame:
    """The diamonds table with its target column ``price``.

    Example:
        >>> load_diamonds().shape  # doctest: +SKIP
        (53940, 10)
    """
    return pd.read_csv(diamonds_path())
