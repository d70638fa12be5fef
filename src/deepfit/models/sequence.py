"""Forecasting networks for the ``series`` kind: a window of ``L`` past steps in, ``H`` steps out.

Every network is a :class:`SequenceForecaster`: an encoder turns the past window into one
feature vector, a direct multi-step head maps ``[features, future known, series embedding]`` to
all ``H`` steps at once, and a linear skip from the past target adds a DLinear-style forecast.

* ``"mlp"``: the flattened window is the feature vector (N-BEATS / NHITS / DLinear spirit); the
  head has ``layers`` hidden layers.
* ``"lstm"``, ``"gru"``: a ``layers``-deep recurrent encoder; its last hidden state is the
  feature vector.
* ``"tcn"``: residual blocks of dilated causal convolutions, as many as it takes for the
  receptive field to cover the lookback (at most 8); the last step's channels are the features.

The recurrent and convolutional encoders see the series embedding at every step, and a window
longer than :data:`MAX_ENCODER_STEPS` as that many segments of consecutive steps (see
:class:`WindowSegments`), which keeps them fast on a CPU.

**Shape**: ``past [B, L, C]`` (float32; channel 0 is the standardised target), ``future
[B, H, K]`` (``None`` when ``K == 0``), ``series [B]`` (int64; ``None`` when ``n_series <= 1``)
give ``[B, H]`` for a point forecast or ``[B, H, Q]`` for ``Q`` quantiles, in the standardised
target's units.

A series code outside ``[0, n_series)`` (a series not seen in training) gets a reserved
embedding row that is all zeros and is never trained.

The skip starts as "repeat the last value" (a naive forecast), so the first steps of training
improve on that baseline rather than on zero.

Each window's target is normalised by its own observed mean and deviation before the encoder,
and the forecast is put back at that level and scale (:func:`window_normalised`), so levels
never seen in training (a trend) do not push the network outside what it learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional

from deepfit.errors import ConfigError, DataError
from deepfit.models.mlp import MLP

SEQUENCE_MODELS = ("mlp", "lstm", "gru", "tcn")
MAX_ENCODER_STEPS = 48
MAX_TCN_BLOCKS = 8
MIN_WINDOW_SPREAD = 0.1
TCN_KERNEL = 3
ACTIVATION = "relu"


@dataclass(frozen=True)
class SequenceShape:
    """The sizes of a forecasting problem, checked when made.

    Example:
        >>> shape = SequenceShape(
        ...     lookback=24, horizon=6, past_channels=2, known_channels=0, n_series=5)
        >>> shape.has_series, shape.outputs
        (True, 1)
    """

    lookback: int
    horizon: int
    past_channels: int
    known_channels: int
    n_series: int
    outputs: int = 1

    def __post_init__(self) -> None:
        for name in ("lookback", "horizon", "past_channels", "outputs"):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"{name} must be a positive integer, however: {name}={value}")
        for name in ("known_channels", "n_series"):
            value = getattr(self, name)
            if value < 0:
                raise ConfigError(f"{name} must be non-negative, however: {name}={value}")

    @property
    def has_series(self) -> bool:
        """Whether the networks learn an embedding of the series id."""
        return self.n_series > 1


class SeriesEmbedding(nn.Module):
    """One learned vector per series id; ids outside ``[0, n_series)`` get a zero vector.

    Example:
        >>> SeriesEmbedding(3, 4)(torch.tensor([0, 2, 7])).shape
        torch.Size([3, 4])
    """

    def __init__(self, n_series: int, width: int) -> None:
        super().__init__()
        self.n_series = n_series
        self.table = nn.Embedding(n_series + 1, width, padding_idx=n_series)

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        unseen = (series < 0) | (series >= self.n_series)
        return self.table(torch.where(unseen, torch.full_like(series, self.n_series), series))


class WindowSegments(nn.Module):
    """Cuts a window ``[B, L, D]`` into ``n`` consecutive segments ``[B, n, segment * D]`` of
    ``segment = ceil(L / MAX_ENCODER_STEPS)`` steps, after zeros to the left if ``L`` is not a
    multiple (zeros read as a missing, mean-valued target). Windows of at most
    :data:`MAX_ENCODER_STEPS` steps pass unchanged, one step per segment.

    A recurrent or convolutional encoder then runs over at most ``MAX_ENCODER_STEPS`` segments
    (as SegRNN and PatchTST do): a 336-step LSTM is about seven times slower to train and its
    gradients fade over the steps.

    Example:
        >>> segments = WindowSegments(100, 2)
        >>> segments.segment, segments(torch.zeros(4, 100, 2)).shape
        (3, torch.Size([4, 34, 6]))
    """

    def __init__(self, lookback: int, width: int) -> None:
        super().__init__()
        self.segment = -(-lookback // MAX_ENCODER_STEPS)
        self.count = -(-lookback // self.segment)
        self.left_padding = self.count * self.segment - lookback
        self.width = self.segment * width

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        if self.left_padding:
            steps = functional.pad(steps, (0, 0, self.left_padding, 0))
        return steps.reshape(-1, self.count, self.width)


class RecurrentEncoder(nn.Module):
    """An LSTM or GRU over the window's segments (see :class:`WindowSegments`); the features are
    the top layer's last hidden state.

    Example:
        >>> encoder = RecurrentEncoder("gru", 3, lookback=5, hidden=8, layers=2, dropout=0.0)
        >>> encoder(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 8])
    """

    def __init__(
        self,
        cell: Literal["lstm", "gru"],
        d_in: int,
        *,
        lookback: int,
        hidden: int,
        layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.segments = WindowSegments(lookback, d_in)
        recurrent = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = recurrent(
            self.segments.width,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.segments(steps))
        return states[:, -1]


class CausalConvBlock(nn.Module):
    """``x + dropout(act(conv(dropout(act(conv(x))))))`` with left-padded dilated convolutions,
    so step ``t`` sees only steps ``<= t``. Channels-first: ``[B, width, L]``.

    Example:
        >>> CausalConvBlock(4, dilation=2, dropout=0.0)(torch.zeros(2, 4, 9)).shape
        torch.Size([2, 4, 9])
    """

    def __init__(self, width: int, *, dilation: int, dropout: float) -> None:
        super().__init__()
        self.left_padding = (TCN_KERNEL - 1) * dilation
        self.first = nn.Conv1d(width, width, TCN_KERNEL, dilation=dilation)
        self.second = nn.Conv1d(width, width, TCN_KERNEL, dilation=dilation)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(self.activation(self.first(functional.pad(x, (self.left_padding, 0)))))
        y = self.dropout(self.activation(self.second(functional.pad(y, (self.left_padding, 0)))))
        return x + y


def window_normalised(past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``past`` with its target channel centred and scaled by the window's own observed mean and
    deviation (RevIN, Kim et al. 2022), and that mean and deviation ``[B, 1]``.

    The network then sees the shape of the recent past, not its level: a trending series whose
    last years lie far above its training mean looks like any other window, and the forecast is
    put back at the window's level. Unobserved steps (channel 1 is 0) stay 0 and count for
    nothing; the deviation is at least :data:`MIN_WINDOW_SPREAD` (in the series' own scaled
    units), so a flat window is not blown up.

    Example:
        >>> past = torch.tensor([[[1.0, 1.0], [3.0, 1.0]]])
        >>> normalised, level, spread = window_normalised(past)
        >>> normalised[0, :, 0].tolist(), level.item(), spread.item()
        ([-1.0, 1.0], 2.0, 1.0)
    """
    target, observed = past[:, :, 0], past[:, :, 1]
    count = observed.sum(dim=1, keepdim=True).clamp(min=1.0)
    level = (target * observed).sum(dim=1, keepdim=True) / count
    variance = (((target - level) * observed) ** 2).sum(dim=1, keepdim=True) / count
    spread = variance.sqrt().clamp(min=MIN_WINDOW_SPREAD)
    centred = (target - level) / spread * observed
    return torch.cat([centred.unsqueeze(-1), past[:, :, 1:]], dim=-1), level, spread


