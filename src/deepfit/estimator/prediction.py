"""A fitted network's answers for rows already prepared by the model's preprocessor."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from deepfit.data.preprocess import PreparedFeatures
from deepfit.errors import DeepfitWarning
from deepfit.kinds.table import inputs
from deepfit.models.ensemble import EnsembleNetwork
from deepfit.models.network import TabularNetwork
from deepfit.training.loop import EVAL_BATCH, predict


def answers(network: TabularNetwork, features: PreparedFeatures) -> np.ndarray:
    """The head's answers: numbers in the target's units, or class probabilities."""
    return network.head(predict(network, inputs(features))).numpy()


def note_all_missing(features: PreparedFeatures) -> None:
    """Warn when a feature column has no value in any of the rows (more than one) to answer:
    the answers then rest on values filled in from the training data."""
    if features.all_missing:
        shown = ", ".join(f"'{name}'" for name in features.all_missing[:10])
        more = (
            f" and {len(features.all_missing) - 10} more" if len(features.all_missing) > 10 else ""
        )
        warnings.warn(
            f"feature column(s) {shown}{more} are missing in every row given "
            f"({len(features)} rows); the predictions use values filled in from the training "
            "data for them, so check that the columns were meant to be empty",
            DeepfitWarning,
            stacklevel=4,
        )


def raw_outputs(network: TabularNetwork, features: PreparedFeatures) -> np.ndarray:
    """The network's outputs before its head (standardised numbers, or logits)."""
    return predict(network, inputs(features)).numpy()


def member_answers(network: TabularNetwork, features: PreparedFeatures) -> np.ndarray | None:
    """Each ensemble member's answers, ``[members, rows, ...]``; None for a single network."""
    if not isinstance(network, EnsembleNetwork):
        return None
    network.eval()
    parts = []
    with torch.no_grad():
        for batch in inputs(features).ordered(EVAL_BATCH):
            outputs = network.member_outputs(batch["numeric"], batch["categorical"])
            parts.append(network.head(outputs))
    if not parts:
        return np.zeros((network.size, 0))
    return torch.cat(parts, dim=1).numpy()
