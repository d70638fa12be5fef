"""One training across processes: PyTorch DDP over ``torch.distributed`` (gloo on CPU, NCCL on GPU).

``deepfit train ... --processes N`` re-runs itself under ``torchrun`` (:func:`launch`); each
process then joins the group (:func:`start`) and trains with the :class:`Runtime` of its rank.
A process outside any group gets :data:`LOCAL`, whose collectives are the identity, so code
written for many processes runs unchanged in one.

Example:
    >>> runtime = current()
    >>> runtime.distributed, runtime.is_main, runtime.sum([1.5, 2.0])
    (False, True, [1.5, 2.0])
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from deepfit.errors import ConfigError

T = TypeVar("T")
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
INTERRUPTED = 130  # the exit status of a run stopped by Ctrl-C
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Runtime:
    """Where this process stands in a training across processes: its rank among them all and
    on its machine. Every collective is the identity when there is one process.

    Example:
        >>> Runtime(rank=1, world_size=2).is_main
        False
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes and prints for all (rank 0)."""
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process.

        Example:
            >>> LOCAL.any(True)
            True
        """
        return self.any_each([flag])[0]

    def any_each(self, flags: Sequence[bool]) -> list[bool]:
        """For each of ``flags``, whether it is true in any process (one all-reduce for all).

        Example:
            >>> LOCAL.any_each([False, True])
            [False, True]
        """
        if not self.distributed:
            return [bool(flag) for flag in flags]
        values = torch.tensor([int(flag) for flag in flags], dtype=torch.int32, device=_device())
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return [bool(value) for value in values.tolist()]

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each of ``values`` summed over the processes, in float64.

        Example:
            >>> LOCAL.sum([0.5, 2.0])
            [0.5, 2.0]
        """
        if not self.distributed:
            return [float(value) for value in values]
        tensor = torch.tensor(list(values), dtype=torch.float64, device=_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return [float(value) for value in tensor.tolist()]

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` in every process (for small JSON-able values such as statistics).

        Example:
            >>> LOCAL.broadcast({"mean": 1.0})
            {'mean': 1.0}
        """
        if not self.distributed:
            return obj
        box: list[Any] = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: T) -> list[T]:
        """Every process's ``obj``, by rank, in every process.

        Example:
            >>> LOCAL.gather("done")
            ['done']
        """
        if not self.distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def barrier(self) -> None:
        """Wait until every process got here."""
        if not self.distributed:
            return
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()

    def align(self, tensors: Sequence[torch.Tensor]) -> None:
        """Overwrite each of ``tensors`` in place with rank 0's (e.g. batch norm's running
        statistics, which each process updates from its own batches).

        Example:
            >>> buffer = torch.ones(2)
            >>> LOCAL.align([buffer])
            >>> buffer
            tensor([1., 1.])
        """
        if not self.distributed:
            return
        for tensor in tensors:
            dist.broadcast(tensor, src=0)

    def wrap(self, network: nn.Module) -> nn.Module:
        """``network`` for the forward and backward passes of training: under DDP, which
        starts every process from rank 0's weights and buffers and averages the gradients;
        itself when there is one process. Frozen parameters (``requires_grad=False``) are left
        out.

        Example:
            >>> net = nn.Linear(2, 1)
            >>> LOCAL.wrap(net) is net
            True
        """
        if not self.distributed:
            return network
        parameter = next(network.parameters(), None)
        on_gpu = parameter is not None and parameter.device.type == "cuda"
        # DDP's defaults: rank 0's buffers (batch norm's statistics) go to all before each
        # forward; every trainable parameter must take part in the loss.
        return DistributedDataParallel(network, device_ids=[self.local_rank] if on_gpu else None)


LOCAL = Runtime()


def current() -> Runtime:
    """The runtime of this process: its rank in the process group if one is initialised,
    else :data:`LOCAL`.

    Example:
        >>> current() == LOCAL
        True
    """
    if not (dist.is_available() and dist.is_initialized()):
        return LOCAL
    world_size = dist.get_world_size()
    rank = dist.get_rank()
    return Runtime(
        rank=rank,
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", rank)),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world_size)),
    )


