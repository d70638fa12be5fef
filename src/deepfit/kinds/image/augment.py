"""Augmentation of a training batch of images, on its device, seeded, one draw per batch.

Every transform acts on a normalised batch ``[B, C, H, W]`` (each channel of the training
images has mean 0 and standard deviation 1) and draws its random numbers for the whole batch
at once from a CPU :class:`torch.Generator`, so a seed gives the same batch on any device.
They run in the order of :data:`AUGMENTATIONS`:

- ``flip``: mirrors a random half of the batch left to right (each image by a coin toss).
- ``vflip``: mirrors a random half of the batch top to bottom.
- ``shift``: moves each image by whole pixels, up to ``shift`` of its width across and of its
  height down or up, repeating the edge pixels into the uncovered border.
- ``brightness``: adds to each image one offset drawn in ``±brightness`` standard deviations.
- ``contrast``: scales each image's deviation from its own mean (per channel) by a factor
  drawn in ``[1 - contrast, 1 + contrast]``; the means stay as they were.
- ``crop``: cuts from each image a square-proportioned window keeping between ``crop`` and
  all of each side (the same share of both, so shapes are not stretched), at a random place,
  and resizes it back to ``H x W`` by bilinear interpolation.

None is on by default, since each can make the target false; pick those that keep yours:

- ``flip`` / ``vflip`` keep a count, a size, an age, an area, a brightness; they break a
  signed angle, a direction, anything about left and right (or top and bottom).
- ``shift`` keeps what ``flip`` keeps, and a signed angle; it breaks a position, and a count
  when objects touch the border.
- ``brightness`` / ``contrast`` keep shapes, counts, positions and angles; they break a
  target about light: an exposure, a colour, a density read from grey levels.
- ``crop`` keeps a class-like quality of the whole picture; it breaks a count, a position
  and an absolute size (it zooms in).

Example:
    >>> augment = Augmenter(["flip", "brightness"], brightness=0.1)
    >>> images = torch.zeros(4, 3, 28, 28)
    >>> out = augment(images, torch.Generator().manual_seed(0))
    >>> out.shape, bool((out.mean(dim=(1, 2, 3)).abs() <= 0.1).all())
    (torch.Size([4, 3, 28, 28]), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn import functional

from deepfit.errors import ConfigError

AUGMENTATIONS = ("flip", "vflip", "shift", "brightness", "contrast", "crop")
"""Every transform, in the order they are applied."""

DEFAULTS: dict[str, float] = {"shift": 0.1, "brightness": 0.2, "contrast": 0.2, "crop": 0.8}
"""The strength of each transform that has one."""

RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "shift": (lambda value: 0.0 <= value < 1.0, "at least 0 and below 1"),
    "brightness": (lambda value: 0.0 <= value < math.inf, "a finite number, at least 0"),
    "contrast": (lambda value: 0.0 <= value <= 1.0, "between 0 and 1"),
    "crop": (lambda value: 0.0 < value <= 1.0, "above 0 and at most 1"),
}
"""Whether a strength is in range, and the range in words."""


def check_augment(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` checked, without repeats, in the order of :data:`AUGMENTATIONS`; a
    :class:`~deepfit.errors.ConfigError` names the first unknown one and the choices."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(
            f"augment must be a list of names, got {names!r}; choose from {list(AUGMENTATIONS)}"
        )
    for name in names:
        if name not in AUGMENTATIONS:
            raise ConfigError(f"unknown augmentation {name!r}; choose from {list(AUGMENTATIONS)}")
    return tuple(name for name in AUGMENTATIONS if name in names)


def check_strengths(strengths: dict[str, float]) -> None:
    """A :class:`~deepfit.errors.ConfigError` for any strength that is not a number in its
    range (see :data:`RANGES`)."""
    for name, value in strengths.items():
        within, expected = RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not within(value):
            raise ConfigError(f"augment {name} must be {expected}, got {value!r}")


class Augmenter:
    """The transforms ``names`` (see :data:`AUGMENTATIONS`) with their strengths; called on a
    normalised batch with a CPU generator, it returns a new, augmented batch."""

    def __init__(
        self,
        names: Sequence[str],
        *,
        shift: float = DEFAULTS["shift"],
        brightness: float = DEFAULTS["brightness"],
        contrast: float = DEFAULTS["contrast"],
        crop: float = DEFAULTS["crop"],
    ) -> None:
        check_strengths(
            {"shift": shift, "brightness": brightness, "contrast": contrast, "crop": crop}
        )
        self._names = check_augment(names)
        self.shift, self.brightness = float(shift), float(brightness)
        self.contrast, self.crop = float(contrast), float(crop)

    @property
    def names(self) -> tuple[str, ...]:
        """The transforms applied, in order."""
        return self._names

    def __repr__(self) -> str:
        return f"Augmenter({list(self._names)!r}, {self._strengths()})"

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images`` augmented; ``images`` itself, untouched, when no transform is chosen."""
        if not self._names:
            return images
        _check_batch(images, generator)
        if not images.shape[0]:
            return images.clone()
        out = images
        for name in self._names:
            out = self._apply(name, out, generator)
        return out

    def _apply(self, name: str, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images`` after the transform ``name``, its numbers drawn from ``generator``."""
        count = images.shape[0]
        if name in ("flip", "vflip"):
            chosen = torch.rand(count, generator=generator) < 0.5
            return flipped(images, chosen.to(images.device), dim=-1 if name == "flip" else -2)
        if name == "shift":
            most_x = int(self.shift * images.shape[-1])
            most_y = int(self.shift * images.shape[-2])
            dx = torch.randint(-most_x, most_x + 1, (count,), generator=generator)
            dy = torch.randint(-most_y, most_y + 1, (count,), generator=generator)
            return shifted(images, dx.to(images.device), dy.to(images.device))
        if name == "brightness":
            offset = _uniform(count, self.brightness, generator)
            return brightened(images, offset.to(images.device, images.dtype))
        if name == "contrast":
            factor = 1.0 + _uniform(count, self.contrast, generator)
            return contrasted(images, factor.to(images.device, images.dtype))
        side = self.crop + (1.0 - self.crop) * torch.rand(count, generator=generator)
        centre = (1.0 - side)[:, None] * _uniform((count, 2), 1.0, generator)
        return cropped(images, side.to(images.device), centre.to(images.device))

    def _strengths(self) -> dict[str, float]:
        return {
            "shift": self.shift,
            "brightness": self.brightness,
            "contrast": self.contrast,
            "crop": self.crop,
        }

    def to_dict(self) -> dict[str, Any]:
        """The setting as JSON, for the model file."""
        return {"names": list(self._names), **self._strengths()}

    @classmethod
    def from_dict(cls, document: Any) -> Augmenter:
        """:meth:`to_dict` reversed; a malformed document raises ``ValueError``."""
        if not isinstance(document, dict):
            raise ValueError("augment setting is not an object")
        expected = {"names", *DEFAULTS}
        if set(document) != expected:
            raise ValueError(
                f"augment setting has keys {sorted(document)}, expected {sorted(expected)}"
            )
        names = document["names"]
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError("augment names are not a list of strings")
        strengths = {key: document[key] for key in DEFAULTS}
        return cls(names, **strengths)


def flipped(images: torch.Tensor, chosen: torch.Tensor, *, dim: int) -> torch.Tensor:
    """``images`` with those where ``chosen`` (``[B]`` booleans) reversed along ``dim``."""
    return torch.where(chosen[:, None, None, None], images.flip(dim), images)


def shifted(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Each image moved ``dx`` pixels right and ``dy`` pixels down (``[B]`` integers; negative
    moves left or up), the edge pixels repeated into the border left uncovered."""
    count, channels, height, width = images.shape
    rows = torch.arange(height, device=images.device)[None, :] - dy[:, None]
    cols = torch.arange(width, device=images.device)[None, :] - dx[:, None]
    rows = rows.clamp(0, height - 1)[:, None, :, None].expand(count, channels, height, width)
    cols = cols.clamp(0, width - 1)[:, None, None, :].expand(count, channels, height, width)
    return images.gather(2, rows).gather(3, cols)


def brightened(images: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Each image plus its ``offset`` (``[B]``, in standard deviations)."""
    return images + offset[:, None, None, None]


def contrasted(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each image's deviation from its own mean, per channel, times its ``factor`` (``[B]``)."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    return mean + (images - mean) * factor[:, None, None, None]


def cropped(images: torch.Tensor, side: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """The window of each image ``side`` (``[B]``, a share of each side) wide and high around
    ``centre`` (``[B, 2]``, x then y, from -1 to 1 across the image), resized to the image."""
    theta = torch.zeros(images.shape[0], 2, 3, device=images.device)
    theta[:, 0, 0] = side
    theta[:, 1, 1] = side
    theta[:, :, 2] = centre
    grid = functional.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return functional.grid_sample(
        images, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


def _uniform(
    shape: int | tuple[int, ...], bound: float, generator: torch.Generator
) -> torch.Tensor:
    """Numbers drawn uniformly in ``[-bound, bound]`` on the CPU."""
    size = (shape,) if isinstance(shape, int) else shape
    return (2.0 * torch.rand(size, generator=generator) - 1.0) * bound


def _check_batch(images: torch.Tensor, generator: torch.Generator) -> None:
    """A ``ValueError`` unless ``images`` is a float ``[B, C, H, W]`` batch and ``generator``
    draws on the CPU."""
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"augment needs a float batch [B, C, H, W], got {images.dtype} {list(images.shape)}"
        )
    if generator.device.type != "cpu":
        raise ValueError(f"augment needs a CPU generator, got one on {generator.device}")
