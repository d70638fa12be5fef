"""A small regression task with numeric and categorical inputs, for the model tests."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepfit.models.inputs import CategoricalEmbeddings, NumericInput
from deepfit.models.layout import InputLayout
from deepfit.models.network import TabularNetwork


@dataclass
class MixedTask:
    """``y = x0 - 2 x1 + category effect`` on ``rows`` rows, and the input layers to learn it."""

    numeric: torch.Tensor
    codes: torch.Tensor
    target: torch.Tensor
    embeddings: CategoricalEmbeddings
    layout: InputLayout

    def network(self, backbone: nn.Module) -> TabularNetwork:
        """The real input layers (identity scaling, the task's embeddings) before ``backbone``."""
        return TabularNetwork(
            numeric_input=NumericInput(
                medians=[0.0, 0.0], scales=[1.0, 1.0], missing_indicators=[]
            ),
            embeddings=self.embeddings,
            backbone=backbone,
        )


def mixed_task(rows: int = 256, seed: int = 0) -> MixedTask:
    """The task, drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    numeric = torch.randn(rows, 2)
    codes = torch.randint(1, 4, (rows, 1))
    target = numeric[:, 0] - 2 * numeric[:, 1] + torch.tensor([0.0, 1.5, -1.0, 0.5])[codes[:, 0]]
    embeddings = CategoricalEmbeddings([4])
    layout = InputLayout(n_numeric=2, categorical_widths=(embeddings.d_out,))
    return MixedTask(numeric, codes, target, embeddings, layout)
