"""Comparing predictions made on whichever device the tests run on."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

GPU_RTOL = 1e-3  # TF32 convolutions keep 10 bits of mantissa, about 1e-3 of a value


def assert_same_predictions(actual: Any, expected: Any, rtol: float = 0.0) -> None:
    """Equal to ``rtol`` (0: bit for bit) where the tests train on the CPU. With a GPU,
    device="auto" trains there and an image model predicts there: its convolutions run in TF32
    and its kernels change with the batch's shape, while a model loaded from a file predicts
    on the CPU, so the two agree to ``GPU_RTOL``."""
    if torch.cuda.is_available():
        np.testing.assert_allclose(actual, expected, rtol=max(rtol, GPU_RTOL))
    elif rtol:
        np.testing.assert_allclose(actual, expected, rtol=rtol)
    else:
        np.testing.assert_array_equal(actual, expected)
