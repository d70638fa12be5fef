"""What an image model learns about its inputs and target before training, and keeps.

:class:`ImagePreparer` holds the square size, the mode (``L`` or ``RGB``), how images are
resized, each channel's mean and deviation over the training images (in 0..255 units), and
the target's mean and deviation (the network learns the standardised target). It is saved
as JSON in the model file and checked when read back.

Example:
    >>> prep = ImagePreparer(size=28, mode="L").fit(np.zeros((4, 28, 28, 1), np.uint8),
    ...                                             np.arange(4.0))
    >>> prep.channels, prep.target_loc
    (1, 1.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deepfit.kinds.image.decode import MODES, RESIZES

MIN_SIZE, MAX_SIZE = 8, 1024
STAT_CHUNK = 1024


@dataclass
class ImagePreparer:
    """Size, mode, resizing, channel statistics and target scaling of an image model."""

    size: int
    mode: str
    resize: str = "pad"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    target_name: str = "target"
    target_loc: float = 0.0
    target_scale: float = 1.0

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def fit(self, images: np.ndarray, target: np.ndarray) -> ImagePreparer:
        """Learn the channel statistics of ``images`` (uint8 ``[n, size, size, channels]``,
        the training images or a sample of them) and the target's scaling."""
        total = np.zeros(self.channels)
        squares = np.zeros(self.channels)
        for start in range(0, len(images), STAT_CHUNK):
            chunk = images[start : start + STAT_CHUNK].astype(np.float64)
            total += chunk.sum(axis=(0, 1, 2))
            squares += (chunk**2).sum(axis=(0, 1, 2))
        count = max(1, len(images) * self.size * self.size)
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        self.mean = [float(v) for v in mean]
        self.std = [float(v) if v > 1.0 else 1.0 for v in std]  # a flat channel stays as is
        target = np.asarray(target, dtype=np.float64)
        self.target_loc = float(target.mean()) if len(target) else 0.0
        scale = float(target.std()) if len(target) else 1.0
        self.target_scale = scale if scale > 1e-12 else 1.0
        return self

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[n, channels, size, size]`` -> float32, each channel at mean 0 and sd 1."""
        shape = (1, self.channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=images.device).view(shape)
        std = torch.tensor(self.std, dtype=torch.float32, device=images.device).view(shape)
        return (images.float() - mean) / std

    def encode_target(self, target: np.ndarray) -> np.ndarray:
        return (np.asarray(target, dtype=np.float64) - self.target_loc) / self.target_scale

    def decode_target(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype=np.float64) * self.target_scale + self.target_loc

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "mode": self.mode,
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "target_name": self.target_name,
            "target_loc": self.target_loc,
            "target_scale": self.target_scale,
        }

    @classmethod
    def from_dict(cls, document: Any) -> ImagePreparer:
        """The preparer :meth:`to_dict` wrote; a ValueError naming what is malformed."""
        if not isinstance(document, dict):
            raise ValueError("the image preprocessing is not an object")
        size, mode, resize = document.get("size"), document.get("mode"), document.get("resize")
        if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"image size must be an integer in {MIN_SIZE}..{MAX_SIZE}")
        if mode not in MODES or resize not in RESIZES:
            raise ValueError("image mode or resize is unknown")
        channels = 1 if mode == "L" else 3
        mean, std = document.get("mean"), document.get("std")
        for name, values in (("mean", mean), ("std", std)):
            if (
                not isinstance(values, list)
                or len(values) != channels
                or not all(_finite(v) for v in values)
            ):
                raise ValueError(f"image {name} must be {channels} finite numbers")
        assert isinstance(mean, list)
        assert isinstance(std, list)
        if any(v <= 0 for v in std):
            raise ValueError("image std must be positive")
        loc, scale = document.get("target_loc"), document.get("target_scale")
        if not _finite(loc) or not _finite(scale):
            raise ValueError("target scaling must be finite")
        if float(scale) <= 0:  # type: ignore[arg-type]
            raise ValueError("target scale must be positive")
        target_name = document.get("target_name")
        if not isinstance(target_name, str) or not target_name or len(target_name) > 200:
            raise ValueError("target name must be a short string")
        return cls(
            size,
            str(mode),
            str(resize),
            [float(v) for v in mean],
            [float(v) for v in std],
            target_name,
            float(loc),  # type: ignore[arg-type]
            float(scale),  # type: ignore[arg-type]
        )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
