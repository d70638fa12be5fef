"""The number format of a training step: float32, or bfloat16 autocast where it is faster.

Under ``"bf16"`` the forward pass runs under :func:`torch.autocast` (matrix products in
bfloat16, reductions and the loss in float32); the weights, the optimiser's state and every
prediction stay float32, so a model trained either way is saved, served and scored the same.

``"auto"`` asks the hardware rather than its name: a GPU that supports bfloat16 gets it when
a batch's forward pass multiplies at least :data:`GPU_MIN_STEP_FLOPS`; a CPU gets it when a
short probe (:func:`bf16_speedup`, run once per process) finds a training step of a 256-wide
layer at least :data:`PAYS_OFF` times faster under autocast, and the network's forward pass
over a batch multiplies at least :data:`MIN_STEP_FLOPS`. CPU flags are not
enough: an Intel Xeon with AVX-512-BF16 measured its bfloat16 products slower than float32,
while an AMD EPYC with the same flag ran them four times faster. Nor are small steps: on that
EPYC, bfloat16 made an epoch of a 32x32 MLP at batch 32 1.6 times slower, and a 3x256 MLP at
batch 128 (36 MFLOP a batch) or auto's small-data TabM (k=8, 128 wide, batch 64) only 1.05
times faster, while the 3x256 MLP at batch 256 (71 MFLOP) gained 1.3 times and auto's TabM on
diamonds 2.6. The choice is a function of the network, the batch and the machine, so
a refit on the same machine repeats it.

On a GPU a tabular step is bound by its kernel launches, not its products: on an NVIDIA H200
(``benchmarks/results/throughput.md``) a step of the 3x256 MLP at batch 256 took 2.5 ms, of
which its products need 4 µs at the measured fp32 peak, and autocast's casts made every
network measured slower: the 3x256 and 3x512 MLPs at batch 256 and auto's TabM (k=16) at
batch 512 (2.6 GFLOP a forward pass) took 9-12% longer an epoch in bfloat16. Bfloat16 can
only save a share of the products' time, so it waits for batches whose float32 products take
about a millisecond: :data:`GPU_MIN_STEP_FLOPS`, an estimate from the peak, not a measured
crossover.

Example:
    >>> choose_precision("fp32", torch.device("cpu"), nn.Linear(2, 1), {"input": torch.ones(1, 2)})
    'fp32'
    >>> with step_precision("fp32", torch.device("cpu")):
    ...     torch.ones(2, 2) @ torch.ones(2, 2)
    tensor([[2., 2.],
            [2., 2.]])
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator, Mapping

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

PRECISIONS = ("auto", "fp32", "bf16")
PAYS_OFF = 1.3  # the probe's speed-up that "auto" asks of a CPU before it trains in bfloat16
MIN_STEP_FLOPS = 50e6  # a batch's forward products below this stay float32 on a CPU
GPU_MIN_STEP_FLOPS = 20e9  # and on a GPU, where smaller steps wait on their kernel launches
PROBE_ROWS, PROBE_WIDTH, PROBE_REPEATS = 256, 256, 12


def choose_precision(
    name: str, device: torch.device, network: nn.Module, inputs: Mapping[str, torch.Tensor]
) -> str:
    """``"fp32"`` or ``"bf16"``: ``name`` itself, or what ``"auto"`` picks for training
    ``network`` on batches like ``inputs`` on ``device``."""
    if name != "auto":
        return name
    gpu = device.type == "cuda"
    if device.type not in ("cpu", "cuda") or (gpu and not torch.cuda.is_bf16_supported()):
        return "fp32"
    if forward_flops(network, inputs) < (GPU_MIN_STEP_FLOPS if gpu else MIN_STEP_FLOPS):
        return "fp32"
    return "bf16" if gpu or bf16_speedup() >= PAYS_OFF else "fp32"


def forward_flops(network: nn.Module, inputs: Mapping[str, torch.Tensor]) -> int:
    """The FLOPs of the matrix products in ``network``'s forward pass over ``inputs``
    (counted by :class:`torch.utils.flop_counter.FlopCounterMode`, in evaluation mode, so
    that no dropout mask draws from the random generators). Recurrent layers are counted
    from their shapes (:func:`recurrent_flops`): on the CPU their fused kernels are invisible
    to the counter."""
    training = network.training
    network.eval()
    counter = FlopCounterMode(display=False)
    entered: list[int] = []
    corrections: list[int] = []

    def enter(layer: nn.Module, args: tuple[object, ...]) -> None:
        entered.append(counter.get_total_flops())

    def leave(layer: nn.Module, args: tuple[object, ...], output: object) -> None:
        seen = counter.get_total_flops() - entered.pop()  # what the counter saw inside
        if isinstance(layer, nn.RNNBase) and args and isinstance(args[0], torch.Tensor):
            corrections.append(recurrent_flops(layer, args[0]) - seen)

    recurrent = [m for m in network.modules() if isinstance(m, nn.RNNBase)]
    hooks = [m.register_forward_pre_hook(enter) for m in recurrent]
    hooks += [m.register_forward_hook(leave) for m in recurrent]
    try:
        with torch.no_grad(), counter:
            network(**inputs)
    finally:
        network.train(training)
        for hook in hooks:
            hook.remove()
    return int(counter.get_total_flops()) + sum(corrections)


def recurrent_flops(layer: nn.RNNBase, sequence: torch.Tensor) -> int:
    """The FLOPs of the products of an LSTM, GRU or RNN layer stack over ``sequence``: per
    step and direction, each gate multiplies its input and the hidden state by its weights.

    Example:
        >>> recurrent_flops(nn.LSTM(8, 16, batch_first=True), torch.zeros(2, 10, 8))
        61440
    """
    gates = {"LSTM": 4, "GRU": 3}.get(layer.mode, 1)
    steps = sequence.shape[1] if layer.batch_first else sequence.shape[0]
    rows = sequence.shape[0] if layer.batch_first else sequence.shape[1]
    if sequence.dim() == 2:  # one unbatched sequence
        steps, rows = sequence.shape[0], 1
    directions = 2 if layer.bidirectional else 1
    width = layer.proj_size or layer.hidden_size
    total, width_in = 0, layer.input_size
    for _ in range(layer.num_layers):
        total += 2 * gates * layer.hidden_size * (width_in + width) * directions
        width_in = width * directions
    return total * steps * rows


@contextlib.contextmanager
def step_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed forward pass in ``precision`` (``"fp32"`` or ``"bf16"``) on ``device``."""
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


