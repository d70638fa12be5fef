"""Seeded, small tables and settings shared by the tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FAST: dict[str, Any] = {
    "model": "mlp",
    "hidden_layers": (32, 32),
    "max_epochs": 100,
    "batch_size": 32,
    "learning_rate": 3e-3,
}


# the column roles deepfit infers for make_table()
TABLE_ROLES = {
    "x1": "numeric",
    "x2": "numeric",
    "colour": "categorical",
    "flag": "boolean",
    "day": "datetime",
}


def make_table(n_rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """A table with every column kind deepfit handles, and a learnable target ``y``."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.uniform(-2, 2, size=n_rows)
    colour = rng.choice(["red", "green", "blue"], size=n_rows)
    flag = rng.random(n_rows) < 0.5
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n_rows), unit="D")
    effect = pd.Series(colour).map({"red": 2.0, "green": 0.0, "blue": -2.0}).to_numpy()
    y = 3.0 * x1 - 2.0 * x2 + effect + 1.5 * flag + rng.normal(scale=0.1, size=n_rows)
    x2_with_gaps = x2.copy()
    x2_with_gaps[rng.random(n_rows) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2_with_gaps,
            "colour": colour,
            "flag": flag,
            "day": day.strftime("%Y-%m-%d"),
            "y": 100.0 + 10.0 * y,
        }
    )


def make_label_table(n_rows: int = 400, seed: int = 0, *, classes: int = 2) -> pd.DataFrame:
    """``make_table``'s columns with a learnable text label ``label`` instead of ``y``.

    Two classes are ``no`` and ``yes``; three are ``low``, ``mid`` and ``high`` (by a score
    of the features, with some noise, so no model is perfect).
    """
    frame = make_table(n_rows, seed=seed)
    score = (frame["y"] - frame["y"].mean()) / frame["y"].std()
    noise = np.random.default_rng(seed + 100).normal(scale=0.5, size=n_rows)
    names = ["no", "yes"] if classes == 2 else ["low", "mid", "high"]
    cuts = np.quantile(score + noise, np.linspace(0, 1, classes + 1)[1:-1])
    frame["label"] = np.asarray(names, dtype=object)[np.searchsorted(cuts, score + noise)]
    return frame.drop(columns="y")


FAST_CLASSIFIER: dict[str, Any] = {
    "model": "mlp",
    "hidden_layers": (32, 32),
    "max_epochs": 60,
    "batch_size": 32,
    "learning_rate": 3e-3,
}
