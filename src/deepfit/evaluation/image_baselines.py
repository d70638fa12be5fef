"""Baselines of an image regressor, on the same split: the mean, and ridge and LightGBM on
downsampled pixels. If the network does not beat them, it has not earned its keep.

Each image is shrunk by area averaging to at most :data:`PIXEL_SIDE` pixels a side, and its
pixels (every channel) become one row of features.

Example:
    >>> images = np.random.default_rng(0).integers(0, 255, (40, 1, 16, 16), dtype=np.uint8)
    >>> pixels = downsampled_pixels(torch.from_numpy(images), side=4)
    >>> pixels.shape
    (40, 16)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional

from deepfit.evaluation.baselines import LIGHTGBM_THREADED_ROWS, fit_lightgbm
from deepfit.kinds.image.source import ImageStore

PIXEL_SIDE = 16
CHUNK = 1024
BASELINES = ("mean", "ridge", "lightgbm")


def downsampled_pixels(images: torch.Tensor, *, side: int = PIXEL_SIDE) -> np.ndarray:
    """uint8 images ``[n, c, h, w]`` as ``[n, c * side * side]`` floats in 0..1."""
    side = min(side, int(images.shape[-1]))
    small = functional.adaptive_avg_pool2d(images.float() / 255.0, side)
    return small.reshape(len(images), -1).numpy().astype(np.float32)


def store_pixels(store: ImageStore, rows: np.ndarray, *, side: int = PIXEL_SIDE) -> np.ndarray:
    """:func:`downsampled_pixels` of ``rows`` of a store, a chunk at a time."""
    parts = [
        downsampled_pixels(store.take(rows[start : start + CHUNK]), side=side)
        for start in range(0, len(rows), CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def fit_pixel_baselines(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each baseline fitted on ``train`` pixels (LightGBM stopped on ``validation``), as a
    function of pixels."""
    return {
        "mean": _mean(train),
        "ridge": _ridge(train, validation),
        "lightgbm": _lightgbm(train, validation, seed),
    }


def _mean(train: tuple[np.ndarray, np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    level = float(np.mean(train[1]))
    return lambda X: np.full(len(X), level)


def _ridge(
    train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """Ridge on standardised pixels, its penalty chosen by leave-one-out on the training
    images (efficient for ridge)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
    model.fit(*train)
    return lambda X: np.asarray(model.predict(X), dtype=np.float64)


def _lightgbm(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> Callable[[np.ndarray], np.ndarray]:
    import lightgbm

    threads = 1 if len(train[1]) < LIGHTGBM_THREADED_ROWS else None  # small: threads only wait
    model = lightgbm.LGBMRegressor(n_estimators=1000, random_state=seed, verbose=-1, n_jobs=threads)
    fit_lightgbm(model, train, validation, [])
    return lambda X: np.asarray(model.predict(X), dtype=np.float64)