@functools.cache
def bf16_speedup() -> float:
    """How many times faster a CPU training step of a 256 x 256 layer runs under bfloat16
    autocast than in float32 (the best of a few repeats each, taken in turn; about 40 ms,
    once per process).

    The probe runs on one thread: it asks what the core's kernels do, and one thread answers
    that steadily while other programs load the machine. On a 2-core machine that another
    2-thread process kept busy, 7 of 24 probes on torch's two threads read below 1.3 and one
    348 (1.7-2.2 when quiet); six on one thread read 2.5-2.7 (2.7 quiet). Torch's global
    random state and thread count are left as they were, so a fit that probes draws the same
    dropout masks as one that does not."""
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            torch.set_num_threads(1)
            layer = torch.nn.Linear(PROBE_WIDTH, PROBE_WIDTH)
            rows = torch.randn(PROBE_ROWS, PROBE_WIDTH)
            fp32 = bf16 = float("inf")
            for _ in range(PROBE_REPEATS):
                fp32 = min(fp32, _step_seconds(layer, rows, bf16=False))
                bf16 = min(bf16, _step_seconds(layer, rows, bf16=True))
    except RuntimeError:  # no bfloat16 kernels for this CPU
        return 0.0
    finally:
        torch.set_num_threads(threads)
    return fp32 / bf16 if bf16 > 0 else 0.0


def _step_seconds(layer: torch.nn.Linear, rows: torch.Tensor, *, bf16: bool) -> float:
    """Seconds of one forward and backward pass through ``layer`` twice."""
    start = time.perf_counter()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
        out = layer(rows)
        hidden = layer(torch.relu(out))
    hidden.float().square().mean().backward()
    seconds = time.perf_counter() - start
    layer.zero_grad(set_to_none=True)
    return seconds
