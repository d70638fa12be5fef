"""Decoded images for the training loop: held in memory when they fit, else read per batch.

A store gives uint8 images ``[k, channels, size, size]`` (channels-last in memory, the layout
a CPU convolution is fastest on) for any rows. :class:`MemoryImages` holds every image in one
tensor; :class:`DiskImages` decodes each batch from its files, the next batch on a background
thread while the network trains on this one. :func:`open_store` picks by the decoded size
against :data:`IN_MEMORY_BYTES`. :class:`ImageSource` is the loop's :class:`BatchSource`:
it normalises each batch and, in training, augments it.

Example:
    >>> store = MemoryImages(np.zeros((10, 8, 8, 1), np.uint8))
    >>> tuple(store.take(np.arange(3)).shape)
    (3, 1, 8, 8)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from deepfit.kinds.image.augment import Augmenter
from deepfit.kinds.image.decode import (
    Conversions,
    decode_counted,
    decode_many,
    fit_array,
    header,
    pixel_scale,
)
from deepfit.kinds.image.files import ImageFiles
from deepfit.kinds.image.prepare import ImagePreparer
from deepfit.training.sources import TARGET, Batch

IN_MEMORY_BYTES = 2 * 2**30  # decoded images up to this size are held in memory
EVAL_BATCH = 256
IMAGE = "image"


class ImageStore(Protocol):
    """Decoded images by row."""

    def __len__(self) -> int: ...

    @property
    def mode(self) -> str:
        """``L`` or ``RGB``."""
        ...

    @property
    def size(self) -> int:
        """The images' side in pixels."""
        ...

    def take(self, rows: np.ndarray) -> torch.Tensor:
        """uint8 ``[len(rows), channels, size, size]``."""
        ...


