"""Decode image files with Pillow into uint8 arrays of one mode and one square size.

Each image is converted to the run's mode (``L``: grayscale, ``RGB``) and resized keeping its
aspect ratio, then padded with black (``resize="pad"``: nothing is lost, so a count stays true)
or centre-cropped (``"crop"``: no border, the edges are lost) to ``size`` x ``size``. A JPEG
is drafted at the nearest larger scale first, which makes decoding a large photo several
times faster; the EXIF orientation is applied, as a photo viewer would.

A hostile file costs bounded memory and time: the pixel count is checked from the header
before anything is decoded.

Example:
    >>> decode_file("photos/a.png", mode="RGB", size=64).shape  # doctest: +SKIP
    (64, 64, 3)
"""

from __future__ import annotations

import io
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deepfit.errors import ConfigError, DataError, brief

MODES = ("L", "RGB")
RESIZES = ("pad", "crop")
MAX_PIXELS = 50_000_000  # a larger image is refused before it is decoded
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "MPO", "GIF", "WEBP")  # what a file may really hold
FORMAT_NAMES = "PNG, JPEG, BMP, TIFF, GIF or WebP"  # GIF and WebP: the first frame
_GRAY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_SIXTEEN_BIT = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


class BadImageError(DataError):
    """An image file that cannot be decoded."""


@dataclass
class Conversions:
    """What decoding did to the images: their original modes and sizes, and skipped files."""

    modes: Counter[str] = field(default_factory=Counter)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)

    def describe(self, mode: str, size: int) -> str:
        """One line, e.g. ``500 images: 480 RGB, 20 L -> RGB; 500 of 28x28 -> 28x28``."""
        total = sum(self.modes.values())
        modes = ", ".join(f"{n} {m}" for m, n in self.modes.most_common(3))
        shapes = ", ".join(f"{n} of {w}x{h}" for (w, h), n in self.sizes.most_common(3))
        more = " and others" if len(self.sizes) > 3 else ""
        line = f"{total} images: {modes} -> {mode}; {shapes}{more} -> {size}x{size}"
        if self.skipped:
            line += f"; skipped {len(self.skipped)} unreadable (first: {self.skipped[0]})"
        return line


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"image mode must be one of {', '.join(MODES)}, however: {mode!r}")
    return mode


def check_resize(resize: str) -> str:
    if resize not in RESIZES:
        raise ConfigError(f"resize must be one of {', '.join(RESIZES)}, however: {resize!r}")
    return resize


def target_mode(source_mode: str) -> str:
    """The run mode an image of ``source_mode`` is closest to: ``L`` or ``RGB``."""
    return "L" if source_mode in _GRAY else "RGB"


def header(path: Path) -> tuple[str, tuple[int, int]]:
    """An image's mode and (width, height) from its header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            _check_header(image, path)
            return image.mode, image.size
    except BadImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise _bad(path, error) from error
    except Image.DecompressionBombError as error:
        raise _bad(path, error) from error


@dataclass(frozen=True)
class Survey:
    """What the headers of a set of images say: the run mode most of them are closest to
    (``L`` or ``RGB``; ties go to RGB) and the median of their shorter sides."""

    mode: str
    median_side: int


def survey(paths: Sequence[Path], *, skip_bad: bool = False) -> Survey:
    """One pass over the images' headers (no pixels decoded); an unreadable file stops it
    unless ``skip_bad``."""
    votes: Counter[str] = Counter()
    sides = []
    for path in paths:
        try:
            mode, (width, height) = header(path)
        except BadImageError:
            if not skip_bad:
                raise
            continue
        votes[target_mode(mode)] += 1
        sides.append(min(width, height))
    if not votes:
        raise DataError("no image could be read; check the files or the folder")
    return Survey("L" if votes["L"] > votes["RGB"] else "RGB", int(np.median(sides)))


def majority_mode(paths: Sequence[Path], *, skip_bad: bool = False) -> str:
    """``L`` when most images are grayscale, else ``RGB`` (ties go to RGB)."""
    return survey(paths, skip_bad=skip_bad).mode


def median_side(paths: Sequence[Path]) -> int:
    """The median of the shorter side over the readable images (0 when none is)."""
    try:
        return survey(paths, skip_bad=True).median_side
    except DataError:
        return 0


def decode_file(path: Path, *, mode: str, size: int, resize: str = "pad") -> np.ndarray:
    """One image file as a uint8 array ``[size, size, channels]`` in ``mode``."""
    return decode_counted(path, mode=mode, size=size, resize=resize)[0]


def decode_bytes(data: bytes, name: str, *, mode: str, size: int, resize: str) -> np.ndarray:
    """An image file's bytes (e.g. an upload named ``name``) as :func:`decode_file` makes it;
    a :class:`BadImageError` naming the upload when they are not a readable image."""
    try:
        return decode_counted(io.BytesIO(data), mode=mode, size=size, resize=resize, name=name)[0]
    except BadImageError as error:
        reason = str((error.__cause__ and brief(error.__cause__)) or "").split(" <_io.")[0]
        raise BadImageError(
            f"image {name!r} is not a readable {FORMAT_NAMES} file"
            + (f" ({reason})" if reason and "BytesIO" not in reason else "")
            + "; send the file's bytes unchanged"
        ) from None


def decode_counted(
    path: Path | IO[bytes], *, mode: str, size: int, resize: str = "pad", name: str = ""
) -> tuple[np.ndarray, str, tuple[int, int]]:
    """:func:`decode_file`, with the image's original mode and size."""
    shown = name or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on odd EXIF and palettes
            with Image.open(path) as image:
                _check_header(image, shown)
                original = (image.mode, image.size)
                if image.format == "JPEG":
                    image.draft("L" if mode == "L" else "RGB", (size, size))
                image.load()
                return fit_image(image, mode=mode, size=size, resize=resize), *original
    except BadImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise _bad(shown, error) from error
    except Image.DecompressionBombError as error:
        raise _bad(shown, error) from error


