"""The raw feature columns a model reads, with their roles; shared by the explanations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from deepfit.estimator.base import Estimator


def feature_roles(model: Estimator) -> dict[str, str]:
    """Each raw feature column the model reads (dropped ones left out), in order, to its role.

    Example:
        >>> feature_roles(model)  # doctest: +SKIP
        {'x1': 'numeric', 'colour': 'categorical', 'day': 'datetime'}
    """
    schema = model.preprocessor_.schema
    return {column.name: column.role for column in schema.columns if column.role != "drop"}


def numeric_owners(model: Estimator) -> list[str]:
    """For each prepared numeric input (``preprocessor_.numeric_names``), its raw column.

    Numeric and boolean columns are one input each; a date column is one input per part
    (``day.year``, ``day.month``, ...), all owned by the date column.
    """
    prep = model.preprocessor_
    owners: list[str] = []
    for column in prep.schema.columns:
        if column.role in {"numeric", "boolean"}:
            owners.append(column.name)
        elif column.role == "datetime":
            owners.extend([column.name] * len(prep.date_parts.get(column.name, [])))
    if len(owners) != len(prep.numeric_names):
        raise ValueError("the model's numeric inputs do not match its schema")
    return owners


def sample_rows(n_rows: int, rows: int, seed: int) -> np.ndarray:
    """At most ``rows`` row positions out of ``n_rows``, drawn without replacement, sorted."""
    if n_rows <= rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=rows, replace=False))
