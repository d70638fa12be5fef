"""The bundled demo data: ggplot2's diamonds, read from the installed plotnine package."""

import pytest

from deepfit.data import datasets
from deepfit.errors import DataFileNotFoundError


def test_diamonds_ships_with_plotnine():
    frame = datasets.load_diamonds()
    assert frame.shape == (53940, 10)
    assert datasets.DIAMONDS_TARGET in frame.columns
    assert {"carat", "cut", "color", "clarity"} <= set(frame.columns)


def test_missing_plotnine_says_how_to_install(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataFileNotFoundError, match="pip install plotnine"):
        datasets.diamonds_path()
