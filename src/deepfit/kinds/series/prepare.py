"""From a panel to the arrays windows are cut from, scaled with training statistics only.

Each series' target is standardised with its own mean and standard deviation over its
training period; a series the model has not seen (new history at prediction time) is
scaled with the statistics of the history given. Covariates are standardised with one mean
and deviation per column. Missing values become 0 after scaling, and a channel says which
target steps were observed.

The channels of ``values`` (one row per step): the scaled target, the observed flag, the
past covariates, the known covariates, the calendar features. ``future`` holds the last
two groups, the ones known in advance. Every series is preceded by ``lookback`` rows of
padding, so a window never reaches into the series before it.

Example:
    >>> import pandas as pd
    >>> from deepfit.kinds.series.panel import read_panel
    >>> frame = pd.DataFrame({"t": pd.date_range("2024", periods=6, freq="D"), "y": range(6)})
    >>> panel = read_panel(frame, SeriesColumns(target="y", time="t"))
    >>> prep = SeriesPreparer(lookback=2, horizon=1).fit(panel, np.array([6]))
    >>> arrays = prep.transform(panel)
    >>> arrays.values.shape, prep.channel_names()[:2]
    ((8, 6), ['target', 'observed'])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfit.errors import ConfigError
from deepfit.kinds.series.calendar import calendar_features, calendar_names
from deepfit.kinds.series.panel import Panel, SeriesColumns

MIN_SCALE = 1e-8


@dataclass
class SeriesArrays:
    """What windows are cut from; rows ``starts[i] + lookback`` on are series ``i``'s steps."""

    values: np.ndarray  # float32 [rows, channels]
    future: np.ndarray  # float32 [rows, known channels]
    target: np.ndarray  # float32 [rows], scaled, NaN where not observed
    starts: np.ndarray  # int64 [series + 1] offsets of each padded block
    codes: np.ndarray  # int64 [series] embedding codes (the number of known ids: unseen)
    loc: np.ndarray  # float64 [series] the target mean used to scale
    scale: np.ndarray  # float64 [series] the target deviation used to scale


