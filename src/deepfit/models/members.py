"""A few of TabM's members for serving: nearly the same answers, for less arithmetic per row.

TabM's ``k`` members share most of their weights, yet every row still costs ``k`` times the
arithmetic of one MLP: auto's k=16 made the served model 16 times dearer than the plain MLP
it replaced. :func:`select_members` runs a greedy forward selection on held-out rows
(Caruana et al., 2004, "Ensemble Selection from Libraries of Models", here without
replacement): it adds the member that lowers the loss of the subset's mean most, and stops at
``fewest`` members once the subset's loss is within ``tolerance`` of all members'.
:func:`keep_members` then makes the network that holds only those members (its weights are
slices of the trained ones).

A subset chosen on the rows that judge it looks better there than it is: on California
housing models, subsets of 4-5 of 16 members that matched all 16 on the validation rows were
0.15-1.10% worse on the test rows. So the server's members
(:mod:`deepfit.estimator.served`) are a fixed few, then taught all members' answers
(:mod:`deepfit.training.distillation`).

Example:
    >>> _ = torch.manual_seed(0)
    >>> outputs = torch.randn(50, 8, 1)
    >>> target = outputs[:, :2].mean(dim=1)  # members 0 and 1 alone are exact
    >>> chosen = select_members(outputs, target, average="outputs", fewest=1, tolerance=0.0)
    >>> sorted(chosen.members), round(chosen.loss, 6)
    ([0, 1], 0.0)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from deepfit.models.tabm import BatchEnsembleLinear, TabM, average_members

MIN_VALIDATION_ROWS = 1_000  # fewer rows choose by noise: every member is kept
TOLERANCE = 0.0  # a subset's validation loss may exceed all members' by this fraction


@dataclass(frozen=True)
class MemberChoice:
    """The members kept (``members``, in the order chosen), the validation loss of their mean
    (``loss``) and of all members' (``loss_all``)."""

    members: list[int]
    loss: float
    loss_all: float
    k: int


def find_tabm(network: nn.Module) -> TabM | None:
    """The one TabM inside ``network``, or None (no TabM, or an ensemble of several)."""
    found = [module for module in network.modules() if isinstance(module, TabM)]
    return found[0] if len(found) == 1 else None


@torch.no_grad()
def member_outputs(network: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """Every member's raw output ``[B, k, outputs]`` for ``network(*inputs)`` in eval mode.

    A pre-hook on the TabM takes its input and stops the network's forward there, so the
    TabM runs once, for its members; the layers after it (none in deepfit's networks but a
    squeeze) are not applied.
    """
    tabm = find_tabm(network)
    if tabm is None:
        raise ValueError("the network has no single TabM whose members could be chosen")
    captured: list[torch.Tensor] = []

    def take(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured.append(args[0])
        raise _ReachedTabMError

    hook = tabm.register_forward_pre_hook(take)
    try:
        network.eval()(*inputs)
    except _ReachedTabMError:
        pass
    finally:
        hook.remove()
    return tabm.member_outputs(captured[0])


class _ReachedTabMError(Exception):
    """The forward reached the TabM, whose input :func:`member_outputs` has taken."""


def select_members(
    outputs: torch.Tensor,
    target: torch.Tensor,
    *,
    average: str,
    fewest: int,
    tolerance: float = TOLERANCE,
) -> MemberChoice:
    """Greedy forward selection of members on held-out rows (see the module docstring).

    ``outputs``: ``[B, k, outputs]`` raw member outputs; ``target``: the encoded target (the
    standardised numbers for ``average="outputs"``, class indices for ``"probabilities"``);
    ``fewest``: the smallest subset allowed, so that a handful of rows cannot pick one lucky
    member; ``tolerance``: how much above all members' loss the subset's may be.
    """
    k = outputs.shape[1]
    loss_all = _loss(outputs, target, average)
    chosen: list[int] = []
    loss = float("inf")
    while len(chosen) < k:
        trials = {
            member: _loss(outputs[:, [*chosen, member]], target, average)
            for member in range(k)
            if member not in chosen
        }
        best = min(trials, key=lambda member: trials[member])
        chosen.append(best)
        loss = trials[best]
        if len(chosen) >= fewest and loss <= loss_all * (1 + tolerance):
            break
    return MemberChoice(members=chosen, loss=loss, loss_all=loss_all, k=k)


def _loss(outputs: torch.Tensor, target: torch.Tensor, average: str) -> float:
    joined = average_members(outputs.double(), dim=1, average=average)
    if average == "probabilities":
        return float(nn.functional.cross_entropy(joined, target.long()))
    return float(((joined.reshape(target.shape) - target.double()) ** 2).mean())


def recorded_members(record: Any) -> list[int] | None:
    """The member indices a training summary's ``served_members`` record names, or None when
    it names no list of integers (a model file may come from anywhere). Whether they fit the
    network is :func:`keep_members`' to check.

    Example:
        >>> recorded_members({"members": [3, 0], "of": 16}), recorded_members({"members": "3"})
        ([3, 0], None)
    """
    members = record.get("members") if isinstance(record, dict) else None
    if isinstance(members, list) and all(
        isinstance(member, int) and not isinstance(member, bool) for member in members
    ):
        return members
    return None


def keep_members(network: nn.Module, members: list[int]) -> nn.Module:
    """A copy of ``network`` whose TabM has only ``members`` (weights sliced, not retrained).

    Example:
        >>> net = TabM(d_in=3, hidden_layers=(4,), k=4, variant="full").eval()
        >>> lean = keep_members(net, [2, 0])
        >>> x = torch.randn(5, 3)
        >>> bool(torch.allclose(lean(x), net.member_outputs(x)[:, [2, 0]].mean(dim=1)))
        True
    """
    lean = copy.deepcopy(network)
    tabm = find_tabm(lean)
    if tabm is None:
        raise ValueError("the network has no single TabM whose members could be kept")
    if (
        not members
        or len(set(members)) != len(members)
        or not all(0 <= member < tabm.k for member in members)
    ):
        raise ValueError(f"members must be distinct indices below k={tabm.k}: {members}")
    index = torch.tensor(members)
    with torch.no_grad():
        tabm.adapter = nn.Parameter(tabm.adapter[index].clone())
        tabm.head_weight = nn.Parameter(tabm.head_weight[index].clone())
        tabm.head_bias = nn.Parameter(tabm.head_bias[index].clone())
        for block in tabm.blocks:
            linear = cast(BatchEnsembleLinear, block.linear)
            if linear.s is None:
                continue
            linear.s = nn.Parameter(linear.s[index].clone())
            linear.bias = nn.Parameter(linear.bias[index].clone())
            if linear.r is not None:
                linear.r = nn.Parameter(linear.r[index].clone())
    tabm.k = len(members)
    return lean
