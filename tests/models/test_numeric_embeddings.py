import math

import numpy as np
import pytest
import torch

from deepfit.errors import ConfigError, DataError
from deepfit.models import build_network
from deepfit.models.layout import InputLayout
from deepfit.models.mlp import MLP
from deepfit.models.numeric_embeddings import (
    EmbeddedBackbone,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
    make_numeric_embedding,
    widened_layout,
)
from deepfit.models.registry import build_backbone
from tests.support.onnx import onnx_and_torch_outputs

STEPS = 150
BASE = {"hidden_layers": (16,), "activation": "relu", "dropout": 0.0, "norm": None}
CONFIGS = [
    ("mlp", {"numeric_embedding": "periodic", "d_embedding": 4, "n_frequencies": 4}),
    ("mlp", {"numeric_embedding": "periodic", "d_embedding": 4, "lite": True}),
    ("mlp", {"numeric_embedding": "piecewise", "d_embedding": 4, "n_bins": 6}),
    ("resnet", {"numeric_embedding": "piecewise", "d_embedding": 4, "n_bins": 6}),
]


def _network(model, extra, *, cardinalities=(4,), seed=0):
    torch.manual_seed(seed)
    return build_network(
        model,
        medians=[0.0, 1.0],
        scales=[1.0, 2.0],
        missing_indicators=[False, True],
        cardinalities=list(cardinalities),
        options={**BASE, **extra},
    )


def _rows(n=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, 2, generator=generator)
    numeric[::7, 1] = float("nan")
    codes = torch.randint(0, 4, (n, 1), generator=generator)
    return numeric, codes


def _all_parameters_get_gradients(module, output):
    output.pow(2).sum().backward()
    return {
        name: bool(p.grad is not None and p.grad.abs().sum() > 0)
        for name, p in module.named_parameters()
    }


@pytest.mark.parametrize("lite", [False, True])
def test_periodic_embedding_shape_and_gradients_reach_every_parameter(lite):
    torch.manual_seed(0)
    embedding = PeriodicEmbedding(3, n_frequencies=5, d_embedding=7, lite=lite)
    out = embedding(torch.randn(8, 3))
    assert out.shape == (8, 3, 7)
    assert (out >= 0).all()  # ReLU
    assert all(_all_parameters_get_gradients(embedding, out).values())


def test_periodic_frequencies_start_at_the_asked_scale_without_extremes():
    torch.manual_seed(0)
    frequencies = PeriodicEmbedding(50, n_frequencies=40, frequency_scale=0.5).frequencies
    assert float(frequencies.detach().std()) == pytest.approx(0.5, rel=0.1)
    assert float(frequencies.detach().abs().max()) <= 1.5


def test_piecewise_encoding_matches_hand_computed_values():
    embedding = PiecewiseLinearEmbedding(1, n_bins=3, d_embedding=2)
    embedding.bin_edges.copy_(torch.tensor([[0.0, 1.0, 2.0, 4.0]]))
    x = torch.tensor([[-1.0], [0.5], [3.0], [6.0]])
    expected = [
        [-1.0, 0.0, 0.0],  # the first bin is not clamped below
        [0.5, 0.0, 0.0],
        [1.0, 1.0, 0.5],
        [1.0, 1.0, 2.0],  # the last bin is not clamped above
    ]
    assert embedding.encode(x)[:, 0].tolist() == expected


def test_piecewise_embedding_shape_and_gradients_reach_every_parameter():
    torch.manual_seed(0)
    embedding = PiecewiseLinearEmbedding(3, n_bins=4, d_embedding=5, activation=True)
    embedding.fit_to_data(torch.randn(64, 3))
    out = embedding(torch.randn(8, 3))
    assert out.shape == (8, 3, 5)
    # the bin weights start at zero ("version B") but still get gradients
    assert all(_all_parameters_get_gradients(embedding, out).values())


def test_piecewise_bins_fitted_from_data_handle_constant_and_indicator_columns():
    generator = torch.Generator().manual_seed(0)
    x = torch.stack(
        [
            torch.randn(200, generator=generator),
            torch.full((200,), 2.5),  # constant
            (torch.rand(200, generator=generator) < 0.3).float(),  # a 0/1 indicator
        ],
        dim=1,
    )
    embedding = PiecewiseLinearEmbedding(3, n_bins=8, d_embedding=4)
    embedding.fit_to_data(x)
    edges = embedding.bin_edges
    assert edges.shape == (3, 9)
    assert torch.all(edges[0, 1:] > edges[0, :-1])  # distinct quantiles: strictly increasing
    assert edges[0, 0] == x[:, 0].min()
    assert edges[0, -1] == x[:, 0].max()
    assert torch.all(edges[1] == 2.5)  # constant: no non-empty bin
    assert torch.all(edges[2, 1:] >= edges[2, :-1])
    assert edges[2, 0] == 0.0
    assert edges[2, -1] == 1.0
    assert len(edges[2].unique()) < 9  # repeated quantiles collapsed, last edge repeated
    encoded = embedding.encode(x)
    assert torch.isfinite(encoded).all()
    assert torch.all(encoded[:, 1] == 0)
    embedding(x).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in embedding.parameters())


def test_piecewise_fit_refuses_wrong_shapes_and_missing_values():
    embedding = PiecewiseLinearEmbedding(2, n_bins=4)
    with pytest.raises(DataError, match="fit_to_data needs"):
        embedding.fit_to_data(torch.zeros(5, 3))
    with pytest.raises(DataError, match="finite"):
        embedding.fit_to_data(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))


