"""``EnsembleNetwork``: K tabular networks, trained apart, that predict the mean of their outputs.

An ensemble is a :class:`~deepfit.models.network.TabularNetwork` to everything downstream
(serving, ONNX export, explanations, baselines): it has the same ``numeric_input``,
``embeddings``, ``backbone`` and ``head``, and its ``forward`` is the mean of the members'
raw outputs (standardised targets, or logits).

* The weights live in the members only (``members.0.``, ``members.1.``, ... in the state
  dict). ``numeric_input``, ``embeddings`` and ``backbone`` are views over the members,
  deliberately not registered as submodules, so no tensor is stored twice.
* ``numeric_input`` is the first member's: every member holds the same input statistics.
* ``head`` is the ensemble's own (the task's head; its statistics are not weights), applied
  to the mean of the members' raw outputs.
* ``embeddings`` puts the members' embeddings of a column side by side (one table per column,
  ``embedding_dim`` the members' widths summed), and ``backbone`` takes the prepared numeric
  features followed by those embeddings, hands each member its own slice and averages. So
  ``backbone(cat([numeric_input(x), embeddings(codes)]))`` equals ``forward(x, codes)``, which
  is what integrated gradients attribute.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.inputs import CategoricalEmbeddings, look_up
from deepfit.models.network import TabularNetwork
from deepfit.models.tabm import average_members


class EnsembleNetwork(TabularNetwork):
    """The mean of K member networks that share their input and target statistics.

    Example:
        >>> from deepfit.models import build_network
        >>> options = {"hidden_layers": (4,), "activation": "relu", "dropout": 0.0,
        ...     "norm": None, "clip": 3.0}
        >>> members = [build_network("mlp", medians=[0.0], scales=[1.0],
        ...     missing_indicators=[False], cardinalities=[3], options=options)
        ...     for _ in range(3)]
        >>> ensemble = EnsembleNetwork(members)
        >>> numeric, codes = torch.zeros(2, 1), torch.tensor([[1], [2]])
        >>> ensemble.member_outputs(numeric, codes).shape
        torch.Size([3, 2])
        >>> bool(torch.allclose(ensemble(numeric, codes),
        ...     ensemble.member_outputs(numeric, codes).mean(dim=0)))
        True
    """

    members: nn.ModuleList

    def __init__(
        self,
        members: Sequence[TabularNetwork],
        head: nn.Module | None = None,
        *,
        average: str = "outputs",
    ) -> None:
        """``average``: ``"outputs"`` (the mean of raw outputs) or ``"probabilities"`` (of a
        classifier's members: the log of their mean probability)."""
        # Not TabularNetwork.__init__: its parts here are views over the members (see above).
        nn.Module.__init__(self)
        if not members:
            raise ConfigError("an ensemble needs at least one member network")
        _check_same_inputs(members)
        first = members[0]
        self.members = nn.ModuleList(members)
        self.average = average
        self.head = head if head is not None else copy.deepcopy(first.head)
        object.__setattr__(self, "numeric_input", first.numeric_input)
        object.__setattr__(self, "embeddings", _SideBySideEmbeddings(members))
        object.__setattr__(self, "backbone", _AveragedBackbones(members, average))

    @property
    def size(self) -> int:
        """The number of members."""
        return len(self.members)

    def member_outputs(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """Each member's output (standardised target), shape ``[members, rows]``."""
        return torch.stack([member(numeric, categorical) for member in self.members])

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        outputs = self.member_outputs(numeric, categorical)
        return average_members(outputs, dim=0, average=self.average)


def _check_same_inputs(members: Sequence[TabularNetwork]) -> None:
    """Refuse members whose input or target statistics differ: they must share them."""
    first = members[0]
    reference = _statistics(first)
    for index, member in enumerate(members[1:], start=1):
        same = all(
            a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))
            for a, b in zip(reference, _statistics(member), strict=True)
        )
        same = same and member.numeric_input.clip == first.numeric_input.clip
        same = same and _table_sizes(member) == _table_sizes(first)
        if not same:
            raise ConfigError(
                f"ensemble member {index} has other input statistics than member 0; "
                "the members must be built from the same preprocessing"
            )


def _statistics(network: TabularNetwork) -> list[torch.Tensor]:
    layer = network.numeric_input
    return [layer.medians, layer.scales, layer.indicator_columns]


def _table_sizes(network: TabularNetwork) -> list[tuple[int, int]]:
    return [(t.num_embeddings, t.embedding_dim) for t in network.embeddings._embeddings()]


class _SideBySideTable(nn.Module):
    """One categorical column's embedding in every member, concatenated (an ``nn.Embedding``
    to its readers: ``num_embeddings``, ``embedding_dim``, called with the column's codes)."""

    def __init__(self, tables: Sequence[nn.Embedding]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(tables)
        self.num_embeddings = int(tables[0].num_embeddings)
        self.embedding_dim = sum(int(table.embedding_dim) for table in tables)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.cat([look_up(part, codes) for part in self.parts], dim=-1)


class _SideBySideEmbeddings(CategoricalEmbeddings):
    """The members' embeddings, column by column: ``[col 0: m0 m1 ..., col 1: m0 m1 ...]``."""

    def __init__(self, members: Sequence[TabularNetwork]) -> None:
        nn.Module.__init__(self)  # no tables of its own to initialise
        per_member = [member.embeddings._embeddings() for member in members]
        self.tables = nn.ModuleList(
            _SideBySideTable([tables[j] for tables in per_member])
            for j in range(len(per_member[0]))
        )


class _AveragedBackbones(nn.Module):
    """Prepared numeric features and side-by-side embeddings in; the members' mean out.

    Member ``i`` reads the numeric columns and its own slice of every column's embedding,
    which is exactly the input it was trained on.
    """

    def __init__(self, members: Sequence[TabularNetwork], average: str = "outputs") -> None:
        super().__init__()
        self.average = average
        self.parts = nn.ModuleList(member.backbone for member in members)
        n_numeric = members[0].numeric_input.d_out
        widths = [table.embedding_dim for table in members[0].embeddings._embeddings()]
        count = len(members)
        self.columns: list[list[int]] = []
        for index in range(count):
            columns = list(range(n_numeric))
            start = n_numeric
            for width in widths:
                offset = start + index * width
                columns.extend(range(offset, offset + width))
                start += count * width
            self.columns.append(columns)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs = [
            cast(torch.Tensor, backbone(features[:, columns]))
            for backbone, columns in zip(self.parts, self.columns, strict=True)
        ]
        return average_members(torch.stack(outputs), dim=0, average=self.average)
