"""The tabular network: input layers, then a backbone, predicting the standardised target."""

from __future__ import annotations

import torch
from torch import nn

from deepfit.models.inputs import CategoricalEmbeddings, NumericInput


class TabularNetwork(nn.Module):
    """Raw numeric features (NaN for missing) and category codes in, one number per row out.

    The output is on the standardised target scale; ``target_mean`` and ``target_std`` are
    buffers so :meth:`to_target_units` (and an exported graph) can give the target's units.
    """

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(
        self,
        *,
        numeric_input: NumericInput,
        embeddings: CategoricalEmbeddings,
        backbone: nn.Module,
        target_mean: float = 0.0,
        target_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.numeric_input = numeric_input
        self.embeddings = embeddings
        self.backbone = backbone
        self.register_buffer("target_mean", torch.tensor(target_mean, dtype=torch.float64))
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float64))

    @property
    def d_in(self) -> int:
        """Width of the backbone's input: prepared numeric features plus embeddings."""
        return self.numeric_input.d_out + self.embeddings.d_out

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        features = torch.cat([self.numeric_input(numeric), self.embeddings(categorical)], dim=1)
        return self.backbone(features).squeeze(-1)

    def to_target_units(self, standardised: torch.Tensor) -> torch.Tensor:
        """The network's output mapped back to the target's units, in float64."""
        return standardised.double() * self.target_std + self.target_mean