class SeriesPreparer:
    """Statistics of a panel's training period, and the scaled arrays of any panel."""

    def __init__(self, *, lookback: int, horizon: int) -> None:
        if lookback < 1 or horizon < 1:
            raise ConfigError(
                f"lookback and horizon must be at least 1, however: lookback={lookback}, "
                f"horizon={horizon}"
            )
        self.lookback, self.horizon = int(lookback), int(horizon)
        self.columns = SeriesColumns(target="target", time="time")
        self.frequency = ""
        self.past_names: list[str] = []
        self.calendar: list[str] = []
        self.ids: list[str] = []
        self.loc: dict[str, float] = {}
        self.scale: dict[str, float] = {}
        self.covariate_mean: list[float] = []
        self.covariate_std: list[float] = []

    def fit(self, panel: Panel, train_ends: np.ndarray) -> SeriesPreparer:
        """Learn scaling from the first ``train_ends[i]`` steps of each series ``i``."""
        self.columns, self.frequency = panel.columns, panel.frequency
        self.past_names, self.calendar = list(panel.past_names), calendar_names(panel.frequency)
        self.ids = list(panel.ids)
        rows = np.concatenate(
            [np.arange(panel.starts[i], panel.starts[i] + end) for i, end in enumerate(train_ends)]
        )
        for index, name in enumerate(panel.ids):
            own = panel.target[panel.starts[index] : panel.starts[index] + train_ends[index]]
            self.loc[name], self.scale[name] = _location_scale(own)
        covariates = np.concatenate([panel.past, panel.known], axis=1)[rows]
        stats = [_location_scale(covariates[:, j]) for j in range(covariates.shape[1])]
        self.covariate_mean = [mean for mean, _ in stats]
        self.covariate_std = [std for _, std in stats]
        return self

    @property
    def n_series(self) -> int:
        return len(self.ids)

    def channel_names(self) -> list[str]:
        """The names of ``values``' channels, in order."""
        known = list(self.columns.known)
        return ["target", "observed", *self.past_names, *known, *self.calendar]

    def future_names(self) -> list[str]:
        """The names of ``future``'s channels: what is known in advance."""
        return [*self.columns.known, *self.calendar]

    def transform(self, panel: Panel) -> SeriesArrays:
        """The scaled, padded arrays of ``panel`` (which may hold series not seen in fit)."""
        lookback = self.lookback
        codes, locs, scales = [], [], []
        for index, name in enumerate(panel.ids):
            if name in self.loc:
                codes.append(self.ids.index(name))
                locs.append(self.loc[name])
                scales.append(self.scale[name])
            else:
                loc, scale = _location_scale(panel.target[panel.rows_of(index)])
                codes.append(len(self.ids))
                locs.append(loc)
                scales.append(scale)
        lengths = panel.lengths()
        padded_starts = np.concatenate([[0], np.cumsum(lengths + lookback)]).astype(np.int64)
        real = np.concatenate(
            [np.arange(start + lookback, end) for start, end in itertools.pairwise(padded_starts)]
        )
        series_of_row = np.repeat(np.arange(len(lengths)), lengths)
        target = (panel.target - np.asarray(locs)[series_of_row]) / np.asarray(scales)[
            series_of_row
        ]
        covariates = np.concatenate([panel.past, panel.known], axis=1)
        if covariates.shape[1]:
            covariates = (covariates - np.asarray(self.covariate_mean)) / np.asarray(
                self.covariate_std
            )
        calendar = calendar_features(panel.times, self.frequency)
        observed = np.isfinite(target)
        block = np.column_stack(
            [np.where(observed, target, 0.0), observed, np.nan_to_num(covariates), calendar]
        )
        n_rows = int(padded_starts[-1])
        values = np.zeros((n_rows, block.shape[1]), dtype=np.float32)
        values[real] = block
        n_known = len(self.columns.known)
        future_block = np.concatenate(
            [np.nan_to_num(covariates[:, covariates.shape[1] - n_known :]), calendar], axis=1
        )
        future = np.zeros((n_rows, future_block.shape[1]), dtype=np.float32)
        future[real] = future_block
        scaled_target = np.full(n_rows, np.nan, dtype=np.float32)
        scaled_target[real] = target
        return SeriesArrays(
            values=values,
            future=future,
            target=scaled_target,
            starts=padded_starts,
            codes=np.asarray(codes, dtype=np.int64),
            loc=np.asarray(locs, dtype=np.float64),
            scale=np.asarray(scales, dtype=np.float64),
        )

    def to_dict(self) -> dict[str, Any]:
        """The statistics as JSON, for the model file."""
        return {
            "lookback": self.lookback,
            "horizon": self.horizon,
            "target": self.columns.target,
            "time": self.columns.time,
            "series": self.columns.series,
            "known": list(self.columns.known),
            "frequency": self.frequency,
            "past": self.past_names,
            "ids": self.ids,
            "loc": [self.loc[name] for name in self.ids],
            "scale": [self.scale[name] for name in self.ids],
            "covariate_mean": self.covariate_mean,
            "covariate_std": self.covariate_std,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesPreparer:
        """:meth:`to_dict` reversed; a malformed document raises ``ValueError``."""
        prep = cls(lookback=int(data["lookback"]), horizon=int(data["horizon"]))
        series = data.get("series")
        prep.columns = SeriesColumns(
            target=str(data["target"]),
            time=str(data["time"]),
            series=None if series is None else str(series),
            known=tuple(str(name) for name in data["known"]),
        )
        prep.frequency = str(data["frequency"])
        prep.calendar = calendar_names(prep.frequency)
        prep.past_names = [str(name) for name in data["past"]]
        prep.ids = [str(name) for name in data["ids"]]
        loc, scale = [float(v) for v in data["loc"]], [float(v) for v in data["scale"]]
        prep.covariate_mean = [float(v) for v in data["covariate_mean"]]
        prep.covariate_std = [float(v) for v in data["covariate_std"]]
        n_covariates = len(prep.past_names) + len(prep.columns.known)
        if len(loc) != len(prep.ids) or len(scale) != len(prep.ids):
            raise ValueError("series statistics do not match the series ids")
        if len(prep.covariate_mean) != n_covariates or len(prep.covariate_std) != n_covariates:
            raise ValueError("covariate statistics do not match the covariates")
        if not all(np.isfinite([*loc, *scale, *prep.covariate_mean, *prep.covariate_std])):
            raise ValueError("series statistics must be finite numbers")
        if min([*scale, *prep.covariate_std], default=1.0) <= 0:
            raise ValueError("series scales must be positive")
        prep.loc, prep.scale = (
            dict(zip(prep.ids, loc, strict=True)),
            dict(zip(prep.ids, scale, strict=True)),
        )
        return prep


def _location_scale(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the finite values; a flat or empty column gets 1."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return 0.0, 1.0
    mean = float(finite.mean())
    std = float(finite.std())
    if not np.isfinite(std) or std <= MIN_SCALE * max(1.0, abs(mean)):
        std = max(abs(mean), 1.0)
    return mean, std
