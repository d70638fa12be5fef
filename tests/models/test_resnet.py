import numpy as np
import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.models import MODELS, build_network
from deepfit.models.resnet import ResidualBlock, ResNet
from tests.support.onnx import onnx_and_torch_outputs

OPTIONS = {"hidden_layers": (16, 16), "activation": "relu", "dropout": 0.0, "norm": "batch"}


def _network(options, *, seed=0):
    torch.manual_seed(seed)
    return build_network(
        "resnet",
        medians=[0.0, 0.0],
        scales=[1.0, 1.0],
        missing_indicators=[False, True],
        cardinalities=[4],
        options=options,
    )


def _rows(n=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, 2, generator=generator)
    numeric[::5, 1] = float("nan")
    codes = torch.randint(1, 4, (n, 1), generator=generator)
    return numeric, codes


def test_resnet_is_registered_and_built_from_the_estimator_options():
    assert "resnet" in MODELS
    net = _network({**OPTIONS, "hidden_layers": (8, 8, 8), "d_hidden_factor": 1.5})
    backbone = net.backbone
    assert isinstance(backbone, ResNet)
    assert backbone.stem.in_features == net.d_in
    assert backbone.stem.out_features == 8
    assert len(backbone.blocks) == 3
    assert [
        layer.out_features for layer in backbone.blocks[0].layers if hasattr(layer, "out_features")
    ] == [12, 8]


@pytest.mark.parametrize("norm", ["batch", "layer", None])
def test_shapes_norms_and_gradients_reach_every_parameter(norm):
    torch.manual_seed(0)
    net = ResNet(5, outputs=3, width=8, n_blocks=2, dropout=0.1, norm=norm)
    out = net(torch.randn(6, 5))
    assert out.shape == (6, 3)
    kinds = {type(m) for m in net.modules()}
    assert (torch.nn.BatchNorm1d in kinds) == (norm == "batch")
    assert (torch.nn.LayerNorm in kinds) == (norm == "layer")
    out.pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_a_block_adds_its_output_to_its_input():
    block = ResidualBlock(4, 8, activation="relu", dropout=0.0, norm=None)
    torch.nn.init.zeros_(block.layers[4].weight)
    torch.nn.init.zeros_(block.layers[4].bias)
    x = torch.randn(3, 4)
    assert torch.equal(block(x), x)  # a zero residual branch is the identity


def test_outputs_option_gives_one_column_per_output_and_one_output_is_squeezed():
    numeric, codes = _rows()
    assert _network(OPTIONS)(numeric, codes).shape == (32,)
    assert _network({**OPTIONS, "outputs": 3})(numeric, codes).shape == (32, 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden_layers": (16, 8)}, "hidden_layers must repeat one width"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"norm": "group"}, "norm must be"),
        ({"activation": "swishy"}, "activation must be one of"),
    ],
)
def test_bad_settings_say_what_is_wrong(options, message):
    with pytest.raises(ConfigError, match=message):
        _network({**OPTIONS, **options})


def test_a_tiny_dataset_is_learned():
    numeric, codes = _rows(n=64)
    target = numeric[:, 0].abs() + codes[:, 0].float() - torch.nan_to_num(numeric[:, 1])
    net = _network(OPTIONS)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    first = float(torch.nn.functional.mse_loss(net(numeric, codes), target).detach())
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(net(numeric, codes), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(net(numeric, codes), target))
    assert final < 0.02 * first


def test_state_dict_round_trip_into_a_fresh_network_gives_identical_outputs():
    numeric, codes = _rows()
    net = _network(OPTIONS, seed=0)
    net.train()
    net(numeric, codes)  # moves the batch-norm running statistics
    fresh = _network(OPTIONS, seed=1)
    fresh.load_state_dict(net.state_dict())
    assert torch.equal(fresh.eval()(numeric, codes), net.eval()(numeric, codes))


def test_onnx_export_matches_torch(tmp_path):
    numeric, codes = _rows()
    net = _network({**OPTIONS, "outputs": 2})
    net.train()
    net(numeric, codes)
    more_numeric, more_codes = _rows(n=7, seed=1)
    got, expected = onnx_and_torch_outputs(
        net, (numeric, codes), ("numeric", "codes"), (more_numeric, more_codes),
        tmp_path / "resnet.onnx",
    )  # fmt: skip
    assert got.shape == (7, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