def fit_image(image: Image.Image, *, mode: str, size: int, resize: str = "pad") -> np.ndarray:
    """A decoded Pillow image converted to ``mode`` and resized to ``size`` x ``size``."""
    image = ImageOps.exif_transpose(image)
    image = _convert(image, mode)
    if image.size != (size, size):
        if resize == "crop":
            image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
        else:
            image = ImageOps.pad(image, (size, size), Image.Resampling.BILINEAR, color=0)
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def pixel_scale(images: np.ndarray) -> float:
    """What pixels of an array of images are multiplied by to be 0..255: 255 when every value
    is within 0..1 (floats in 0..1), else 1; decided once for the whole array."""
    if images.dtype == np.uint8:
        return 1.0
    values = np.asarray(images, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError("an image array holds NaN or infinite values; give uint8 pixels")
    return 255.0 if values.size and values.min() >= 0.0 and values.max() <= 1.0 else 1.0


def fit_array(
    array: np.ndarray, *, mode: str, size: int, resize: str = "pad", scale: float | None = None
) -> np.ndarray:
    """One image given as an array (``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or
    ``[H, W, 4]``; uint8, or numbers scaled to 0..255 by ``scale``, by default
    :func:`pixel_scale` of this image) as :func:`fit_image` makes it."""
    if array.dtype != np.uint8:
        factor = pixel_scale(array) if scale is None else scale
        values = np.asarray(array, dtype=np.float64)
        array = np.clip(np.round(values * factor), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise DataError(
            f"an image array has shape {array.shape}; give [height, width] (grayscale) or "
            "[height, width, 3] (RGB)"
        )
    return fit_image(Image.fromarray(array), mode=mode, size=size, resize=resize)


def decode_many(
    paths: Sequence[Path],
    *,
    mode: str,
    size: int,
    resize: str = "pad",
    skip_bad: bool = False,
    conversions: Conversions | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``paths`` on a few threads (Pillow decodes without the GIL) into one uint8
    array ``[n, size, size, channels]``, and the positions of the files that decoded (all of
    them unless ``skip_bad``)."""
    channels = 1 if mode == "L" else 3
    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)
    good = np.ones(len(paths), dtype=bool)

    def one(index: int) -> None:
        try:
            out[index], original_mode, original_size = decode_counted(
                paths[index], mode=mode, size=size, resize=resize
            )
        except BadImageError:
            if not skip_bad:
                raise
            good[index] = False
            if conversions is not None:
                conversions.skipped.append(str(paths[index]))
            return
        if conversions is not None:
            conversions.modes[original_mode] += 1
            conversions.sizes[original_size] += 1

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(one, range(len(paths))), start=1):
            if progress is not None and done % 256 == 0:
                progress(done)
    kept = np.flatnonzero(good)
    if conversions is not None:
        conversions.skipped.sort()
    return (out if len(kept) == len(paths) else out[kept]), kept


def _convert(image: Image.Image, mode: str) -> Image.Image:
    if image.mode in _SIXTEEN_BIT:  # 16- and 32-bit integers: 0..65535 becomes 0..255
        values = np.asarray(image, dtype=np.float64)
        if image.mode != "I" or values.max(initial=0.0) > 255:  # a 32-bit image of 8-bit
            values = values / 257.0  # values (a TIFF written from 0..255) keeps them
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
        image = Image.fromarray(np.clip(np.nan_to_num(values * scale), 0, 255).astype(np.uint8))
    elif image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):  # transparent pixels become black, as the padding is
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == mode else image.convert(mode)


def _check_header(image: Image.Image, path: Path | str) -> None:
    if image.format not in FORMATS:
        raise BadImageError(
            f"{path} holds {image.format or 'an unknown'} data, not {FORMAT_NAMES}; "
            "convert it, remove it, or pass --skip-bad"
        )
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise BadImageError(
            f"{path} is {width}x{height} pixels, outside 1 to {MAX_PIXELS:,} pixels; "
            "shrink it, remove it, or pass --skip-bad"
        )


def _bad(path: Path | str, error: BaseException) -> BadImageError:
    return BadImageError(
        f"{path} is not a readable image ({brief(error)}); replace or remove it, "
        "or pass --skip-bad to leave such files out"
    )