def test_make_numeric_embedding_reads_options_with_defaults():
    assert make_numeric_embedding(None, 3, {}) is None
    periodic = make_numeric_embedding("periodic", 3, {})
    assert isinstance(periodic, PeriodicEmbedding)
    assert periodic.d_embedding == 24
    assert periodic.frequencies.shape == (3, 48)
    piecewise = make_numeric_embedding("piecewise", 3, {"n_bins": 5, "d_embedding": 2})
    assert isinstance(piecewise, PiecewiseLinearEmbedding)
    assert piecewise.bin_edges.shape == (3, 6)
    assert piecewise.d_embedding == 2
    with pytest.raises(ConfigError, match="numeric_embedding must be one of None, periodic"):
        make_numeric_embedding("fourier", 3, {})
    with pytest.raises(ConfigError, match="frequency_scale must be positive"):
        make_numeric_embedding("periodic", 3, {"frequency_scale": 0.0})


def test_embedded_backbone_embeds_numeric_block_and_passes_categorical_block():
    layout = InputLayout(n_numeric=2, categorical_widths=(3,))
    embedding = PiecewiseLinearEmbedding(2, n_bins=4, d_embedding=5)
    inner = MLP(d_in=widened_layout(layout, 5).d_in, d_out=1, hidden_layers=(4,))
    backbone = EmbeddedBackbone(layout, embedding, inner)
    features = torch.randn(10, 5)
    widened = backbone.embed(features)
    assert widened.shape == (10, 13)
    assert torch.equal(widened[:, 10:], features[:, 2:])
    assert torch.equal(widened[:, :10], embedding(features[:, :2]).flatten(1))
    backbone.fit_to_data(features)
    assert embedding.bin_edges[0, 0] == features[:, 0].min()


def test_registry_wraps_any_backbone_and_checks_there_are_numeric_columns():
    options = {**BASE, "numeric_embedding": "periodic", "d_embedding": 3}
    backbone = build_backbone("mlp", InputLayout(n_numeric=4, categorical_widths=(2,)), options)
    assert isinstance(backbone, EmbeddedBackbone)
    assert backbone.inner.layers[0].in_features == 4 * 3 + 2
    plain = build_backbone("mlp", InputLayout(n_numeric=4), BASE)
    assert isinstance(plain, MLP)
    with pytest.raises(ConfigError, match="needs numeric columns"):
        build_backbone("mlp", InputLayout(n_numeric=0, categorical_widths=(2,)), options)
    with pytest.raises(ConfigError, match="numeric_embedding must be one of"):
        build_backbone("mlp", InputLayout(n_numeric=2), {**BASE, "numeric_embedding": "x"})


def test_initialise_from_data_fits_bins_to_the_prepared_training_rows():
    net = _network("mlp", {"numeric_embedding": "piecewise", "n_bins": 4})
    numeric, codes = _rows()
    net.initialise_from_data(numeric, codes)
    prepared = net.numeric_input(numeric)  # 2 features + the missing indicator of column 1
    edges = net.backbone.embedding.bin_edges
    assert edges.shape == (3, 5)
    levels = torch.linspace(0, 1, 5)
    assert torch.allclose(edges[0], torch.quantile(prepared[:, 0], levels))
    assert torch.equal(edges[2, [0, -1]], torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("embedding", ["periodic", "piecewise"])
def test_a_nonlinear_target_is_learned_with_each_embedding(embedding):
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 96).unsqueeze(1)
    target = torch.sin(3 * x[:, 0])
    net = build_network(
        "mlp",
        medians=[0.0],
        scales=[1.0],
        missing_indicators=[False],
        cardinalities=[],
        options={
            **BASE,
            "numeric_embedding": embedding,
            "d_embedding": 8,
            "n_frequencies": 8,
            "n_bins": 12,
            "frequency_scale": 0.3,
        },
    )
    codes = torch.zeros(96, 0, dtype=torch.long)
    net.initialise_from_data(x, codes)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = float(torch.nn.functional.mse_loss(net(x, codes), target).detach())
    for _ in range(STEPS):
        loss = torch.nn.functional.mse_loss(net(x, codes), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.01 * first


@pytest.mark.parametrize(("model", "extra"), CONFIGS)
def test_gradients_reach_every_parameter_including_category_embeddings(model, extra):
    net = _network(model, extra)
    numeric, codes = _rows()
    codes = codes.clamp_min(1)  # row 0 (unknown) of a table is a fixed zero start, still trained
    net.initialise_from_data(numeric, codes)
    grads = _all_parameters_get_gradients(net, net(numeric, codes))
    assert all(grads.values()), [name for name, ok in grads.items() if not ok]


@pytest.mark.parametrize(("model", "extra"), CONFIGS)
def test_state_dict_round_trip_into_a_fresh_network_gives_identical_outputs(model, extra):
    net = _network(model, extra, seed=0)
    numeric, codes = _rows()
    net.initialise_from_data(numeric, codes)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        loss = net(numeric, codes).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fresh = _network(model, extra, seed=1)  # built, never fitted: as when a saved model loads
    fresh.load_state_dict(net.state_dict())
    assert torch.equal(fresh.eval()(numeric, codes), net.eval()(numeric, codes))


@pytest.mark.parametrize(("model", "extra"), CONFIGS)
def test_onnx_export_matches_torch(model, extra, tmp_path):
    net = _network(model, extra)
    numeric, codes = _rows(n=16)
    net.initialise_from_data(numeric, codes)
    more_numeric, more_codes = _rows(n=9, seed=1)  # another batch size: the rows axis is dynamic
    more_numeric[0, 0] = 50.0  # past the last bin
    got, expected = onnx_and_torch_outputs(
        net, (numeric, codes), ("numeric", "codes"), (more_numeric, more_codes),
        tmp_path / "net.onnx",
    )  # fmt: skip
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert math.isfinite(float(np.abs(got).sum()))
