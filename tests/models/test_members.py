"""Choosing TabM members to serve: greedy selection on held-out rows, and sliced networks."""

from __future__ import annotations

import pytest
import torch

from deepfit.models.members import find_tabm, keep_members, member_outputs, select_members
from deepfit.models.tabm import TabM


def test_selection_stops_at_the_smallest_subset_as_good_as_all() -> None:
    torch.manual_seed(0)
    truth = torch.randn(200, 1)
    noise = torch.randn(200, 6, 1)
    outputs = truth.unsqueeze(1) + noise
    outputs[:, 4] = truth + 0.01 * noise[:, 4]  # one member nearly exact
    choice = select_members(outputs, truth, average="outputs", fewest=1, tolerance=0.0)
    assert choice.members == [4]
    assert choice.loss < choice.loss_all
    assert choice.k == 6


def test_selection_keeps_at_least_the_fewest_members() -> None:
    torch.manual_seed(0)
    truth = torch.randn(200, 1)
    outputs = truth.unsqueeze(1) + torch.randn(200, 8, 1)
    outputs[:, 2] = truth
    choice = select_members(outputs, truth, average="outputs", fewest=3, tolerance=0.0)
    assert len(choice.members) >= 3
    assert choice.members[0] == 2
    assert choice.loss <= choice.loss_all


def test_selection_of_classifier_members_uses_the_mean_probability() -> None:
    labels = torch.tensor([0, 1] * 50)
    right = torch.nn.functional.one_hot(labels, 2).float() * 4 - 2  # confident and right
    wrong = -right
    outputs = torch.stack([wrong, right, wrong], dim=1)
    choice = select_members(outputs, labels, average="probabilities", fewest=1, tolerance=0.0)
    assert choice.members == [1]


def test_kept_members_answer_as_those_members_of_the_whole() -> None:
    torch.manual_seed(1)
    for variant in ("mini", "full"):
        net = TabM(d_in=5, hidden_layers=(8, 8), k=6, variant=variant).eval()
        x = torch.randn(7, 5)
        lean = keep_members(net, [5, 1, 3])
        expected = net.member_outputs(x)[:, [5, 1, 3]].mean(dim=1)
        assert isinstance(lean, TabM)
        assert lean.k == 3
        assert torch.allclose(lean(x), expected, atol=1e-6)
        assert net.k == 6  # the original is untouched


@pytest.mark.parametrize("members", [[], [0, 0], [6], [-1]])
def test_impossible_member_lists_are_refused(members: list[int]) -> None:
    net = TabM(d_in=2, hidden_layers=(4,), k=6)
    with pytest.raises(ValueError, match="members"):
        keep_members(net, members)


def test_member_outputs_of_a_whole_network() -> None:
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), TabM(d_in=4, hidden_layers=(8,), k=4))
    x = torch.randn(9, 3)
    outputs = member_outputs(net, x)
    assert outputs.shape == (9, 4, 1)
    assert torch.allclose(outputs.mean(dim=1), net.eval()(x), atol=1e-6)
    assert find_tabm(torch.nn.Linear(2, 2)) is None


def test_tolerance_stops_at_a_subset_slightly_worse_than_all() -> None:
    torch.manual_seed(3)
    truth = torch.randn(400, 1)
    outputs = truth.unsqueeze(1) + 0.3 * torch.randn(400, 8, 1)
    exact = select_members(outputs, truth, average="outputs", fewest=1, tolerance=0.0)
    loose = select_members(outputs, truth, average="outputs", fewest=1, tolerance=0.5)
    assert len(loose.members) < len(exact.members)
    assert loose.loss <= 1.5 * loose.loss_all
    assert loose.members == exact.members[: len(loose.members)]  # the same greedy order
