"""EnsembleNetwork: the mean of its members, with TabularNetwork's surface as views over them."""

from __future__ import annotations

import copy

import pytest
import torch

from deepfit.errors import ConfigError
from deepfit.models import build_network
from deepfit.models.ensemble import EnsembleNetwork
from deepfit.models.heads import TargetUnits
from deepfit.models.network import TabularNetwork

OPTIONS = {"hidden_layers": (8,), "activation": "relu", "dropout": 0.0, "norm": None, "clip": 3.0}


def member(seed: int, *, medians: tuple[float, float] = (0.0, 1.0)) -> TabularNetwork:
    torch.manual_seed(seed)
    return build_network(
        "mlp",
        medians=list(medians),
        scales=[1.0, 2.0],
        missing_indicators=[False, True],
        cardinalities=[4, 6],
        options=OPTIONS,
        head=TargetUnits(mean=10.0, std=3.0),
    )


def inputs(rows: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    numeric = torch.randn(rows, 2, generator=generator)
    numeric[0, 1] = float("nan")
    codes = torch.stack(
        [torch.randint(0, 4, (rows,), generator=generator), torch.randint(0, 6, (rows,))], dim=1
    )
    return numeric, codes


@pytest.fixture
def ensemble() -> EnsembleNetwork:
    return EnsembleNetwork([member(seed) for seed in range(3)]).eval()


def test_output_is_the_mean_of_the_members(ensemble: EnsembleNetwork) -> None:
    numeric, codes = inputs()
    outputs = ensemble.member_outputs(numeric, codes)
    assert outputs.shape == (3, 7)
    members = [m(numeric, codes) for m in ensemble.members]
    torch.testing.assert_close(outputs, torch.stack(members))
    torch.testing.assert_close(ensemble(numeric, codes), outputs.mean(dim=0))
    assert not torch.allclose(outputs[0], outputs[1])  # differently initialised members


def test_views_rebuild_the_forward_pass(ensemble: EnsembleNetwork) -> None:
    """What explanations and exports read: numeric_input, embeddings, backbone, d_in."""
    numeric, codes = inputs()
    first = ensemble.members[0]
    assert isinstance(first, TabularNetwork)
    assert ensemble.numeric_input is first.numeric_input
    assert [t.num_embeddings for t in ensemble.embeddings._embeddings()] == [4, 6]
    assert ensemble.embeddings.d_out == 3 * first.embeddings.d_out
    features = torch.cat([ensemble.numeric_input(numeric), ensemble.embeddings(codes)], dim=1)
    assert features.shape[1] == ensemble.d_in
    rebuilt = ensemble.backbone(features).squeeze(-1)
    torch.testing.assert_close(rebuilt, ensemble(numeric, codes))
    standardised = ensemble(numeric, codes)
    torch.testing.assert_close(ensemble.head(standardised), standardised.double() * 3.0 + 10.0)


def test_state_dict_holds_each_member_once(ensemble: EnsembleNetwork) -> None:
    names = list(ensemble.state_dict())
    assert all(name.startswith("members.") for name in names)  # the head's are not weights
    assert {name.split(".")[1] for name in names if name.startswith("members.")} == {"0", "1", "2"}
    fresh = EnsembleNetwork([member(seed) for seed in (7, 8, 9)]).eval()
    fresh.load_state_dict(ensemble.state_dict(), strict=True)
    numeric, codes = inputs()
    assert torch.equal(fresh(numeric, codes), ensemble(numeric, codes))


def test_views_follow_copies_and_dtype_changes(ensemble: EnsembleNetwork) -> None:
    numeric, codes = inputs()
    twin = copy.deepcopy(ensemble).double()
    assert twin.numeric_input is twin.members[0].numeric_input
    features = torch.cat(
        [twin.numeric_input(numeric.double()), twin.embeddings(codes).double()], dim=1
    )
    assert features.dtype == torch.float64
    torch.testing.assert_close(
        twin.backbone(features).squeeze(-1).float(), ensemble(numeric, codes), rtol=1e-5, atol=1e-6
    )


def test_members_must_share_their_statistics() -> None:
    with pytest.raises(ConfigError, match="member 1"):
        EnsembleNetwork([member(0), member(1, medians=(0.5, 1.0))])
    assert EnsembleNetwork([member(0), member(1)]).head.std == 3.0  # the first member's head
    with pytest.raises(ConfigError, match="at least one"):
        EnsembleNetwork([])
