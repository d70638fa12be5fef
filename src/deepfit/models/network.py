"""The tabular network: input layers, a backbone, and the task's head."""

from __future__ import annotations

import torch
from torch import nn

from deepfit.models.inputs import CategoricalEmbeddings, NumericInput


class TabularNetwork(nn.Module):
    """Raw numeric features (NaN for missing) and category codes in, the raw output out.

    ``forward`` gives what the loss scores: the standardised target of a regression network,
    the logits of a classifier. ``head`` (made by the task, see :mod:`deepfit.models.heads`)
    turns that into the answer, the target's units or class probabilities, so an exported
    graph or a server applies it too. The head's statistics are not part of the weights.
    """

    def __init__(
        self,
        *,
        numeric_input: NumericInput,
        embeddings: CategoricalEmbeddings,
        backbone: nn.Module,
        head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.numeric_input = numeric_input
        self.embeddings = embeddings
        self.backbone = backbone
        self.head: nn.Module = head if head is not None else nn.Identity()

    @property
    def d_in(self) -> int:
        """Width of the backbone's input: prepared numeric features plus embeddings."""
        return self.numeric_input.d_out + self.embeddings.d_out

    def backbone_input(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """The backbone's input: prepared numeric features, then the category embeddings."""
        return torch.cat([self.numeric_input(numeric), self.embeddings(categorical)], dim=1)

    @torch.no_grad()
    def initialise_from_data(self, numeric: torch.Tensor, categorical: torch.Tensor) -> None:
        """Fit what the backbone learns from the training rows before training, if anything.

        Call it once, on the training rows, right after building the network and before
        training: a backbone with a ``fit_to_data(features)`` method (e.g. one behind a
        piecewise-linear numeric embedding, which sets its quantile bins) gets the backbone
        input of these rows; any other backbone is left as it is. What it fits lives in
        buffers, so a saved model loads by building the network and ``load_state_dict``
        without calling this again. For an ensemble, call it on each member before joining them.

        Example:
            >>> from deepfit.models import build_network
            >>> net = build_network("mlp", medians=[0.0], scales=[1.0],
            ...     missing_indicators=[False], cardinalities=[], options={
            ...     "hidden_layers": (4,), "activation": "relu", "dropout": 0.0, "norm": None,
            ...     "numeric_embedding": "piecewise", "n_bins": 2})
            >>> net.initialise_from_data(torch.tensor([[0.0], [1.0], [2.0]]),
            ...     torch.zeros(3, 0, dtype=torch.long))
            >>> net.backbone.embedding.bin_edges
            tensor([[0.0000, 0.9487, 1.6641]])
        """
        fit = getattr(self.backbone, "fit_to_data", None)
        if callable(fit):
            fit(self.backbone_input(numeric, categorical))

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.backbone_input(numeric, categorical)).squeeze(-1)

    def answer(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """The head's answer for these inputs: ``head(forward(...))``."""
        return self.head(self(numeric, categorical))
