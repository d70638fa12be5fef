"""Teaching a few TabM members all members' answers (training/distillation.py)."""

from __future__ import annotations

import math

import pytest
import torch

from deepfit.models import build_network
from deepfit.models.members import find_tabm, keep_members
from deepfit.models.network import TabularNetwork
from deepfit.training.distillation import BATCH, PASSES, distil, output_gap


def _teacher(outputs: int, average: str) -> TabularNetwork:
    torch.manual_seed(0)
    network = build_network(
        "ensemble",
        medians=[0.0, 0.0, 0.0],
        scales=[1.0, 2.0, 0.5],
        missing_indicators=[False, True, False],
        cardinalities=[4],
        options={
            "hidden_layers": (16, 16),
            "activation": "relu",
            "dropout": 0.0,
            "norm": None,
            "k": 8,
            "outputs": outputs,
            "member_average": average,
        },
    )
    return network.eval()


def _rows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, 3, generator=generator)
    numeric[::7, 1] = float("nan")  # a missing value the student must handle as the teacher does
    return numeric, torch.randint(0, 4, (n, 1), generator=generator)


@pytest.mark.parametrize(("outputs", "average"), [(1, "outputs"), (3, "probabilities")])
def test_taught_members_are_closer_to_all_members_on_new_rows(outputs: int, average: str) -> None:
    teacher = _teacher(outputs, average)
    members = [1, 4]
    taught = distil(teacher, members, *_rows(400, 0), average=average, steps=200)
    new_rows = _rows(300, 1)
    with torch.no_grad():
        answers = teacher(*new_rows)
    sliced = output_gap(keep_members(teacher, members), *new_rows, answers, average=average)
    after = output_gap(taught.network, *new_rows, answers, average=average)
    assert after < 0.5 * sliced
    tabm = find_tabm(taught.network)
    assert tabm is not None
    assert tabm.k == len(members)
    assert taught.steps == 200
    assert not any(parameter.requires_grad for parameter in taught.network.parameters())


def test_the_teacher_is_left_as_it_was() -> None:
    teacher = _teacher(1, "outputs")
    before = {name: value.clone() for name, value in teacher.state_dict().items()}
    distil(teacher, [0, 2], *_rows(200, 0), average="outputs", steps=20)
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_seconds_bound_the_teaching() -> None:
    teacher = _teacher(1, "outputs")
    taught = distil(teacher, [0, 1], *_rows(200, 0), average="outputs", steps=10**9, seconds=0.2)
    assert 0 < taught.steps < 10**9
    assert taught.seconds < 5


def test_the_same_seed_teaches_the_same_weights() -> None:
    teacher = _teacher(1, "outputs")
    rows = _rows(200, 0)
    first, second = (distil(teacher, [3, 5], *rows, average="outputs", steps=30) for _ in range(2))
    for (name, a), b in zip(
        first.network.state_dict().items(), second.network.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_a_small_table_is_taught_in_fewer_steps() -> None:
    teacher = _teacher(1, "outputs")
    taught = distil(teacher, [0, 1], *_rows(200, 0), average="outputs")
    assert taught.steps == math.ceil(PASSES * 200 / BATCH)


def test_bf16_steps_teach_float32_members() -> None:
    teacher = _teacher(1, "outputs")
    members = [1, 4]
    taught = distil(
        teacher, members, *_rows(400, 0), average="outputs", steps=200, precision="bf16"
    )
    assert taught.precision == "bf16"
    assert all(p.dtype == torch.float32 for p in taught.network.parameters())
    new_rows = _rows(300, 1)
    with torch.no_grad():
        answers = teacher(*new_rows)
    sliced = output_gap(keep_members(teacher, members), *new_rows, answers, average="outputs")
    after = output_gap(taught.network, *new_rows, answers, average="outputs")
    assert after < 0.5 * sliced


def test_auto_precision_keeps_a_small_network_in_float32() -> None:
    taught = distil(
        _teacher(1, "outputs"), [0, 1], *_rows(200, 0), average="outputs", steps=5, precision="auto"
    )
    assert taught.precision == "fp32"  # its forward pass multiplies far below MIN_STEP_FLOPS
