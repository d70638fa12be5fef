"""Tiny settings for the study tests: every run trains in a fraction of a second."""

from __future__ import annotations

from typing import Any

TINY: dict[str, Any] = {"model": "mlp", "hidden_layers": (8,), "max_epochs": 3, "batch_size": 32}
