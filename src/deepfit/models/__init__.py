"""Pure ``nn.Module`` building blocks and the registry of tabular networks."""

from deepfit.models.registry import MODELS, build_network

__all__ = ["MODELS", "build_network"]
