import warnings

import pytest
import torch
from torch import nn

from deepfit.errors import ConfigError
from deepfit.training.losses import LOSSES, LogLink, MemberLoss, make_loss

PREDICTION = torch.tensor([0.0, 2.0, -1.0, 4.0])
TARGET = torch.tensor([1.0, 2.0, 1.0, 0.5])


@pytest.mark.parametrize(
    ("name", "reference"),
    [("mse", nn.MSELoss()), ("mae", nn.L1Loss()), ("huber", nn.HuberLoss(delta=1.0))],
)
def test_one_prediction_per_row_gives_the_same_numbers_as_torch(name, reference):
    assert torch.equal(make_loss(name)(PREDICTION, TARGET), reference(PREDICTION, TARGET))


def test_huber_delta_is_used():
    loss = make_loss("huber", huber_delta=2.0)
    # residuals 1, 0, 2, 3.5: 0.5, 0, 2, 2 * 3.5 - 2 = 5 -> mean 1.875
    assert float(loss(PREDICTION, TARGET)) == pytest.approx(1.875)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # members' errors against targets [1, 3]: member 0 (1, 1), member 1 (-1, 3)
        ("mse", ((1 + 1) / 2 + (1 + 9) / 2) / 2),
        ("mae", ((1 + 1) / 2 + (1 + 3) / 2) / 2),
        ("huber", ((0.5 + 0.5) / 2 + (0.5 + 2.5) / 2) / 2),
    ],
)
def test_each_member_is_scored_on_its_own_and_the_losses_averaged(name, expected):
    prediction = torch.tensor([[2.0, 0.0], [4.0, 6.0]])  # [rows=2, members=2]
    target = torch.tensor([1.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no broadcasting warning
        value = make_loss(name)(prediction, target)
    assert float(value) == pytest.approx(expected)
    members = [float(make_loss(name)(prediction[:, j], target)) for j in range(2)]
    assert float(value) == pytest.approx(sum(members) / 2)


def test_member_losses_give_every_member_its_own_gradient():
    prediction = torch.tensor([[2.0, 0.0], [4.0, 6.0]], requires_grad=True)
    make_loss("mse")(prediction, torch.tensor([1.0, 3.0])).backward()
    # d/dp of mean over 4 squared errors: 2 * (p - y) / 4
    assert prediction.grad.tolist() == [[0.5, -0.5], [0.5, 1.5]]


def test_quantile_loss_is_the_pinball_loss():
    loss = make_loss("quantile", quantiles=(0.1, 0.5, 0.9))
    prediction = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])  # [rows=2, Q=3]
    target = torch.tensor([1.0, 3.0])
    # row 0: residuals 1, 0, -1 -> 0.1, 0, 0.1; row 1: residuals 2, 2, 2 -> 0.2, 1.0, 1.8
    assert float(loss(prediction, target)) == pytest.approx((0.1 + 0 + 0.1 + 0.2 + 1.0 + 1.8) / 6)


def test_quantile_loss_with_members_averages_rows_members_and_quantiles():
    loss = make_loss("quantile", quantiles=(0.25, 0.75))
    prediction = torch.tensor([[[0.0, 0.0], [2.0, 2.0]]])  # [rows=1, members=2, Q=2]
    target = torch.tensor([1.0])
    # member 0: residual 1 -> 0.25, 0.75; member 1: residual -1 -> 0.75, 0.25
    assert float(loss(prediction, target)) == pytest.approx(0.5)


def test_a_single_quantile_accepts_the_squeezed_network_output():
    loss = make_loss("quantile", quantiles=(0.9,))
    target = torch.tensor([1.0, 0.0])
    rows = loss(torch.tensor([0.0, 1.0]), target)  # [rows]
    members = loss(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), target)  # [rows, members]
    assert float(rows) == pytest.approx((0.9 + 0.1) / 2)
    assert float(members) == pytest.approx(float(rows))


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ((0.5, 0.1), "increasing"),
        ((0.0, 0.5), "in \\(0, 1\\)"),
        ((0.5, 1.0), "in \\(0, 1\\)"),
        ((0.2, 0.2), "increasing"),
        ((), "increasing"),
    ],
)
def test_bad_quantiles_say_what_is_wrong(quantiles, message):
    with pytest.raises(ConfigError, match=message):
        make_loss("quantile", quantiles=quantiles)


def test_mismatched_shapes_are_refused_instead_of_broadcast():
    with pytest.raises(ConfigError, match="one output per quantile"):
        make_loss("quantile", quantiles=(0.1, 0.9))(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(ConfigError, match="a loss needs"):
        make_loss("mse")(torch.zeros(4, 2), torch.zeros(3))


def test_losses_lists_every_user_facing_name():
    assert LOSSES == ("mse", "mae", "huber", "quantile", "cross_entropy")
    for name in LOSSES:
        assert isinstance(make_loss(name), nn.Module)


def test_a_log_link_scores_the_exponential_in_units_and_the_log_for_every_member():
    mean, std, unit = 5.0, 0.5, 100.0
    loss = make_loss("mse", log_link=(mean, std, unit))
    prediction = torch.tensor([[0.0, 1.0], [-1.0, 2.0]])  # 2 rows, 2 members
    target = torch.tensor([0.5, -1.0])
    in_units = torch.exp(prediction * std + mean) / unit
    every_member = (torch.exp(target * std + mean) / unit).unsqueeze(1).expand(-1, 2)
    expected = nn.functional.mse_loss(in_units, every_member) + nn.functional.mse_loss(
        prediction, target.unsqueeze(1).expand(-1, 2)
    )
    assert float(loss(prediction, target)) == pytest.approx(float(expected), rel=1e-6)


def test_a_log_link_refuses_a_negative_weight_for_the_log():
    with pytest.raises(ConfigError, match="log_weight >= 0"):
        LogLink(MemberLoss(nn.functional.mse_loss), mean=0.0, std=1.0, unit=1.0, log_weight=-1)


def test_a_log_link_stays_finite_for_an_absurd_prediction():
    loss = make_loss("mse", log_link=(10.0, 3.0, 1.0))
    prediction = torch.tensor([1e4, 0.0], requires_grad=True)
    value = loss(prediction, torch.tensor([0.0, 0.0]))
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(prediction.grad).all()
