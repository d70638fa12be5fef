"""TabM backbone: k members in one module, trained apart in training mode, averaged in eval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.models import dropout as dropout_module
from deepfit.models.dropout import FastDropout
from deepfit.models.layout import InputLayout
from deepfit.models.tabm import BatchEnsembleLinear, TabM, tabm_backbone
from tests.support.model_tasks import mixed_task
from tests.support.onnx import onnx_and_torch_outputs

LAYOUT = InputLayout(n_numeric=3, categorical_widths=(4, 2))
K = 4
VARIANTS = ["mini", "full"]


def small(variant: str = "mini", outputs: int = 1, **options: Any) -> TabM:
    torch.manual_seed(0)
    options = {"k": K, "hidden_layers": (16, 8), "dropout": 0.0, **options}
    net = tabm_backbone(LAYOUT, {**options, "tabm_variant": variant, "outputs": outputs})
    assert isinstance(net, TabM)
    return net


def features(rows: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, LAYOUT.d_in, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("outputs", [1, 3])
def test_members_in_training_mode_their_mean_in_eval_mode(variant: str, outputs: int) -> None:
    net = small(variant, outputs, dropout=0.1)
    x = features()
    assert net.train()(x).shape == (8, K, outputs)
    members = net.eval().member_outputs(x)
    assert members.shape == (8, K, outputs)
    torch.testing.assert_close(net(x), members.mean(dim=1))
    assert net(x).shape == (8, outputs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_members_differ_from_the_start(variant: str) -> None:
    members = small(variant).eval().member_outputs(features())
    for i in range(K):
        for j in range(i):
            assert not torch.allclose(members[:, i], members[:, j]), (i, j)


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_parameter(variant: str) -> None:
    net = small(variant, dropout=0.1).train()
    net(features()).square().sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_full_has_adapters_on_every_layer_and_mini_only_the_first() -> None:
    def member_parameters(net: TabM) -> set[str]:
        return {n for n, p in net.named_parameters() if p.shape[:1] == (K,) and p.dim() >= 2}

    mini, full = small("mini"), small("full")
    assert member_parameters(mini) == {"adapter", "head_weight", "head_bias"}
    # the first layer reads the first adapter; the second has its own r
    assert member_parameters(full) == {
        "adapter",
        "head_weight",
        "head_bias",
        "blocks.0.linear.s",
        "blocks.0.linear.bias",
        "blocks.1.linear.r",
        "blocks.1.linear.s",
        "blocks.1.linear.bias",
    }
    assert sum(p.numel() for p in mini.parameters()) < sum(p.numel() for p in full.parameters())


def test_adapters_start_as_in_the_paper() -> None:
    net = small("full")
    adapter = net.adapter.detach()
    assert set(adapter.unique().tolist()) == {-1.0, 1.0}  # random signs
    # one sign per feature: a categorical block is scaled as a whole
    for start, width in [(3, 4), (7, 2)]:
        block = adapter[:, start : start + width]
        assert torch.equal(block, block[:, :1].expand_as(block))
    later = net.blocks[1].linear
    assert isinstance(later, BatchEnsembleLinear)
    assert later.r is not None
    assert later.s is not None
    assert torch.all(later.r == 1)
    assert torch.all(later.s == 1)
    assert torch.equal(later.bias, later.bias[:1].expand_as(later.bias))  # same start
    assert not torch.equal(net.head_weight[0], net.head_weight[1])  # heads differ


def test_full_member_is_a_plain_mlp_with_its_own_adapters() -> None:
    """Member i computes ((h * r_i) @ W.T) * s_i + b_i layer by layer, then its own head."""
    net = small("full").eval()
    with torch.no_grad():
        for parameter in net.parameters():  # every adapter away from its start
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = features()
    for i in range(K):
        h = x * net.adapter[i]
        for layer in [block.linear for block in net.blocks]:
            assert isinstance(layer, BatchEnsembleLinear)
            assert layer.s is not None
            r = 1.0 if layer.r is None else layer.r[i]
            h = torch.relu(((h * r) @ layer.weight.T) * layer.s[i] + layer.bias[i])
        expected = h @ net.head_weight[i] + net.head_bias[i]
        torch.testing.assert_close(net.member_outputs(x)[:, i], expected)


def test_defaults_when_options_are_missing() -> None:
    net = tabm_backbone(InputLayout(n_numeric=2), {})
    assert isinstance(net, TabM)
    assert net.k == 32
    assert net.variant == "mini"
    assert [block.linear.weight.shape[0] for block in net.blocks] == [512, 512, 512]
    assert all(block.dropout.p == 0.1 for block in net.blocks)


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_fast_dropout_drops_at_rate_p_and_keeps_the_mean(p: float) -> None:
    layer = FastDropout(p)
    x = torch.ones(200_000)
    torch.manual_seed(0)
    out = layer.train()(x)
    assert abs(float((out == 0).float().mean()) - p) < 0.005
    assert abs(float(out.mean()) - 1.0) < 0.01
    torch.manual_seed(0)
    torch.testing.assert_close(layer(x), out)  # seeded by the global generator
    assert layer.eval()(x) is x


def test_fast_dropout_masks_differ_between_calls_and_each_bit_lane_drops_at_p() -> None:
    layer = FastDropout(0.2).train()
    torch.manual_seed(1)
    first, second = layer(torch.ones(400_000)), layer(torch.ones(400_000))
    assert not torch.equal(first == 0, second == 0)
    lanes = (first == 0).view(-1, 4).float().mean(dim=0)  # four values come from one draw
    assert torch.allclose(lanes, torch.full((4,), 0.2), atol=0.005), lanes


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_fast_dropout_masks_bfloat16_as_float32_rounded(p: float) -> None:
    dropped = round(p * dropout_module.VALUES)
    torch.manual_seed(2)
    wide = torch.from_numpy(dropout_module.cpu_mask(1_000, dropped))
    torch.manual_seed(2)
    bits = dropout_module.cpu_mask(1_000, dropped, bf16=True)
    narrow = torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16)
    assert torch.equal(narrow, wide.bfloat16())
    assert 0 < int((narrow == 0).sum()) < 1_000
    x = torch.randn(1_000, dtype=torch.bfloat16)
    torch.manual_seed(2)
    assert torch.equal(FastDropout(p).train()(x), x * narrow)


@pytest.mark.parametrize("p", [0.1, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_relu_then_dropout_in_one_step_gives_the_same_values_and_gradients(
    p: float, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dropout_module, "FUSED_FROM", 1)  # fuse these small ones too
    layer = FastDropout(p).train()
    x = torch.randn(64, 48, dtype=dtype).requires_grad_(True)
    weights = torch.randn(64, 48, dtype=dtype)
    torch.manual_seed(3)
    fused = layer.after_relu(x)
    (fused_grad,) = torch.autograd.grad((fused * weights).sum(), x)
    torch.manual_seed(3)
    apart = layer(torch.relu(x))
    (apart_grad,) = torch.autograd.grad((apart * weights).sum(), x)
    assert torch.equal(fused, apart)
    assert fused.dtype == dtype
    assert torch.equal(fused_grad, apart_grad)
    assert 0 < int((fused_grad == 0).sum()) < x.numel()  # dropped and negative inputs: no gradient
    assert torch.equal(layer.eval().after_relu(x), torch.relu(x))


def test_tabm_trains_through_the_one_step_relu_and_dropout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fused_calls: list[torch.Size] = []
    after_relu = FastDropout.after_relu

    def counted(self: FastDropout, h: torch.Tensor) -> torch.Tensor:
        fused_calls.append(h.shape)
        return after_relu(self, h)

    monkeypatch.setattr(FastDropout, "after_relu", counted)
    monkeypatch.setattr(dropout_module, "FUSED_FROM", 1)
    x = torch.randn(32, 5)
    tabm = TabM(d_in=5, hidden_layers=(16, 16), k=4, dropout=0.2).train()
    torch.manual_seed(0)
    fused = tabm(x)
    assert fused_calls == [torch.Size([128, 16])] * 2
    torch.manual_seed(0)
    h = (x.unsqueeze(1) * tabm.adapter).reshape(-1, 5)
    for block in tabm.blocks:
        h = block.dropout(block.activation(block.linear(h)))  # ReLU, then dropout
    h = h.reshape(-1, tabm.k, 16)
    apart = (h.transpose(0, 1) @ tabm.head_weight).transpose(0, 1) + tabm.head_bias
    assert torch.equal(fused, apart)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tabm_variant": "huge"}, "tabm_variant must be 'mini' or 'full'"),
        ({"k": 0}, "k must be a positive integer"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"hidden_layers": (8, 0)}, "widths must be positive"),
        ({"activation": "swishy"}, "activation must be one of"),
        ({"tabm_adapter_init": "zeros"}, "tabm_adapter_init must be one of"),
    ],
)
def test_bad_settings_say_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tabm_backbone(LAYOUT, {"k": 2, "hidden_layers": (8,), **options})


@pytest.mark.parametrize("variant", VARIANTS)
def test_members_learn_numeric_and_categorical_effects(variant: str) -> None:
    """y = x0 - 2 x1 + category effect; every member trained on its own loss."""
    task = mixed_task()
    rows = len(task.target)
    numeric, codes, target = task.numeric, task.codes, task.target
    options = {"k": 8, "hidden_layers": (32, 32), "dropout": 0.0, "tabm_variant": variant}
    net = task.network(tabm_backbone(task.layout, options))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        outputs = net(numeric, codes)  # [rows, k]: TabularNetwork squeezes the outputs dim
        assert outputs.shape == (rows, 8)
        loss = torch.nn.functional.mse_loss(outputs, target.unsqueeze(1).expand_as(outputs))
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        prediction = net.eval()(numeric, codes)
    assert prediction.shape == (rows,)
    assert float(torch.nn.functional.mse_loss(prediction, target)) < 0.02 * losses[0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_round_trip_gives_identical_outputs(variant: str) -> None:
    net = small(variant, 3).eval()
    torch.manual_seed(123)  # the fresh module starts from other weights and signs
    options = {"k": K, "hidden_layers": (16, 8), "tabm_variant": variant, "outputs": 3}
    fresh = tabm_backbone(LAYOUT, options).eval()
    x = features()
    assert not torch.allclose(fresh(x), net(x))
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(fresh.member_outputs(x), net.member_outputs(x), rtol=0, atol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_onnx_export_of_the_eval_mean_matches_onnxruntime(variant: str, tmp_path: Path) -> None:
    net = small(variant, 2, dropout=0.1)
    x = features(11, seed=1)  # another batch size than the one traced
    onnx_out, expected = onnx_and_torch_outputs(
        net, (features(3),), ("x",), (x,), tmp_path / "tabm.onnx"
    )
    assert onnx_out.shape == (11, 2)
    np.testing.assert_allclose(onnx_out, expected, rtol=1e-5, atol=1e-5)
