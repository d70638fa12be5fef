"""Fine-tuning (``init_from``): start from a saved model's preprocessing, encoding and weights.

Example:
    >>> tuned = Regressor(init_from="old.deepfit", train_last=1)  # doctest: +SKIP
    >>> tuned.fit(X_new, y_new).save("tuned.deepfit")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from torch import nn

from deepfit.artifact import SavedModel
from deepfit.data.schema import Schema, infer_schema
from deepfit.errors import ConfigError, DataError


def schema_changes(frame: pd.DataFrame, schema: Schema, roles: dict[str, str] | None) -> list[str]:
    """How ``frame``'s feature columns differ from ``schema``'s: columns the model needs
    that are gone, new columns, and columns whose inferred role differs (empty: none)."""
    known = {column.name: column.role for column in schema.columns}
    missing = [name for name in schema.feature_names if name not in frame.columns]
    extra = [str(name) for name in frame.columns if name not in known]
    changes = []
    if missing:
        changes.append("it lacks " + ", ".join(f"'{name}'" for name in missing))
    if extra:
        changes.append("it has new column(s) " + ", ".join(f"'{name}'" for name in extra))
    if changes:
        return changes
    inferred = {c.name: c for c in infer_schema(frame, roles=roles, target=None).columns}
    for name in schema.feature_names:
        now = inferred[name]
        auto_dropped = now.role == "drop" and now.reason != "chosen by the user"
        if now.role != known[name] and not auto_dropped:
            changes.append(f"'{name}' is {now.role}, not {known[name]}")
    return changes


def check_same_columns(
    frame: pd.DataFrame, schema: Schema, roles: dict[str, str] | None, source: str
) -> None:
    """Refuse data whose feature columns or roles differ from the model being fine-tuned."""
    problems = schema_changes(frame, schema, roles)
    if problems:
        raise DataError(
            f"the data does not match the model in {source}: {'; '.join(problems)}; "
            "fine-tuning needs its feature columns with the same roles, so make the data match "
            "(or set the roles), or train from scratch without init_from (--init-from)"
        )


def check_base(base: SavedModel, path: Any, task: str) -> None:
    """Refuse a saved model that fine-tuning cannot start from."""
    if base.task.name != task:
        raise ConfigError(
            f"{path} is a {base.task.name} model, but this estimator does {task}; fine-tune "
            f"it with the {base.task.name} estimator (or --task {base.task.name})"
        )
    if int(base.settings.get("n_ensemble", 1)) > 1:
        raise ConfigError(
            f"{path} holds an ensemble; fine-tuning takes a single network, "
            "so train a new ensemble instead of passing init_from (--init-from)"
        )


def train_only_last(network: nn.Module, count: int) -> None:
    """Freeze every parameter except those of the last ``count`` linear layers."""
    linear = [module for module in network.modules() if isinstance(module, nn.Linear)]
    if count > len(linear):
        raise ConfigError(
            f"train_last={count}, but the network has {len(linear)} linear layer(s); "
            f"choose 1 to {len(linear)}, or None to train everything"
        )
    network.requires_grad_(False)
    for layer in linear[-count:]:
        layer.requires_grad_(True)
