"""Dropout with a cheap mask on the CPU, for the tabular networks.

On the CPU, ``nn.Dropout`` draws one Bernoulli sample per element from PyTorch's Mersenne
Twister, which costs more than the layer's matrix product for TabM's ``[B, k, width]``
activations: on diamonds (TabM k=16, 3x256, batch 512) the random numbers took a quarter
of an epoch. :class:`FastDropout` takes 16 random bits per element instead, four per 64-bit
draw of NumPy's SFC64 generator (one of the fastest there are), so the drop rate is ``p`` to
within 1/65536. The generator is seeded by one draw from PyTorch's global generator per
call, so ``torch.manual_seed`` and a checkpoint's saved RNG state still decide every mask.
On the CPU the mask is also made in NumPy (compare, convert, scale): torch's elementwise
kernels on int16 and bool tensors took 55 of a mask's 70 microseconds for a 256x256
activation, NumPy's 10. On other devices the bits come from ``torch.randint`` on the device,
which is fast there.

A ReLU followed by dropout in TabM's hidden layers runs as one step on the CPU,
:meth:`FastDropout.after_relu`: the ReLU's sign test joins the NumPy mask, so the forward
pass is one product and the backward pass another, where a separate ReLU costs a pass each way
over the activation. For TabM's ``[8192, 256]`` activations (k=16, batch 512) that took a
layer's ReLU, dropout and their gradients from 8.4 to 5.8 ms, and a whole training step by 5%
(the median ratio of 30 interleaved rounds). Below :data:`FUSED_FROM` elements the extra
NumPy pass costs more than the ReLU it saves (the 3x256 and 3x512 MLPs at batch 256 were 1-4%
slower fused), so small activations keep the two steps, and the MLP, whose activations are
that small at its usual batch sizes, keeps its plain ``Sequential``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

BITS = 16
VALUES = 2**BITS
FUSED_FROM = 1 << 20  # elements: TabM's [B * k, width] activations, not an MLP's


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper mask (same module, same state: none).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> kept = FastDropout(0.25).train()(torch.ones(100_000))
        >>> round(float((kept == 0).float().mean()), 2), round(float(kept.mean()), 2)
        (0.25, 1.0)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        dropped = self._dropped_values()
        if not 0 < dropped < VALUES:
            return super().forward(x)
        n = x.numel()
        if x.device.type == "cpu":
            keep = _as_tensor(cpu_mask(n, dropped, bf16=x.dtype == torch.bfloat16), x.dtype)
        else:  # two 16-bit values per 32-bit draw of torch's generator on the device
            threshold, scale = _threshold_and_scale(dropped)
            draws = torch.randint(
                -(2**31), 2**31 - 1, ((n + 1) // 2,), dtype=torch.int32, device=x.device
            )
            keep = (draws.view(torch.int16)[:n] >= threshold).to(x.dtype).mul_(scale)
        return x * keep.view(x.shape)

    def after_relu(self, x: torch.Tensor) -> torch.Tensor:
        """``self(relu(x))``: the same values and gradients, in one pass each way on the CPU
        for activations of at least :data:`FUSED_FROM` elements.

        Example:
            >>> dropout, x = FastDropout(0.5).train(), torch.randn(FUSED_FROM)
            >>> _ = torch.manual_seed(0); fused = dropout.after_relu(x)
            >>> _ = torch.manual_seed(0); apart = dropout(torch.relu(x))
            >>> bool(torch.equal(fused, apart))
            True
        """
        dropped = self._dropped_values()
        fused = (
            x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64, torch.bfloat16)
            and x.numel() >= FUSED_FROM
        )
        if not self.training or not 0 < dropped < VALUES or not fused:
            return self(torch.relu(x))
        return _ReluKeep.apply(x, dropped)

    def _dropped_values(self) -> int:
        """How many of the 65536 values of a 16-bit number drop an element."""
        return round(self.p * VALUES)


class _ReluKeep(torch.autograd.Function):
    """``x * mask`` where the mask is 0 for dropped or negative inputs and the dropout's scale
    elsewhere; the gradient is the same product."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dropped: int) -> torch.Tensor:
        bf16 = x.dtype == torch.bfloat16
        values = x.detach().contiguous()
        # a bfloat16 is positive when its bits, read as an int16, are: the sign is the top bit
        positive = (values.view(torch.int16) if bf16 else values).numpy().reshape(-1) > 0
        weights = _as_tensor(cpu_mask(x.numel(), dropped, positive, bf16=bf16), x.dtype)
        weights = weights.view(x.shape)
        ctx.save_for_backward(weights)
        return x * weights

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (weights,) = ctx.saved_tensors
        return grad * weights, None


def cpu_mask(
    n: int, dropped: int, positive: np.ndarray | None = None, *, bf16: bool = False
) -> np.ndarray:
    """Dropout's float32 multipliers for ``n`` elements: 0 where dropped (``dropped`` of every
    65536 values of the bits) or, given ``positive``, where it is False; the scale elsewhere.
    With ``bf16``, the bits of bfloat16 multipliers instead (as uint16; NumPy has no
    bfloat16), the same values as the float32 ones rounded to bfloat16, in half the memory
    and without a pass to convert them."""
    threshold, scale = _threshold_and_scale(dropped)
    keep = np.greater_equal(cpu_bits(n), threshold)
    if positive is not None:
        keep &= positive
    if bf16:
        bits = keep.astype(np.uint16)
        bits *= _bf16_bits(scale)
        return bits
    mask = keep.astype(np.float32)
    mask *= np.float32(scale)
    return mask


@functools.cache
def _bf16_bits(value: float) -> np.uint16:
    """The bits of ``value`` rounded to bfloat16 (made once per dropout rate, not per step)."""
    return np.uint16(torch.tensor(value, dtype=torch.bfloat16).view(torch.int16).item())


def _as_tensor(mask: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """:func:`cpu_mask`'s multipliers as a tensor of ``dtype``."""
    if mask.dtype == np.uint16:
        return torch.from_numpy(mask.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(mask).to(dtype)


def _threshold_and_scale(dropped: int) -> tuple[int, float]:
    """The int16 value from which an element is kept (``dropped`` of the 65536 values lie
    below it), and the scale that keeps the expected sum."""
    return dropped - VALUES // 2, VALUES / (VALUES - dropped)


def cpu_bits(n: int) -> np.ndarray:
    """``n`` random int16 values from SFC64, seeded by one draw of torch's generator."""
    seed = int(torch.randint(0, 2**62, (1,)))
    raw = np.random.SFC64(seed).random_raw((n + 3) // 4)
    return raw.view(np.int16)[:n]