def under_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or another launcher that sets
    ``WORLD_SIZE``), and so should join its rendezvous rather than launch one.

    Example:
        >>> import os
        >>> under_torchrun() == ("WORLD_SIZE" in os.environ)
        True
    """
    return "WORLD_SIZE" in os.environ


def start(device_type: str = "cpu", timeout_s: float = 1800) -> Runtime:
    """Join the process group that ``torchrun`` set up in the environment (gloo for ``"cpu"``,
    NCCL for ``"cuda"``), split the machine's cores between its processes, and return this
    process's runtime; outside ``torchrun``, or when already joined, only the latter.

    A collective that waits longer than ``timeout_s`` seconds fails instead of hanging.

    Example:
        >>> start().distributed  # not under torchrun
        False
    """
    if not under_torchrun() or (dist.is_available() and dist.is_initialized()):
        return current()
    env = os.environ
    world_size = _integer(env, "WORLD_SIZE")
    if world_size <= 1:
        return current()
    missing = [name for name in TORCHRUN_VARIABLES if not env.get(name)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE is set but not {', '.join(missing)}; start the processes with "
            "torchrun (python -m torch.distributed.run) or unset WORLD_SIZE"
        )
    if device_type not in ("cpu", "cuda"):
        raise ConfigError(f"training across processes runs on 'cpu' or 'cuda', not {device_type!r}")
    local_rank = _integer(env, "LOCAL_RANK", "0")
    local_world_size = _integer(env, "LOCAL_WORLD_SIZE", str(world_size))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    # DDP imports torch._dynamo; imported once the group exists, it holds on to the group past
    # destroy_process_group, whose gloo threads then now and then abort the process as it
    # exits ("terminate called without an active exception"). Imported before, it does not.
    importlib.import_module("torch._dynamo")
    dist.init_process_group(
        "nccl" if device_type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s)
    )
    torch.set_num_threads(max(1, _cores() // max(1, local_world_size)))
    return current()


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(processes: int, module_args: Sequence[str]) -> int:
    """Run ``python -m deepfit *module_args`` in ``processes`` processes under ``torchrun``
    on this machine and return its exit status; Ctrl-C and SIGTERM are passed on to it (the
    processes then stop together at the end of a batch).

    Example:
        >>> launch(2, ["train", "data.csv", "--target", "y"])  # doctest: +SKIP
        0
    """
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ConfigError(f"processes must be a positive integer, however: {processes!r}")
    if under_torchrun():
        raise ConfigError(
            "this process already runs under torchrun (WORLD_SIZE is set); drop --processes, "
            "each process joins torchrun's rendezvous"
        )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(processes),
        "-m",
        "deepfit",
        *module_args,
    ]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, _cores() // processes)))  # torchrun warns else
    # Its own session: a Ctrl-C in the terminal reaches torchrun once, from here, not twice.
    child = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.PIPE)
    report = _StderrFilter(child, keep_all=bool(os.environ.get("DEEPFIT_DEBUG")))
    signalled = threading.Event()
    try:
        with _forwarding_signals(child, signalled):
            while True:
                # Waiting in slices keeps the main thread running Python, which is where a
                # signal's handler runs, also when another thread of this process caught it.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    status = child.wait(timeout=0.5)
                    break
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        report.finish()
    if status != 0 and signalled.is_set():
        return INTERRUPTED
    if status != 0 and not report.errors:
        sys.stderr.write(
            f"error: training in {processes} processes failed (torchrun's exit status "
            f"{status}); run again with DEEPFIT_DEBUG=1 to see its report\n"
        )
    return status


class _StderrFilter:
    """Pass the processes' standard error on, without torchrun's own log lines and its
    closing traceback (the processes print their errors as one line each), and each
    ``error:`` line once, however many processes printed it."""

    AGENT_LOG = re.compile(rb"^[IWEF]\d{4} [\d:.]+ +\d+ .*torch/distributed/")

    def __init__(self, child: subprocess.Popen[bytes], *, keep_all: bool) -> None:
        self.errors: set[bytes] = set()
        self.keep_all = keep_all
        self.held: list[bytes] = []
        self.thread = threading.Thread(target=self._pump, args=(child,), daemon=True)
        self.thread.start()

    def _pump(self, child: subprocess.Popen[bytes]) -> None:
        if child.stderr is None:
            return
        for line in iter(child.stderr.readline, b""):
            self._line(line)

    def _line(self, line: bytes) -> None:
        if self.keep_all:
            self._write(line)
        elif self.held or line.startswith(b"Traceback (most recent call last):"):
            self.held.append(line)  # decided at the end: torchrun's, or a process's own
        elif self.AGENT_LOG.match(line):
            return
        elif line.startswith(b"error: "):
            if line not in self.errors:
                self.errors.add(line)
                self._write(line)
        else:
            self._write(line)

    def finish(self) -> None:
        self.thread.join(timeout=5)
        held = b"".join(self.held)
        if held and b"torch.distributed.elastic" not in held:
            self._write(held)

    @staticmethod
    def _write(data: bytes) -> None:
        stream = getattr(sys.stderr, "buffer", None)
        if stream is None:
            sys.stderr.write(data.decode(errors="replace"))
        else:
            stream.write(data)
        sys.stderr.flush()


@contextlib.contextmanager
def _forwarding_signals(
    child: subprocess.Popen[bytes], signalled: threading.Event
) -> Iterator[None]:
    """Pass SIGINT and SIGTERM on to ``child`` while inside (from the main thread only), and
    note that one came."""

    def forward(signum: int, frame: FrameType | None) -> None:
        signalled.set()
        if child.poll() is None:
            child.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _device() -> torch.device:
    """Where a collective's tensors must live: the current GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _integer(env: Any, name: str, default: str | None = None) -> int:
    text = env.get(name, default)
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, however: {text!r}") from None


__all__ = [
    "LOCAL",
    "Runtime",
    "current",
    "launch",
    "start",
    "stop",
    "under_torchrun",
]
