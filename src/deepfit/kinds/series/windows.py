"""Windows of a series panel as batches of named tensors, cut by indexing, never by loop.

A window is named by its origin: the row of its first forecast step. Its batch holds
``past`` ``[B, lookback, channels]``, ``future`` ``[B, horizon, known]`` (when anything is
known in advance), ``series`` ``[B]`` (``with_series``: the model embeds each series; in training,
``unseen_share`` of the windows get the code of a series not seen, so that code learns an
average series for new ones) and the target
``[B, horizon]`` (NaN where a step was not observed, which the loss skips). A batch is one
index into strided views of the windows of tensors that stay on the device.

Example:
    >>> arrays = SeriesArrays(values=np.zeros((10, 2), np.float32), future=np.zeros((10, 0),
    ...     np.float32), target=np.arange(10, dtype=np.float32), starts=np.array([0, 10]),
    ...     codes=np.array([0]), loc=np.zeros(1), scale=np.ones(1))
    >>> source = WindowSource(arrays, np.array([5, 6]), lookback=3, horizon=2)
    >>> [batch["target"].tolist() for batch in source.ordered(8)]
    [[[5.0, 6.0], [6.0, 7.0]]]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from deepfit.kinds.series.prepare import SeriesArrays
from deepfit.models.sequence import window_normalised
from deepfit.training.sources import TARGET, Batch


def series_origins(
    arrays: SeriesArrays, lookback: int, *, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The origins (rows) of every window whose first forecast step is between ``first[i]``
    and ``last[i]`` (inclusive, counted in steps from the start of series ``i``), and the
    series of each. A series with ``first[i] > last[i]`` gives none."""
    rows, owners = [], []
    for index in range(len(arrays.codes)):
        if first[index] > last[index]:
            continue
        steps = np.arange(first[index], last[index] + 1)
        rows.append(arrays.starts[index] + lookback + steps)
        owners.append(np.full(len(steps), index))
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(owners).astype(np.int64)


def scored(arrays: SeriesArrays, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Which of ``origins`` have at least one observed target in their horizon."""
    steps = origins[:, None] + np.arange(horizon)
    steps = np.minimum(steps, len(arrays.target) - 1)
    return np.isfinite(arrays.target[steps]).any(axis=1)


class WindowSource:
    """The windows at ``origins`` of ``arrays``; a batch source for the training loop."""

    def __init__(
        self,
        arrays: SeriesArrays,
        origins: np.ndarray,
        *,
        lookback: int,
        horizon: int,
        owners: np.ndarray | None = None,
        with_target: bool = True,
        with_series: bool = False,
        unseen_share: float = 0.0,
        device: torch.device | str = "cpu",
    ) -> None:
        self._device = torch.device(device)
        self.lookback, self.horizon = lookback, horizon
        values = torch.from_numpy(arrays.values).to(self._device)
        self.past = _windows(values, lookback)
        future = torch.from_numpy(arrays.future).to(self._device)
        self.future = _windows(future, horizon) if arrays.future.shape[1] else None
        target = torch.from_numpy(arrays.target).to(self._device)
        self.target = _windows(target, horizon) if with_target else None
        owners = (
            owners if owners is not None else np.searchsorted(arrays.starts, origins, "right") - 1
        )
        codes = torch.from_numpy(arrays.codes[owners]).to(self._device)
        self.codes = codes if with_series else None
        self.unseen_share = unseen_share
        self.unseen_code = len(arrays.codes)  # training arrays: codes 0 .. n - 1
        self.origins = torch.from_numpy(np.asarray(origins, dtype=np.int64)).to(self._device)

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def device(self) -> torch.device:
        return self._device

    def n_batches(self, batch_size: int) -> int:
        rows = len(self)
        return max(1, rows // batch_size) if rows > batch_size else 1

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=generator).to(self._device)
        for picked in torch.tensor_split(order, self.n_batches(batch_size)):
            batch = self.windows(picked)
            if self.unseen_share and "series" in batch:
                hidden = torch.rand(len(picked), generator=generator) < self.unseen_share
                batch["series"] = batch["series"].masked_fill(
                    hidden.to(self._device), self.unseen_code
                )
            yield batch

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for picked in torch.arange(len(self), device=self._device).split(batch_size):
            yield self.windows(picked)

    def windows(self, picked: torch.Tensor) -> Batch:
        """The batch of the windows at positions ``picked`` of the origins."""
        origins = self.origins[picked]
        batch: Batch = {"past": self.past[origins - self.lookback]}
        if self.future is not None:
            batch["future"] = self.future[origins]
        if self.codes is not None:
            batch["series"] = self.codes[picked]
        if self.target is not None:
            batch[TARGET] = self.target[origins]
        return batch


def window_spread(arrays: SeriesArrays, origins: np.ndarray, lookback: int) -> np.ndarray:
    """The observed deviation of each window's target, the unit of its forecast errors:
    intervals are multiples of it. Computed by the network's own
    :func:`~deepfit.models.sequence.window_normalised` (in float64), so the two never differ."""
    rows = origins[:, None] + np.arange(-lookback, 0)
    past = torch.from_numpy(arrays.values[rows][:, :, :2].astype(np.float64))
    return window_normalised(past)[2][:, 0].numpy()


def _windows(rows: torch.Tensor, width: int) -> torch.Tensor:
    """A view of every run of ``width`` consecutive rows: ``[len - width + 1, width, ...]``;
    indexing it copies whole windows at once (twice as fast as a gather of offsets)."""
    rows = rows.contiguous()
    count = max(rows.shape[0] - width + 1, 0)
    inner = rows.stride(0)
    return rows.as_strided((count, width, *rows.shape[1:]), (inner, inner, *rows.stride()[1:]))
