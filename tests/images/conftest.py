"""Small, seeded, labelled image folders and arrays for the image tests, written with Pillow.

Each picture is 16 x 16 pixels of dark noise with 0 to 4 bright 3 x 3 squares; the target
``count`` is the number of squares. Two in three files are grayscale PNG, one in three an RGB
JPEG, and the last one sits in a subfolder. Beside the images lie a hidden image and a text
file, which a folder scan must pass over.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfit import ImageRegressor

SIDE = 16
N_IMAGES = 60
SLOTS = [(row, col) for row in (1, 5, 9, 13) for col in (1, 5, 9, 13)]  # 16 places a square fits
FAST: dict[str, Any] = {"model": "cnn", "width": 4, "max_epochs": 2, "time_limit": None}


class LabelledFolder(NamedTuple):
    """A folder of images, its labels table (beside it), and what the table says."""

    root: Path
    labels: Path
    files: list[str]  # relative POSIX paths, in the table's order
    counts: np.ndarray


def count_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images ``[n, 16, 16]`` of noise with 0..4 bright squares, and the counts."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, n)
    images = rng.integers(0, 40, (n, SIDE, SIDE)).astype(np.uint8)
    for image, count in zip(images, counts, strict=True):
        for slot in rng.choice(len(SLOTS), count, replace=False):
            row, col = SLOTS[slot]
            image[row : row + 3, col : col + 3] = 230
    return images, counts.astype(np.float64)


def write_count_folder(base: Path, n: int = N_IMAGES, seed: int = 0) -> LabelledFolder:
    """``n`` count images under ``base / "images"`` and ``base / "labels.csv"`` (file, count)."""
    root = base / "images"
    (root / "sub").mkdir(parents=True)
    images, counts = count_images(n, seed)
    files = []
    for index, pixels in enumerate(images):
        name = f"img_{index:03d}.{'jpg' if index % 3 == 0 else 'png'}"
        if index == n - 1:
            name = f"sub/{name}"
        image = Image.fromarray(pixels, "L")
        if name.endswith(".jpg"):
            image.convert("RGB").save(root / name, quality=95)
        else:
            image.save(root / name)
        files.append(name)
    Image.fromarray(images[0], "L").save(root / ".hidden.png")
    (root / "notes.txt").write_text("not an image\n")
    labels = base / "labels.csv"
    pd.DataFrame({"file": files, "count": counts}).to_csv(labels, index=False)
    return LabelledFolder(root, labels, files, counts)


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels (its CRC fixed up)."""
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    chunk = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = chunk
    data[29:33] = struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    return bytes(data)


@pytest.fixture
def count_folder(tmp_path: Path) -> LabelledFolder:
    """A fresh labelled folder of 60 images, for a test that changes it."""
    return write_count_folder(tmp_path)


@pytest.fixture(scope="session")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> LabelledFolder:
    """A labelled folder of 60 images shared by the session; do not change it."""
    return write_count_folder(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def count_arrays() -> tuple[np.ndarray, np.ndarray]:
    """60 count images as a uint8 array ``[60, 16, 16]``, and their counts."""
    return count_images(N_IMAGES, seed=1)


@pytest.fixture
def fast() -> dict[str, Any]:
    """Parameters that train a tiny network for two epochs, with no time limit."""
    return dict(FAST)


@pytest.fixture
def png_bytes() -> Callable[..., bytes]:
    """A function making the bytes of a PNG of a uint8 array (or of a count image)."""

    def make(pixels: np.ndarray | None = None, seed: int = 0) -> bytes:
        if pixels is None:
            pixels = count_images(1, seed)[0][0]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        return buffer.getvalue()

    return make


@pytest.fixture(scope="session")
def image_model(shared_folder: LabelledFolder) -> ImageRegressor:
    """A tiny network fitted once on ``shared_folder``; do not change it in a test."""
    model = ImageRegressor(**FAST)
    return model.fit(shared_folder.root, labels=shared_folder.labels, target="count")
