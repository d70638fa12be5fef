"""Integrated gradients: each prediction split over the raw columns.

A regression's prediction is in the target's units; a classifier's is the probability of the
class it predicts for the row (each row explains its own predicted class).

One path from a single baseline row to each explained row is integrated over every input the
backbone sees at once (Captum's :class:`~captum.attr.IntegratedGradients`):

* numeric, boolean and date-part inputs, *after* imputation: missing values become the
  training median, exactly as :class:`~deepfit.models.inputs.NumericInput` does, so the path
  never crosses a NaN. The baseline is the training medians (``numeric_input.medians``);
* the missing-value indicators (0/1), baseline 0, so "this value was missing" is credited to
  its column;
* the category embeddings (the vectors that ``network_.embeddings`` looks up), baseline the
  "unknown" embedding (code 0). This is what ``LayerIntegratedGradients`` on the embedding
  layer computes, done in the same integral as the numeric inputs.

The baseline row is therefore "every value at its training median, nothing missing, every
category unknown", one row for all predictions. Attributions are summed back to one value
per raw column (a date's parts, and a column's indicator, into that column) and, by the
completeness of integrated gradients, a row's attributions add up to its prediction minus
the baseline prediction (``Attributions.delta`` holds the numerical gap).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients
from torch import nn

from deepfit.explain.columns import feature_roles, numeric_owners
from deepfit.training.precision import forward_flops

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator
    from deepfit.models.network import TabularNetwork

N_STEPS = 64
MAX_STEPS = 4096
TOLERANCE = 1e-3  # target standard deviations
# FLOPs the finer passes may spend (forward and backward, about 3 forward passes a row-step):
# about 12 s in float64 on two cores. The first pass is always taken.
REFINE_FLOPS = 5e11
INTERNAL_BATCH = 65536


@dataclass
class Attributions:
    """Per-row attributions and what they add up to.

    ``values`` has one row per explained row (same index as the rows given) and one column per
    raw feature; ``values.sum(axis=1) + baseline_prediction`` equals ``predictions`` up to
    ``delta``. ``baseline_prediction`` is one number for a regression, and one per row for a
    classifier (the baseline row's probability of that row's predicted class).
    """

    values: pd.DataFrame
    predictions: np.ndarray
    baseline_prediction: float | np.ndarray
    delta: np.ndarray


def integrated_gradients(
    model: Estimator,
    X: pd.DataFrame,
    *,
    n_steps: int = N_STEPS,
    tolerance: float = TOLERANCE,
    refine_flops: float = REFINE_FLOPS,
) -> Attributions:
    """Attribute each prediction for ``X`` to the model's raw feature columns.

    Rows are integrated with ``n_steps`` midpoint-rule steps; a row whose attributions miss
    completeness by more than ``tolerance`` target standard deviations is integrated again
    with four times the steps, up to :data:`MAX_STEPS` (a ReLU network's kinks make the
    integral converge slowly), while the finer passes' FLOPs stay within ``refine_flops``
    (a large network stops sooner, its gaps left in ``delta``).

    Example:
        >>> result = integrated_gradients(model, X.head(50))  # doctest: +SKIP
        >>> result.values.sum(axis=1) + result.baseline_prediction  # ≈ model.predict(X.head(50))
    """
    roles = feature_roles(model)
    network = copy.deepcopy(model.network_).double().eval()
    features = model.preprocessor_.transform(X)
    numeric = torch.tensor(features.numeric, dtype=torch.float64)
    codes = torch.tensor(features.categorical, dtype=torch.long)
    paths = _Paths(
        network,
        numeric,
        codes,
        numeric_owners=numeric_owners(model),
        categorical_names=model.preprocessor_.categorical_names,
    )
    task = model.task_
    scale = task.answer_scale
    with torch.no_grad():
        answers = network.head(network(numeric, codes)).numpy()
        targets = task.attribution_targets(answers)
        predictions = task.explained(answers, targets)
        baselines = tuple(paths.baselines[name] for name in paths.names)
        at_baseline = paths.forward(*baselines).numpy()
        base = task.explained(np.repeat(at_baseline, len(X), axis=0), targets)
        baseline: float | np.ndarray = base if targets is not None else float(at_baseline[0])
    base_of_row = np.broadcast_to(np.asarray(baseline, dtype=np.float64), predictions.shape)

    columns = list(roles)
    position = {name: j for j, name in enumerate(columns)}
    values = np.zeros((len(X), len(columns)))
    rows = np.arange(len(X))
    steps = n_steps
    row_step_flops = 3 * forward_flops(network, {"numeric": numeric[:1], "categorical": codes[:1]})
    spent = 0.0
    while len(rows) and paths.names:
        cost = float(len(rows) * steps * row_step_flops)
        if steps > n_steps and spent + cost > refine_flops:
            break
        spent += cost if steps > n_steps else 0.0
        values[rows] = 0.0
        inputs = tuple(paths.inputs[name][rows] for name in paths.names)
        method = IntegratedGradients(paths.forward)
        method.gradient_func = _summed_gradients
        attributed = method.attribute(
            inputs,
            baselines=baselines,
            target=None if targets is None else torch.as_tensor(targets[rows]),
            n_steps=steps,
            method="riemann_middle",
            internal_batch_size=INTERNAL_BATCH,
        )
        for name, attribution in zip(paths.names, attributed, strict=True):
            owners = [position[owner] for owner in paths.owners[name]]
            block = np.zeros((len(rows), len(columns)))
            np.add.at(block.T, owners, attribution.detach().numpy().T)
            values[rows] += block
        gap = values[rows].sum(axis=1) - (predictions[rows] - base_of_row[rows])
        rows = rows[np.abs(gap) > tolerance * scale]
        steps *= 4
        if steps > MAX_STEPS:
            break
    frame = pd.DataFrame(values, index=X.index, columns=columns)
    delta = values.sum(axis=1) - (predictions - base_of_row)
    return Attributions(
        values=frame, predictions=predictions, baseline_prediction=baseline, delta=delta
    )


def _summed_gradients(
    forward_fn: Callable[..., torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    target_ind: object = None,
    additional_forward_args: object = None,
) -> tuple[torch.Tensor, ...]:
    """Each row's gradient, as the gradient of the rows' sum (rows are independent in eval mode).

    Captum's default takes one gradient per output row, which dominates the time on CPU.
    With a per-row ``target_ind`` (a classifier's predicted classes, expanded by Captum to
    the integration steps), each row's output is that class's.
    """
    with torch.autograd.set_grad_enabled(True):
        outputs = forward_fn(*inputs)
        if outputs.ndim == 2:
            if not isinstance(target_ind, torch.Tensor):
                raise ValueError("a multi-output network needs a target per row")
            outputs = outputs.gather(1, target_ind.reshape(-1, 1).to(outputs.device))
        return torch.autograd.grad(outputs.sum(), inputs)


class _Paths:
    """The network's inputs laid out for integrated gradients, with baselines and owners.

    ``forward(*inputs)`` is the network's answer (in the target's units) from imputed numeric
    values, missing indicators and looked-up embeddings, in the order of ``names``; only the
    non-empty parts are inputs.
    """

    def __init__(
        self,
        network: TabularNetwork,
        numeric: torch.Tensor,
        codes: torch.Tensor,
        *,
        numeric_owners: list[str],
        categorical_names: list[str],
    ) -> None:
        self.network = network
        layer = network.numeric_input
        missing = torch.isnan(numeric)
        indicator_columns = layer.indicator_columns
        owners = numeric_owners
        tables = network.embeddings.tables
        embedding_owners = [
            name
            for name, table in zip(categorical_names, tables, strict=True)
            for _ in range(cast(nn.Embedding, table).embedding_dim)
        ]
        with torch.no_grad():
            empty_codes = torch.zeros((1, codes.shape[1]), dtype=torch.long)
            parts = {
                "numeric": (
                    torch.where(missing, layer.medians.to(numeric.dtype), numeric),
                    layer.medians.to(numeric.dtype).unsqueeze(0),
                    owners,
                ),
                "indicators": (
                    missing.index_select(1, indicator_columns).to(numeric.dtype),
                    torch.zeros((1, indicator_columns.numel()), dtype=numeric.dtype),
                    [owners[int(j)] for j in indicator_columns],
                ),
                "embedded": (
                    network.embeddings(codes).to(numeric.dtype),
                    network.embeddings(empty_codes).to(numeric.dtype),
                    embedding_owners,
                ),
            }
        self.names = [name for name, (values, _, _) in parts.items() if values.shape[1] > 0]
        self.inputs = {name: parts[name][0] for name in self.names}
        self.baselines = {name: parts[name][1] for name in self.names}
        self.owners = {name: parts[name][2] for name in self.names}
        self.widths = {name: int(values.shape[1]) for name, (values, _, _) in parts.items()}

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        given = dict(zip(self.names, tensors, strict=True))
        rows = tensors[0].shape[0] if tensors else 1
        dtype = torch.float64
        blocks = []
        for name in ("numeric", "indicators", "embedded"):
            block = given.get(name)
            if block is None:
                block = torch.zeros((rows, self.widths[name]), dtype=dtype)
            elif name == "numeric":
                # NumericInput on values with no NaN: scaled and clipped, indicators all 0
                block = self.network.numeric_input(block)[:, : self.widths["numeric"]]
            blocks.append(block)
        raw = self.network.backbone(torch.cat(blocks, dim=1)).squeeze(-1)
        output: torch.Tensor = self.network.head(raw)
        return output
