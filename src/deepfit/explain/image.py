"""``explain_images``: which pixels an image model's predictions rest on.

Integrated gradients (Captum's :class:`~captum.attr.IntegratedGradients`) attributes each
explained image's prediction to its pixels, along the straight path from the baseline, the
image of the training images' mean pixels (all zeros after normalisation), to the image.
Each image gets one PNG: the image, and beside it the same image under a heat map of the
absolute attribution summed over the colour channels. ``saliency.csv`` sums the maps up: the
share of the absolute attribution that falls in the image's centre (the middle half of each
side, :data:`CENTRE_AREA` of the pixels) and on the border around it. A share well above
:data:`CENTRE_AREA` means the model looks at the middle of its images.

At most ``count`` images (no more than :data:`MAX_COUNT`) go through integrated gradients,
in chunks of at most :data:`INTERNAL_PIXELS` input values per forward pass.

Example:
    >>> model = ImageRegressor().fit("photos/", labels="labels.csv",
    ...                              target="count")  # doctest: +SKIP
    >>> opened = model.open_for_prediction(read_labelled("test/", "test.csv",
    ...                                                  target="count"))  # doctest: +SKIP
    >>> explain_images(model, opened, "why", count=4)  # doctest: +SKIP
    [PosixPath('why/ig_01_img_003.png'), ..., PosixPath('why/saliency.csv')]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients
from matplotlib.figure import Figure

from deepfit.errors import ConfigError, DataError
from deepfit.explain.attributions import _summed_gradients
from deepfit.explain.columns import sample_rows
from deepfit.explain.explanation import check_folder
from deepfit.explain.plots import png_bytes
from deepfit.files import atomic_writer

if TYPE_CHECKING:
    from deepfit.estimator.image_regressor import ImageRegressor
    from deepfit.kinds.image.source import OpenedImages

MAX_COUNT = 64  # images through integrated gradients at most, whatever count asks
N_STEPS = 32
INTERNAL_PIXELS = 2**22  # input values per forward pass of the integration (16 MiB of float32)
CENTRE_AREA = 0.25  # the centre is the middle half of each side: a quarter of the pixels
HEAT_MAP = "inferno"
SALIENCY = "saliency.csv"


def explain_images(
    model: ImageRegressor,
    opened: OpenedImages,
    out_dir: str | Path,
    *,
    count: int = 8,
    seed: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Attribute ``count`` images' predictions to their pixels and write what was found.

    ``opened`` holds the images (from :meth:`ImageRegressor.open_for_prediction`), labelled
    or not; ``count`` of them (at most :data:`MAX_COUNT`) are drawn with ``seed``. Into
    ``out_dir`` (new or empty, unless ``overwrite``) go one ``ig_<nn>_<file>.png`` per image
    and ``saliency.csv``: ``file``, ``true`` (empty when unlabelled), ``predicted``,
    ``centre_share``, ``border_share`` and the ``overlay`` file, one row per image. Each file
    is written atomically; returns the paths, the PNGs first.
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ConfigError(f"count must be a whole number >= 1, however: {count!r}")
    directory = Path(out_dir)
    check_folder(directory, overwrite=overwrite)
    fit = model.check_fitted()
    n_images = len(opened.store)
    if n_images == 0:
        raise DataError("there are no images to explain")
    rows = sample_rows(n_images, min(int(count), MAX_COUNT), seed)
    pixels = opened.store.take(rows)
    predicted = model.predict_opened(opened.subset(rows))
    heat = _attributions(fit.network, fit.preparer.normalise(pixels)).abs().sum(dim=1)
    maps = heat.double().cpu().numpy()
    truth = None if opened.target is None else np.asarray(opened.target, dtype=np.float64)[rows]
    names = [opened.names[int(row)] if opened.names else str(int(row)) for row in rows]

    written: list[Path] = []
    records: list[dict[str, Any]] = []
    for index, (name, row_map) in enumerate(zip(names, maps, strict=True)):
        true = None if truth is None else float(truth[index])
        title = caption(true, float(predicted[index]))
        file_name = overlay_name(index, name)
        figure = overlay_figure(pixels[index].cpu().numpy(), row_map, title=title)
        written.append(_write(directory / file_name, png_bytes(figure), overwrite))
        centre = centre_share(row_map)
        records.append(
            {
                "file": name,
                "true": np.nan if true is None else true,
                "predicted": float(predicted[index]),
                "centre_share": centre,
                "border_share": np.nan if np.isnan(centre) else 1.0 - centre,
                "overlay": file_name,
            }
        )
    table = pd.DataFrame(records).to_csv(index=False).encode("utf-8")
    written.append(_write(directory / SALIENCY, table, overwrite))
    return written


def _attributions(network: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Integrated gradients of the network's (standardised) output for each image, from the
    all-zero (mean-pixel) baseline, shaped like ``images``."""
    device = next(iter(network.parameters())).device
    images = images.to(device)
    per_image = int(np.prod(images.shape[1:]))
    internal = max(1, INTERNAL_PIXELS // per_image)  # integration rows per forward pass
    chunk = max(1, internal // N_STEPS)  # images per call, their steps within ``internal``

    def forward(image: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = network(image=image)
        return output

    was_training = network.training
    network.eval()  # batch norm on running statistics: each row its own
    try:
        method = IntegratedGradients(forward)
        method.gradient_func = _summed_gradients
        parts = []
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            attributed = method.attribute(
                part,
                baselines=torch.zeros_like(part),
                n_steps=N_STEPS,
                method="riemann_middle",
                internal_batch_size=max(internal, len(part)),
            )
            parts.append(attributed.detach())
        return torch.cat(parts)
    finally:
        network.train(was_training)


def centre_share(heat: np.ndarray) -> float:
    """The share of ``heat`` (``[H, W]``, non-negative) in the middle half of each side;
    NaN when the map is all zero.

    Example:
        >>> centre_share(np.ones((8, 8)))
        0.25
    """
    height, width = heat.shape
    total = float(heat.sum())
    if total <= 0 or not np.isfinite(total):
        return float("nan")
    top, left = height // 4, width // 4
    inner = heat[top : top + height // 2, left : left + width // 2]
    return float(inner.sum()) / total


def caption(true: float | None, predicted: float) -> str:
    """``"true 3 · pred 3.41"`` (or ``"pred 3.41"`` for an unlabelled image).

    Example:
        >>> caption(3.0, 3.4123), caption(None, 1234.5)
        ('true 3 · pred 3.41', 'pred 1234')
    """
    shown = f"pred {short_number(predicted)}"
    return shown if true is None else f"true {short_number(true)} · {shown}"


def short_number(value: float) -> str:
    """Three significant digits, but whole numbers from 1000 on (no exponent)."""
    if not np.isfinite(value):
        return str(value)
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def overlay_name(index: int, name: str) -> str:
    """A safe, distinct PNG name for the ``index``-th explained image (from its file)."""
    stem = Path(name).with_suffix("").as_posix() if "." in Path(name).name else name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "image"
    return f"ig_{index + 1:02d}_{safe}.png"


def image_axes(axes: Any, pixels: np.ndarray) -> None:
    """Draw uint8 ``[C, H, W]`` ``pixels`` on ``axes``: grayscale or RGB, no ticks."""
    if pixels.shape[0] == 1:
        axes.imshow(pixels[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(np.transpose(pixels, (1, 2, 0)), interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])


def overlay_figure(pixels: np.ndarray, heat: np.ndarray, *, title: str) -> Figure:
    """The image, and beside it the image under ``heat`` (|attribution|, ``[H, W]``) as a
    semi-transparent map: the more attribution, the brighter and more opaque."""
    figure = Figure(figsize=(5.0, 2.8))
    left, right = figure.subplots(1, 2)
    image_axes(left, pixels)
    left.set_title("image", fontsize=9)
    image_axes(right, pixels)
    peak = float(heat.max()) if heat.size else 0.0
    scaled = heat / peak if peak > 0 and np.isfinite(peak) else np.zeros_like(heat)
    right.imshow(
        scaled,
        cmap=HEAT_MAP,
        vmin=0.0,
        vmax=1.0,
        alpha=np.clip(0.25 + 0.6 * scaled, 0.0, 1.0),
        interpolation="nearest",
    )
    right.set_title("|integrated gradients|", fontsize=9)
    figure.suptitle(title, fontsize=11)
    return figure


def _write(path: Path, content: bytes, overwrite: bool) -> Path:
    with atomic_writer(path, overwrite=overwrite, mode="wb") as handle:
        handle.write(content)
    return path
