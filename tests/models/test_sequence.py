import math
from pathlib import Path

import numpy as np
import pytest
import torch

from deepfit.errors import ConfigError, DataError
from deepfit.models.sequence import (
    SEQUENCE_MODELS,
    SequenceShape,
    WindowSegments,
    build_sequence_network,
    window_normalised,
)
from tests.support.onnx import onnx_and_torch_outputs

LOOKBACK, HORIZON, PERIOD = 24, 6, 12


def _shape(**overrides):
    sizes = {
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "past_channels": 3,
        "known_channels": 2,
        "n_series": 4,
        "outputs": 1,
    }
    return SequenceShape(**{**sizes, **overrides})


def _network(model, shape, *, seed=0, **options):
    torch.manual_seed(seed)
    return build_sequence_network(model, shape, hidden=16, **options)


def _inputs(shape, batch=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    past = torch.randn(batch, shape.lookback, shape.past_channels, generator=generator)
    future = (
        torch.randn(batch, shape.horizon, shape.known_channels, generator=generator)
        if shape.known_channels
        else None
    )
    series = (
        torch.randint(0, shape.n_series, (batch,), generator=generator)
        if shape.n_series > 1
        else None
    )
    return past, future, series


def _seasonal_windows(n_windows=300, *, known_channels=0, seed=0):
    """Sliding windows over a noisy sine of period 12: past is [target, observed=1, covariate]."""
    generator = torch.Generator().manual_seed(seed)
    length = n_windows + LOOKBACK + HORIZON
    steps = torch.arange(length, dtype=torch.float32)
    covariate = torch.randn(length, generator=generator)
    target = torch.sin(2 * math.pi * steps / PERIOD) + 0.05 * torch.randn(
        length, generator=generator
    )
    if known_channels:
        target = target + covariate
    starts = torch.arange(n_windows)
    past_index = starts[:, None] + torch.arange(LOOKBACK)
    future_index = starts[:, None] + LOOKBACK + torch.arange(HORIZON)
    past = torch.stack(
        [target[past_index], torch.ones(n_windows, LOOKBACK), covariate[past_index]], dim=-1
    )
    future = covariate[future_index].unsqueeze(-1) if known_channels else None
    return past, future, target[future_index]


def _train(net, past, future, y, *, series=None, steps, lr=1e-2, batch=32):
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    generator = torch.Generator().manual_seed(0)
    losses = []
    net.train()
    for _ in range(steps):
        rows = torch.randint(0, len(past), (batch,), generator=generator)
        rows_future = None if future is None else future[rows]
        rows_series = None if series is None else series[rows]
        loss = (net(past[rows], rows_future, rows_series) - y[rows]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    net.eval()
    return losses


def _mse(net, past, future, y, *, series=None):
    with torch.no_grad():
        return (net(past, future, series) - y).pow(2).mean().item()


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
@pytest.mark.parametrize(("known_channels", "n_series"), [(0, 1), (0, 4), (2, 0), (2, 4)])
@pytest.mark.parametrize("outputs", [1, 3])
def test_output_shape_for_every_model_and_input_combination(
    model, known_channels, n_series, outputs
):
    shape = _shape(known_channels=known_channels, n_series=n_series, outputs=outputs)
    out = _network(model, shape)(*_inputs(shape, batch=5))
    assert out.shape == ((5, HORIZON) if outputs == 1 else (5, HORIZON, outputs))
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_a_long_lookback_is_seen_from_its_oldest_step(model):
    shape = _shape(lookback=100)
    net = _network(model, shape, dropout=0.0)
    past, future, series = _inputs(shape, batch=3)
    past.requires_grad_(True)
    net(past, future, series).sum().backward()
    # channel 1 (observed) never reaches the skip, so its gradient comes through the encoder
    assert (past.grad[:, 0, 1] != 0).all()


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_series_codes_not_seen_in_training_share_a_reserved_row(model):
    shape = _shape()
    net = _network(model, shape).eval()
    past, future, _ = _inputs(shape, batch=1)
    past, future = past.expand(4, -1, -1), future.expand(4, -1, -1)
    with torch.no_grad():
        out = net(past, future, torch.tensor([4, 5, 1_000_000, -1]))
        seen = net(past, future, torch.tensor([0, 1, 2, 3]))
    torch.testing.assert_close(out, out[:1].expand_as(out))
    assert not torch.allclose(seen[0], out[0])


def test_missing_future_or_series_is_an_error():
    shape = _shape()
    net = _network("gru", shape)
    past, future, series = _inputs(shape)
    with pytest.raises(DataError, match="future must be"):
        net(past, None, series)
    with pytest.raises(DataError, match="series must be"):
        net(past, future, None)
    with pytest.raises(DataError, match="past must be"):
        net(past[:, 1:], future, series)


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_gradients_reach_every_parameter(model):
    shape = _shape(outputs=3)
    net = _network(model, shape)
    net(*_inputs(shape, batch=16)).pow(2).sum().backward()
    silent = [
        name for name, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0
    ]
    assert silent == []


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_same_seed_gives_the_same_network_and_training_outputs(model):
    shape = _shape()
    inputs = _inputs(shape)
    outputs = []
    for _ in range(2):
        net = _network(model, shape, seed=3).train()
        torch.manual_seed(7)
        outputs.append(net(*inputs))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_the_skip_starts_as_the_last_value_and_adds_to_every_quantile():
    shape = _shape(outputs=3)
    net = _network("mlp", shape).eval()
    past, future, series = _inputs(shape)
    last = past[:, -1, 0]
    torch.testing.assert_close(net.skip(past[:, :, 0]), last[:, None].expand(-1, HORIZON))
    with torch.no_grad():
        before = net(past, future, series)
        net.skip.bias += 1.0
        after = net(past, future, series)
    _, _, spread = window_normalised(past)  # the skip acts on the window's own scale
    torch.testing.assert_close(after - before, spread[:, :, None].expand_as(before))


def test_window_normalisation_makes_the_forecast_follow_the_level_and_scale():
    shape = _shape(known_channels=0, n_series=0)
    net = _network("mlp", shape).eval()
    past = torch.randn(4, LOOKBACK, shape.past_channels)
    past[:, :, 1] = 1.0
    moved = past.clone()
    moved[:, :, 0] = past[:, :, 0] * 3.0 + 10.0  # the same shape, another level and scale
    with torch.no_grad():
        torch.testing.assert_close(net(moved), net(past) * 3.0 + 10.0, rtol=1e-4, atol=1e-4)


def test_unobserved_steps_do_not_move_the_window_statistics():
    past = torch.tensor([[[2.0, 1.0], [4.0, 1.0], [99.0, 0.0]]])
    normalised, level, spread = window_normalised(past)
    assert level.item() == 3.0
    assert spread.item() == 1.0
    assert normalised[0, 2, 0].item() == 0.0


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_every_model_fits_a_seasonal_series_from_its_initial_state(model):
    past, _, y = _seasonal_windows()
    shape = _shape(known_channels=0, n_series=0)
    net = _network(model, shape)
    initial = _mse(net, past, None, y)
    losses = _train(net, past, None, y, steps=40)
    assert all(math.isfinite(loss) for loss in losses)
    zero = y.pow(2).mean().item()
    assert _mse(net, past, None, y) < 0.1 * min(zero, initial)


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_every_network_fits_a_seasonal_series_without_the_skip(model):
    past, _, y = _seasonal_windows()
    net = _network(model, _shape(known_channels=0, n_series=0))
    with torch.no_grad():
        net.skip.weight.zero_()
    net.skip.requires_grad_(False)
    _train(net, past, None, y, steps=60)
    assert _mse(net, past, None, y) < 0.2 * y.pow(2).mean().item()


@pytest.mark.parametrize("model", ["mlp", "lstm"])  # the two kinds of head
def test_known_future_covariates_are_used(model):
    past, future, y = _seasonal_windows(known_channels=1)
    net = _network(model, _shape(known_channels=1, n_series=0))
    _train(net, past, future, y, steps=100)
    # the covariate adds variance 1 to every future step: without its known values the error
    # cannot go below 1
    assert _mse(net, past, future, y) < 0.5


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_the_series_embedding_tells_series_apart(model):
    past, _, y = _seasonal_windows()
    # windows alternate between two series whose futures lie one above and one below the shared
    # seasonal shape; their pasts look alike, so only the series id tells them apart
    series = torch.arange(len(past)) % 2
    y = y + (2.0 * series - 1.0)[:, None]
    net = _network(model, _shape(known_channels=0, n_series=2))
    _train(net, past, None, y, series=series, steps=40)
    assert _mse(net, past, None, y, series=series) < 0.1


def test_window_segments_keep_the_steps_in_order_after_zero_padding():
    window = torch.arange(1.0, 98.0).reshape(1, 97, 1)
    segments = WindowSegments(97, 1)
    cut = segments(window)
    assert (segments.segment, segments.left_padding) == (3, 2)
    assert cut.shape == (1, 33, 3)
    assert cut[0, 0].tolist() == [0.0, 0.0, 1.0]
    assert cut[0, -1].tolist() == [95.0, 96.0, 97.0]
    assert WindowSegments(336, 8).count == 48
    assert WindowSegments(24, 8).segment == 1


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_onnx_export_with_a_dynamic_batch_matches_torch(model, tmp_path: Path):
    shape = _shape(lookback=60, outputs=2)
    net = _network(model, shape)
    past, future, series = _inputs(shape, batch=7, seed=1)
    series[-1] = shape.n_series + 3
    got, expected = onnx_and_torch_outputs(
        net,
        _inputs(shape, batch=3),
        ("past", "future", "series"),
        (past, future, series),
        tmp_path / f"{model}.onnx",
    )
    assert got.shape == (7, HORIZON, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_unknown_models_and_bad_sizes_are_config_errors():
    with pytest.raises(
        ConfigError,
        match=r"^unknown sequence model 'x'; choose one of mlp, lstm, gru, tcn$",
    ):
        build_sequence_network("x", _shape())
    for sizes in ({"lookback": 0}, {"horizon": -1}, {"outputs": 0}, {"known_channels": -1}):
        with pytest.raises(ConfigError, match="must be"):
            _shape(**sizes)
    for options in ({"hidden": 0}, {"layers": 0}, {"dropout": 1.0}):
        with pytest.raises(ConfigError, match="must be"):
            build_sequence_network("lstm", _shape(), **options)
