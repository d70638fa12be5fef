"""Tiny settings and data for the study tests: every run trains in a fraction of a second."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TINY: dict[str, Any] = {"model": "mlp", "hidden_layers": (8,), "max_epochs": 3, "batch_size": 32}


def label_table(n_rows: int = 150, seed: int = 0) -> pd.DataFrame:
    """Features and a text label ``kind`` (``low``, ``mid``, ``high``, ``high`` the rarest)
    that the features decide, for classification studies."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.normal(size=n_rows)
    colour = rng.choice(["red", "blue"], size=n_rows)
    score = x1 + 0.5 * x2 + np.where(colour == "red", 0.5, -0.5)
    kind = np.where(score > 1.0, "high", np.where(score > -0.3, "mid", "low"))
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "kind": kind})