class MemoryImages:
    """Every image decoded, in one uint8 tensor (channels-last)."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def mode(self) -> str:
        return "L" if self.images.shape[1] == 1 else "RGB"

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def take(self, rows: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(rows, dtype=torch.long)]


class DiskImages:
    """Images decoded from their files each time a batch asks for them."""

    def __init__(self, paths: Sequence[Path], *, mode: str, size: int, resize: str) -> None:
        self.paths = list(paths)
        self.mode, self.size, self.resize = mode, size, resize

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, rows: np.ndarray) -> torch.Tensor:
        picked = [self.paths[int(row)] for row in rows]
        images, _ = decode_many(picked, mode=self.mode, size=self.size, resize=self.resize)
        return torch.from_numpy(images).permute(0, 3, 1, 2)


class SubsetImages:
    """Some rows of another store."""

    def __init__(self, store: ImageStore, rows: np.ndarray) -> None:
        self.store, self.rows = store, np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def mode(self) -> str:
        return self.store.mode

    @property
    def size(self) -> int:
        return self.store.size

    def take(self, rows: np.ndarray) -> torch.Tensor:
        return self.store.take(self.rows[np.asarray(rows, dtype=np.int64)])


@dataclass
class OpenedImages:
    """A store and what opening it found."""

    store: ImageStore
    kept: np.ndarray  # positions of the inputs that could be read (all unless skip_bad)
    conversions: Conversions
    in_memory: bool
    names: list[str] = field(default_factory=list)  # each stored image's file (or index)
    target: np.ndarray | None = None
    target_name: str = "target"

    def subset(self, rows: np.ndarray) -> OpenedImages:
        """The images at positions ``rows`` of the store."""
        rows = np.asarray(rows, dtype=np.int64)
        return OpenedImages(
            SubsetImages(self.store, rows),
            self.kept[rows],
            self.conversions,
            self.in_memory,
            [self.names[int(row)] for row in rows],
            None if self.target is None else self.target[rows],
            self.target_name,
        )


def decoded_bytes(n_images: int, size: int, mode: str) -> int:
    return n_images * size * size * (1 if mode == "L" else 3)


def open_store(
    images: ImageFiles | np.ndarray,
    *,
    mode: str,
    size: int,
    resize: str,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> OpenedImages:
    """Decode ``images`` (files, or an array of images) into a store of ``mode`` and
    ``size``: in memory when the decoded images fit :data:`IN_MEMORY_BYTES`, else on disk."""
    conversions = Conversions()
    if isinstance(images, np.ndarray):
        decoded = array_images(images, mode=mode, size=size, resize=resize, conversions=conversions)
        kept = np.arange(len(decoded))
        return OpenedImages(MemoryImages(decoded), kept, conversions, True, [str(i) for i in kept])
    paths = images.paths()
    if decoded_bytes(len(paths), size, mode) <= IN_MEMORY_BYTES:
        decoded, kept = decode_many(
            paths,
            mode=mode,
            size=size,
            resize=resize,
            skip_bad=skip_bad,
            conversions=conversions,
            progress=progress,
        )
        return _named(OpenedImages(MemoryImages(decoded), kept, conversions, True), images)
    kept = _readable(
        paths, mode=mode, size=size, resize=resize, skip_bad=skip_bad, found=conversions
    )
    store = DiskImages([paths[i] for i in kept], mode=mode, size=size, resize=resize)
    return _named(OpenedImages(store, kept, conversions, False), images)


def _readable(
    paths: Sequence[Path], *, mode: str, size: int, resize: str, skip_bad: bool, found: Conversions
) -> np.ndarray:
    """Positions of the files a disk store can use. Without ``skip_bad`` only the headers are
    read now (a file that cannot open is found at once); with it, every file is decoded once,
    so that a file whose pixels are cut short is left out too."""
    from concurrent.futures import ThreadPoolExecutor as Pool

    from deepfit.kinds.image.decode import BadImageError

    def check(path: Path) -> tuple[str, tuple[int, int]] | None:
        try:
            if skip_bad:
                return decode_counted(path, mode=mode, size=size, resize=resize)[1:]
            return header(path)
        except BadImageError:
            if not skip_bad:
                raise
            return None

    good = []
    with Pool(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for index, result in enumerate(pool.map(check, paths)):
            if result is None:
                found.skipped.append(str(paths[index]))
                continue
            found.modes[result[0]] += 1
            found.sizes[result[1]] += 1
            good.append(index)
    return np.asarray(good, dtype=np.int64)


def _named(opened: OpenedImages, files: ImageFiles) -> OpenedImages:
    opened.names = [files.files[int(i)] for i in opened.kept]
    opened.target = None if files.target is None else files.target[opened.kept]
    opened.target_name = files.target_name or opened.target_name
    return opened


def array_images(
    images: np.ndarray,
    *,
    mode: str,
    size: int,
    resize: str,
    conversions: Conversions | None = None,
) -> np.ndarray:
    """An array of images (``[n, H, W]`` or ``[n, H, W, C]``) as uint8 ``[n, size, size, c]``."""
    from deepfit.errors import DataError

    if images.ndim not in (3, 4) or len(images) == 0:
        raise DataError(
            f"image arrays must be [n, height, width] or [n, height, width, channels] with "
            f"n >= 1, however: shape {images.shape}"
        )
    scale = pixel_scale(images)
    out = np.stack(
        [fit_array(image, mode=mode, size=size, resize=resize, scale=scale) for image in images]
    )
    if conversions is not None:
        source = "L" if images.ndim == 3 or images.shape[3] == 1 else "RGB"
        conversions.modes[source] += len(images)
        conversions.sizes[(int(images.shape[2]), int(images.shape[1]))] += len(images)
    return out


class ImageSource:
    """The loop's batches of normalised (and, in training, augmented) images."""

    def __init__(
        self,
        store: ImageStore,
        rows: np.ndarray,
        preparer: ImagePreparer,
        *,
        target: np.ndarray | None = None,
        augmenter: Augmenter | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.store, self.rows, self.preparer = store, np.asarray(rows, dtype=np.int64), preparer
        self.target = None if target is None else torch.as_tensor(target, dtype=torch.float32)
        self.augmenter = augmenter
        self._device = device or torch.device("cpu")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def device(self) -> torch.device:
        return self._device

    def n_batches(self, batch_size: int) -> int:
        rows = len(self.rows)
        return max(1, rows // batch_size) if rows > batch_size else 1

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self.rows), generator=generator).numpy()
        parts = np.array_split(order, self.n_batches(batch_size))
        yield from self._fetched(parts, generator)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        size = max(1, min(batch_size, EVAL_BATCH))
        parts = [
            np.arange(i, min(i + size, len(self.rows))) for i in range(0, len(self.rows), size)
        ]
        yield from self._fetched(parts, None)

    def _fetched(
        self, parts: Sequence[np.ndarray], generator: torch.Generator | None
    ) -> Iterator[Batch]:
        """The batches of ``parts``; from disk, the next one decodes while this one trains."""
        if isinstance(self.store, MemoryImages):
            for part in parts:
                yield self._batch(part, self.store.take(self.rows[part]), generator)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: Future[torch.Tensor] | None = None
            for index, part in enumerate(parts):
                images = (
                    pending.result() if pending is not None else self.store.take(self.rows[part])
                )
                pending = (
                    pool.submit(self.store.take, self.rows[parts[index + 1]])
                    if index + 1 < len(parts)
                    else None
                )
                yield self._batch(part, images, generator)

    def _batch(
        self, part: np.ndarray, images: torch.Tensor, generator: torch.Generator | None
    ) -> Batch:
        pixels = self.preparer.normalise(images.to(self._device, non_blocking=True))
        pixels = pixels.contiguous(memory_format=torch.channels_last)
        if generator is not None and self.augmenter is not None:
            pixels = self.augmenter(pixels, generator)
        batch: Batch = {IMAGE: pixels}
        if self.target is not None:
            batch[TARGET] = self.target[torch.as_tensor(part)].to(self._device)
        return batch
