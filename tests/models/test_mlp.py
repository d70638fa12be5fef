import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.models import build_network
from deepfit.models.inputs import CategoricalEmbeddings, NumericInput, embedding_size
from deepfit.models.mlp import ACTIVATIONS, MLP


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_gives_finite_output_and_gradients(activation):
    torch.manual_seed(0)
    net = MLP(d_in=5, d_out=1, hidden_layers=(8, 4), activation=activation)
    x = torch.randn(16, 5)
    out = net(x)
    out.sum().backward()
    assert out.shape == (16, 1)
    assert torch.isfinite(out).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_depth_widths_norm_and_dropout_are_built_as_asked():
    net = MLP(d_in=3, d_out=1, hidden_layers=(7, 5, 2), norm="layer", dropout=0.2)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [7, 5, 2, 1]
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in net.modules()) == 3
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3
    batch = MLP(d_in=3, d_out=1, hidden_layers=(4,), norm="batch")
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in batch.modules())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "swishy"}, "activation must be one of"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"hidden_layers": (4, 0)}, "widths must be positive"),
        ({"norm": "group"}, "norm must be"),
    ],
)
def test_bad_settings_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(d_in=3, d_out=1, **kwargs)


def test_numeric_input_imputes_median_adds_indicators_and_bounds_extremes():
    layer = NumericInput(medians=[1.0, 0.0], scales=[2.0, 1.0], missing_indicators=[True, False])
    x = torch.tensor([[float("nan"), 0.0], [5.0, 1e9], [-3.0, -1e9]])
    out = layer(x)
    assert out.shape == (3, 3)
    assert out[0, 0] == 0.0  # the median, scaled
    assert out[:, 2].tolist() == [1.0, 0.0, 0.0]  # missing indicator of column 0
    assert out[1, 0] == pytest.approx(2.0 / (1 + (2.0 / 3.0) ** 2) ** 0.5)
    assert out[:, :2].abs().max() <= 3.0  # smooth clipping bounds values to [-3, 3] in float32
    assert out[1, 1] > out[0, 1] > out[2, 1]  # and keeps their order


def test_unknown_category_embedding_starts_at_zero():
    torch.manual_seed(0)
    layer = CategoricalEmbeddings([4, 10])
    out = layer(torch.tensor([[0, 0], [1, 3]]))
    assert out.shape == (2, embedding_size(4) + embedding_size(10))
    assert torch.all(out[0] == 0)
    assert torch.any(out[1] != 0)


def test_embeddings_give_the_tables_rows_and_their_gradients():
    torch.manual_seed(0)
    layer = CategoricalEmbeddings([4, 10])
    codes = torch.tensor([[0, 9], [3, 3], [3, 0], [1, 3]])
    weights = torch.randn(4, layer.d_out)
    (layer(codes) * weights).sum().backward()
    for j, table in enumerate(layer._embeddings()):
        reference = torch.nn.Embedding.from_pretrained(table.weight.detach(), freeze=False)
        width = table.embedding_dim
        start = 0 if j == 0 else layer._embeddings()[0].embedding_dim
        columns = weights[:, start : start + width]
        looked_up = reference(codes[:, j])
        (looked_up * columns).sum().backward()
        assert torch.equal(looked_up, layer(codes)[:, start : start + width])
        assert torch.allclose(table.weight.grad, reference.weight.grad)


def test_network_learns_from_numeric_and_categorical_inputs_and_gradients_reach_all():
    torch.manual_seed(0)
    net = build_network(
        "mlp",
        medians=[0.0, 0.0],
        scales=[1.0, 1.0],
        missing_indicators=[False, True],
        cardinalities=[4],
        options={"hidden_layers": [16], "activation": "relu", "dropout": 0.0, "norm": None},
    )
    numeric = torch.randn(64, 2)
    codes = torch.randint(1, 4, (64, 1))
    target = numeric[:, 0] + codes[:, 0].float()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(200):
        loss = torch.nn.functional.mse_loss(net(numeric, codes), target)
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.05 * first
    assert all(p.grad is not None for p in net.parameters())


def test_unknown_model_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        build_network(
            "nope",
            medians=[0.0],
            scales=[1.0],
            missing_indicators=[False],
            cardinalities=[],
            options={},
        )
