"""Small synthetic series for the forecasting tests: a daily cycle, a covariate, noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

# A forecaster small and quick enough for unit tests; every run repeats exactly.
FAST_FORECASTER = {
    "lookback": 24,
    "hidden": 32,
    "max_epochs": 40,
    "patience": 8,
    "time_limit": None,
    "learning_rate": 3e-3,
}


def make_series(
    steps: int = 480,
    *,
    series: int = 0,
    frequency: str = "h",
    seed: int = 0,
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Hourly (by default) rows: ``timestamp``, ``load`` (a daily cycle plus ``temperature``
    times two plus noise), ``temperature`` (known in advance), ``sensor`` (past only); with
    ``series`` > 0, that many series in long format with an ``id`` column and own levels."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(max(series, 1)):
        times = pd.date_range(start, periods=steps, freq=frequency)
        phase = 2 * np.pi * np.arange(steps) / 24
        temperature = rng.normal(0, 1, steps)
        level = 10.0 * (index + 1)
        load = level + 3 * np.sin(phase) + 2 * temperature + rng.normal(0, 0.2, steps)
        frame = pd.DataFrame(
            {
                "timestamp": times,
                "load": load,
                "temperature": temperature,
                "sensor": load + rng.normal(0, 1, steps),
            }
        )
        if series:
            frame.insert(0, "id", f"s{index}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
