"""FT-Transformer backbone: shapes, gradients, learning, save/load, ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.models.ft_transformer import (
    FTTransformer,
    TransformerBlock,
    ft_transformer_backbone,
)
from deepfit.models.layout import InputLayout
from tests.support.model_tasks import mixed_task
from tests.support.onnx import onnx_and_torch_outputs

LAYOUT = InputLayout(n_numeric=3, categorical_widths=(4, 2))
SMALL: dict[str, Any] = {"d_token": 16, "n_blocks": 2, "n_heads": 4}


def small(outputs: int = 1, **options: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return ft_transformer_backbone(LAYOUT, {**SMALL, "outputs": outputs, **options})


def features(rows: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, LAYOUT.d_in, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("outputs", [1, 3])
def test_output_shape_in_train_and_eval_mode(outputs: int) -> None:
    net = small(outputs)
    x = features()
    assert net.train()(x).shape == (8, outputs)
    eval_out = net.eval()(x)
    assert eval_out.shape == (8, outputs)
    assert torch.isfinite(eval_out).all()
    torch.testing.assert_close(net(x), eval_out)  # no dropout in eval mode


def test_gradients_reach_every_parameter() -> None:
    net = small(attention_dropout=0.0, ffn_dropout=0.0).train()
    net(features()).sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_every_feature_and_category_block_moves_the_output() -> None:
    net = small().eval()
    x = features(4)
    base = net(x)
    for column in [0, 2, LAYOUT.n_numeric, LAYOUT.d_in - 1]:
        moved = x.clone()
        moved[:, column] += 1.0
        assert not torch.allclose(net(moved), base), column


def test_last_block_computes_only_the_cls_token_but_the_same_value() -> None:
    torch.manual_seed(0)
    block = TransformerBlock(
        d_token=8,
        n_heads=2,
        d_ffn=10,
        attention_dropout=0.0,
        ffn_dropout=0.0,
        residual_dropout=0.0,
        first=False,
    )
    tokens = torch.randn(5, 4, 8)
    torch.testing.assert_close(block(tokens, cls_only=True), block(tokens)[:, :1])


def test_paper_defaults_when_options_are_missing() -> None:
    net = ft_transformer_backbone(LAYOUT, {"hidden_layers": (8,), "activation": "relu"})
    assert isinstance(net, FTTransformer)
    assert net.tokenizer.cls.shape == (192,)
    assert len(net.blocks) == 3
    first = net.blocks[0]
    assert isinstance(first, TransformerBlock)
    assert first.attention.n_heads == 8
    assert isinstance(first.attention_norm, torch.nn.Identity)  # no first pre-norm
    assert isinstance(net.blocks[1].attention_norm, torch.nn.LayerNorm)
    assert first.ffn[0].out_features == 2 * 256  # ReGLU halves 2 * d_token * 4/3
    assert first.attention.dropout.p == 0.2
    assert first.ffn[2].p == 0.1
    assert first.residual_dropout.p == 0.0


def test_tokenizer_starts_uniform_within_one_over_sqrt_d_token() -> None:
    net = small()
    bound = 16**-0.5
    tokenizer = net.tokenizer
    for parameter in [tokenizer.cls, tokenizer.numeric_weight, tokenizer.numeric_bias]:
        assert parameter is not None
        assert parameter.abs().max() <= bound
        assert parameter.abs().max() > 0.5 * bound


def test_works_with_only_numeric_or_only_categorical_columns() -> None:
    torch.manual_seed(0)
    numeric = ft_transformer_backbone(InputLayout(n_numeric=2), SMALL)
    assert numeric(torch.randn(3, 2)).shape == (3, 1)
    categorical = ft_transformer_backbone(InputLayout(0, (3, 5)), SMALL)
    assert categorical(torch.randn(3, 8)).shape == (3, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"d_token": 10, "n_heads": 4}, "d_token must be a multiple of n_heads"),
        ({"n_blocks": 0}, "n_blocks must be a positive integer"),
        ({"attention_dropout": 1.0}, "attention_dropout must be in"),
        ({"outputs": 0}, "outputs must be a positive integer"),
    ],
)
def test_bad_settings_say_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ft_transformer_backbone(LAYOUT, {**SMALL, **options})


def test_learns_numeric_and_categorical_effects() -> None:
    """y = x0 - 2 x1 + category effect, 256 rows, through the real input layers."""
    task = mixed_task()
    numeric, codes, target = task.numeric, task.codes, task.target
    net = task.network(ft_transformer_backbone(task.layout, {**SMALL, "n_blocks": 1}))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.mse_loss(net(numeric, codes), target)
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(net.eval()(numeric, codes), target))
    assert final < 0.05 * losses[0]


def test_state_dict_round_trip_gives_identical_outputs() -> None:
    net = small(3).eval()
    torch.manual_seed(123)  # the fresh module starts from other weights
    fresh = ft_transformer_backbone(LAYOUT, {**SMALL, "outputs": 3}).eval()
    x = features()
    assert not torch.allclose(fresh(x), net(x))
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(fresh(x), net(x), rtol=0, atol=0)


def test_onnx_export_matches_onnxruntime(tmp_path: Path) -> None:
    net = small(2)
    x = features(11, seed=1)  # another batch size than the one traced
    onnx_out, expected = onnx_and_torch_outputs(
        net, (features(3),), ("x",), (x,), tmp_path / "ft.onnx"
    )
    np.testing.assert_allclose(onnx_out, expected, rtol=1e-5, atol=1e-5)
