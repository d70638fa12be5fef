"""Batch sources for loop and checkpoint tests."""

from __future__ import annotations

import torch

from deepfit.training.sources import InMemorySource


def table_source(numeric: torch.Tensor, target: torch.Tensor) -> InMemorySource:
    """Numeric rows with no categorical column, and their target, as the loop's source."""
    codes = torch.zeros((numeric.shape[0], 0), dtype=torch.long)
    return InMemorySource({"numeric": numeric, "categorical": codes, "target": target})