def tcn_dilations(steps: int) -> tuple[int, ...]:
    """Dilations ``1, 2, 4, ...`` until the blocks' receptive field covers ``steps`` steps, at
    most :data:`MAX_TCN_BLOCKS` of them.

    Example:
        >>> tcn_dilations(24), len(tcn_dilations(336)), len(tcn_dilations(10_000))
        ((1, 2, 4), 7, 8)
    """
    dilations = [1]
    receptive_field = 1 + 2 * (TCN_KERNEL - 1)
    while receptive_field < steps and len(dilations) < MAX_TCN_BLOCKS:
        dilations.append(2 * dilations[-1])
        receptive_field += 2 * (TCN_KERNEL - 1) * dilations[-1]
    return tuple(dilations)


class TemporalConvEncoder(nn.Module):
    """A linear map of each segment (see :class:`WindowSegments`) to ``hidden`` channels, causal
    residual blocks (see :func:`tcn_dilations`), and the last segment's channels as the features.

    Example:
        >>> TemporalConvEncoder(3, lookback=12, hidden=8, dropout=0.0)(torch.zeros(2, 12, 3)).shape
        torch.Size([2, 8])
    """

    def __init__(self, d_in: int, *, lookback: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.segments = WindowSegments(lookback, d_in)
        self.stem = nn.Linear(self.segments.width, hidden)
        self.blocks = nn.Sequential(
            *(
                CausalConvBlock(hidden, dilation=dilation, dropout=dropout)
                for dilation in tcn_dilations(self.segments.count)
            )
        )

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        channels_first = self.stem(self.segments(steps)).transpose(1, 2)
        return self.blocks(channels_first)[:, :, -1]


class SequenceForecaster(nn.Module):
    """An encoder of the past window, a direct multi-step head, and a linear skip from the past
    target; built by :func:`build_sequence_network`.

    ``series_per_step`` appends the series embedding to every past step before the encoder (the
    recurrent and convolutional encoders); the head always sees it once.
    """

    def __init__(
        self,
        shape: SequenceShape,
        *,
        encoder: nn.Module,
        encoder_width: int,
        head_layers: int,
        hidden: int,
        dropout: float,
        series_embedding: int,
        series_per_step: bool,
    ) -> None:
        super().__init__()
        self.shape = shape
        self.series_per_step = series_per_step
        self.series = (
            SeriesEmbedding(shape.n_series, series_embedding) if shape.has_series else None
        )
        embedding_width = series_embedding if shape.has_series else 0
        self.encoder = encoder
        self.head = MLP(
            d_in=encoder_width + shape.horizon * shape.known_channels + embedding_width,
            d_out=shape.horizon * shape.outputs,
            hidden_layers=(hidden,) * head_layers,
            activation=ACTIVATION,
            dropout=dropout,
        )
        self.skip = nn.Linear(shape.lookback, shape.horizon)
        with torch.no_grad():
            self.skip.weight.zero_()
            self.skip.weight[:, -1] = 1.0
            self.skip.bias.zero_()

    def forward(
        self,
        past: torch.Tensor,
        future: torch.Tensor | None = None,
        series: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self._check_inputs(past, future, series)
        shape = self.shape
        past, level, spread = window_normalised(past)
        embedding = self.series(series) if self.series is not None and series is not None else None
        steps = past
        if embedding is not None and self.series_per_step:
            per_step = embedding.unsqueeze(1).expand(-1, shape.lookback, -1)
            steps = torch.cat([past, per_step], dim=-1)
        parts = [self.encoder(steps)]
        if shape.known_channels > 0 and future is not None:
            parts.append(future.flatten(1))
        if embedding is not None:
            parts.append(embedding)
        forecast = self.head(torch.cat(parts, dim=1))
        skip = self.skip(past[:, :, 0])
        if shape.outputs == 1:
            return (forecast + skip) * spread + level
        forecast = forecast.view(-1, shape.horizon, shape.outputs) + skip.unsqueeze(-1)
        return forecast * spread.unsqueeze(-1) + level.unsqueeze(-1)

    def _check_inputs(
        self, past: torch.Tensor, future: torch.Tensor | None, series: torch.Tensor | None
    ) -> None:
        shape = self.shape
        expected_past = (shape.lookback, shape.past_channels)
        if past.dim() != 3 or tuple(past.shape[1:]) != expected_past:
            raise DataError(
                f"past must be [batch, {expected_past[0]}, {expected_past[1]}], "
                f"however: {list(past.shape)}"
            )
        if shape.known_channels > 0:
            expected_future = (shape.horizon, shape.known_channels)
            if future is None or future.dim() != 3 or tuple(future.shape[1:]) != expected_future:
                found = None if future is None else list(future.shape)
                raise DataError(
                    f"future must be [batch, {expected_future[0]}, {expected_future[1]}], "
                    f"however: {found}"
                )
        if shape.has_series and (series is None or series.dim() != 1):
            found = None if series is None else list(series.shape)
            raise DataError(f"series must be a [batch] tensor of int64 codes, however: {found}")


def build_sequence_network(
    model: str,
    shape: SequenceShape,
    *,
    hidden: int = 64,
    layers: int = 2,
    dropout: float = 0.1,
    series_embedding: int = 8,
) -> nn.Module:
    """The forecasting network named ``model`` (one of :data:`SEQUENCE_MODELS`) for ``shape``.

    ``layers`` is the depth of the ``mlp`` head and of the recurrent encoders; a ``tcn`` takes
    its depth from the lookback. The recurrent and convolutional heads have one hidden layer.

    Example:
        >>> shape = SequenceShape(lookback=24, horizon=6, past_channels=3, known_channels=2,
        ...                       n_series=4, outputs=3)
        >>> net = build_sequence_network("gru", shape, hidden=16)
        >>> net(torch.zeros(5, 24, 3), torch.zeros(5, 6, 2), torch.tensor([0, 1, 2, 3, 9])).shape
        torch.Size([5, 6, 3])
    """
    if model not in SEQUENCE_MODELS:
        raise ConfigError(
            f"unknown sequence model {model!r}; choose one of {', '.join(SEQUENCE_MODELS)}"
        )
    for name, value in (
        ("hidden", hidden),
        ("layers", layers),
        ("series_embedding", series_embedding),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be a positive integer, however: {name}={value}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), however: dropout={dropout}")
    step_width = shape.past_channels + (series_embedding if shape.has_series else 0)
    encoder: nn.Module
    if model == "mlp":
        encoder = nn.Flatten(1)
        encoder_width, head_layers = shape.lookback * shape.past_channels, layers
    elif model == "tcn":
        encoder = TemporalConvEncoder(
            step_width, lookback=shape.lookback, hidden=hidden, dropout=dropout
        )
        encoder_width, head_layers = hidden, 1
    else:
        cell: Literal["lstm", "gru"] = "lstm" if model == "lstm" else "gru"
        encoder = RecurrentEncoder(
            cell, step_width, lookback=shape.lookback, hidden=hidden, layers=layers, dropout=dropout
        )
        encoder_width, head_layers = hidden, 1
    return SequenceForecaster(
        shape,
        encoder=encoder,
        encoder_width=encoder_width,
        head_layers=head_layers,
        hidden=hidden,
        dropout=dropout,
        series_embedding=series_embedding,
        series_per_step=model != "mlp",
    )
