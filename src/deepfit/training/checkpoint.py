"""Crash-safe checkpoints: the whole training loop in one ``checkpoint.safetensors`` file.

Tensors (network weights, early stopping's best weights, optimiser state, the global and the
shuffler's random number generator states as uint8) are safetensors; everything else (epoch,
history, best epoch and loss, scheduler and optimiser settings, callback state and a
fingerprint of the settings and data) is JSON in the safetensors metadata. No pickle: loading
reads data, never code. A file is written to a temporary name beside it, synced and moved into
place, so a crash leaves the previous checkpoint whole.

Resuming restores every part at the epoch boundary it was saved at, so the run goes on as if
it had never stopped: on CPU, with the same thread count, the final weights are bitwise those
of an uninterrupted run.

Example:
    >>> from deepfit import Regressor
    >>> model = Regressor(checkpoint_dir="runs/ckpt", checkpoint_every=5)  # doctest: +SKIP
    >>> model.fit(X, y)  # doctest: +SKIP
    >>> # ... killed part way; later, with the same settings and data:
    >>> model.fit(X, y, resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_tensors
from torch import nn

from deepfit.errors import ArtifactError, ConfigError, DataError, FolderInUseError, brief
from deepfit.files import atomic_writer
from deepfit.training.callbacks import Callback, LoopParts
from deepfit.training.distributed import current
from deepfit.training.sources import TARGET, Batch
from deepfit.training.state import DIVERGED, EpochRecord, TrainState

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so the folder is not locked
    fcntl = None

CHECKPOINT_FILE = "checkpoint.safetensors"
LOCK_FILE = ".lock"  # a run holds an exclusive flock on it while it uses the folder
FORMAT = "deepfit-checkpoint"
FORMAT_VERSION = 1
MAX_HASHED_ROWS = 65_536  # larger data is fingerprinted by evenly spaced rows
FIX = (
    "use the same settings and data to continue it, or start over: point --checkpoint-dir "
    "(checkpoint_dir) at a new folder, or drop --resume (resume=False)"
)


@dataclass
class Snapshot:
    """A checkpoint as read from disk: its document, with the tensors back in their places."""

    path: Path
    document: dict[str, Any]

    @property
    def epoch(self) -> int:
        """The number of epochs the saved run had completed."""
        return int(self.document["epoch"])

    @property
    def fingerprint(self) -> dict[str, Any]:
        return dict(self.document["fingerprint"])


def checkpoint_path(directory: str | Path) -> Path:
    """Where the checkpoint of ``directory`` lives."""
    return Path(directory) / CHECKPOINT_FILE


class Checkpoint(Callback):
    """Save the loop's complete state every ``every`` epochs and at the end; resume from it.

    Put it last among the callbacks, so that a save sees what the others did at that epoch
    (early stopping's best weights, every stop decision). The last save comes at the end of
    the last epoch, before early stopping restores the best weights. A Ctrl-C'd run stopped
    mid-epoch and is not saved again; resuming it goes on from the last epoch saved.

    Example:
        >>> Checkpoint("runs/ckpt", every=5, fingerprint={}).path.name
        'checkpoint.safetensors'
    """

    main_only = True  # one process writes; every one restores (on_setup)

    def __init__(
        self,
        directory: str | Path,
        *,
        every: int = 1,
        fingerprint: dict[str, Any],
        resume_from: Snapshot | None = None,
    ) -> None:
        if not isinstance(every, int) or every < 1:
            raise ConfigError(f"checkpoint_every must be a positive integer, however: {every!r}")
        self.path = checkpoint_path(directory)
        self.every = every
        self.fingerprint = fingerprint
        self.resume_from = resume_from
        self.parts: LoopParts | None = None
        self.lock: FolderLock | None = None

    def on_setup(self, state: TrainState, parts: LoopParts) -> None:
        self.parts = parts
        if current().is_main:  # the process that writes (rank 0) owns the folder
            self.lock = self.lock or FolderLock(self.path.parent)
            self.lock.acquire()
            for leftover in self.path.parent.glob(f".{CHECKPOINT_FILE}.*.tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()  # from a run killed while writing
        if self.resume_from is not None:
            restore_checkpoint(self.resume_from, state, parts)

    def on_close(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def on_epoch_end(self, state: TrainState, network: nn.Module) -> None:
        last = state.stop or state.epoch >= state.max_epochs
        if state.epoch % self.every == 0 or last:
            if self.parts is None:
                raise RuntimeError("Checkpoint.on_setup was not called; pass it to train()")
            save_checkpoint(self.path, state, self.parts, self.fingerprint)


class FolderLock:
    """An exclusive advisory lock (``flock``) on a checkpoint folder's :data:`LOCK_FILE`, so
    that two runs never share a folder (each would delete the other's temporary files and
    replace its checkpoint). The system drops it when its process ends, even by a crash.
    Where there is no ``fcntl`` (Windows) nothing is locked.

    Example:
        >>> import tempfile
        >>> lock = FolderLock(Path(tempfile.mkdtemp()))
        >>> lock.acquire(); lock.release()
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.descriptor: int | None = None

    def acquire(self) -> None:
        """Take the lock; a :class:`FolderInUseError` if another live run holds it."""
        if fcntl is None or self.descriptor is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # The holder removes the file as it lets go; a lock on a removed file is
                # no lock, so take the one under the name now.
                if _same_file(path, descriptor):
                    break
            except BlockingIOError as error:
                os.close(descriptor)
                raise FolderInUseError(
                    f"checkpoint folder {self.folder} is in use by another run that is still "
                    "going; choose another --checkpoint-dir (checkpoint_dir), or wait for "
                    "that run to end"
                ) from error
            except BaseException:
                os.close(descriptor)
                raise
            os.close(descriptor)
        self.descriptor = descriptor

    def release(self) -> None:
        """Let the lock go, removing its file (while still holding it) to leave the folder
        as the run found it."""
        descriptor, self.descriptor = self.descriptor, None
        if descriptor is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.unlink(self.folder / LOCK_FILE)
        finally:
            os.close(descriptor)  # closing the last descriptor drops the flock


def _same_file(path: Path, descriptor: int) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


# ---------------------------------------------------------------------------------- saving
def save_checkpoint(
    path: Path, state: TrainState, parts: LoopParts, fingerprint: dict[str, Any]
) -> None:
    """Write the loop's state to ``path`` atomically (temporary file, fsync, rename)."""
    rng = {"torch": torch.get_rng_state(), "shuffler": parts.shuffler.get_state()}
    device = _device(parts.network)
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    scheduler = parts.schedule.scheduler
    callbacks = {key: callback.state_dict() for key, callback in _keyed(parts.callbacks).items()}
    tensors: dict[str, torch.Tensor] = {}
    document = _encode(
        {
            "epoch": state.epoch,
            "history": [asdict(record) for record in state.history],
            "best_epoch": state.best_epoch,
            "best_validation_loss": state.best_validation_loss,
            "network": parts.network.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "schedule": None if scheduler is None else scheduler.state_dict(),
            "callbacks": {key: saved for key, saved in callbacks.items() if saved},
            "rng": rng,
            "fingerprint": fingerprint,
        },
        "",
        tensors,
    )
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "state": json.dumps(document, allow_nan=False),
    }
    payload = save_tensors(
        {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()},
        metadata=metadata,
    )
    with atomic_writer(path, overwrite=True) as handle:  # syncs the folder after the rename
        handle.write(payload)


# --------------------------------------------------------------------------------- loading
def load_checkpoint(path: str | Path) -> Snapshot:
    """Read a checkpoint written by :class:`Checkpoint`; an unreadable one is an ArtifactError.

    Example:
        >>> load_checkpoint("runs/ckpt/checkpoint.safetensors").epoch  # doctest: +SKIP
        12
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        if metadata.get("format") != FORMAT:
            raise ValueError("it names no deepfit checkpoint format")
        version = int(metadata.get("format_version", "0"))
        if not 1 <= version <= FORMAT_VERSION:
            raise ValueError(f"format version {version} is not one this deepfit reads")
        document = _decode(json.loads(metadata["state"]), tensors)
        if not isinstance(document, dict):
            raise ValueError("its state is not a JSON object")
        snapshot = Snapshot(path, document)
        _ = snapshot.epoch, snapshot.fingerprint
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
        raise ArtifactError(
            f"checkpoint {path} is unreadable ({brief(error)}); delete it, or point "
            "--checkpoint-dir (checkpoint_dir) at a new folder"
        ) from error
    return snapshot


def _lay_out_as_parameters(optimizer: torch.optim.Optimizer) -> None:
    """Give each restored state tensor its parameter's memory layout (a convolution's weights
    may be channels-last), as a new run's ``zeros_like`` does: the checkpoint holds them
    contiguous, and a fused optimiser step walks a parameter and its state in memory order."""
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == parameter.shape:
                state[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def restore_checkpoint(snapshot: Snapshot, state: TrainState, parts: LoopParts) -> None:
    """Put the saved run back into ``state`` and ``parts`` (network, optimiser, RNGs, ...)."""
    saved = snapshot.document
    try:
        parts.network.load_state_dict(saved["network"], strict=True)
        parts.optimizer.load_state_dict(saved["optimizer"])
        _lay_out_as_parameters(parts.optimizer)
        if parts.schedule.scheduler is not None and saved["schedule"] is not None:
            parts.schedule.scheduler.load_state_dict(saved["schedule"])
        for key, callback in _keyed(parts.callbacks).items():
            if key in saved["callbacks"]:
                callback.load_state_dict(saved["callbacks"][key])
        torch.set_rng_state(saved["rng"]["torch"])
        parts.shuffler.set_state(saved["rng"]["shuffler"])
        device = _device(parts.network)
        if device.type == "cuda" and "cuda" in saved["rng"]:
            torch.cuda.set_rng_state(saved["rng"]["cuda"], device)
        state.epoch = int(saved["epoch"])
        state.history = [EpochRecord(**record) for record in saved["history"]]
        state.best_epoch = saved["best_epoch"]
        state.best_validation_loss = saved["best_validation_loss"]
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ArtifactError(
            f"checkpoint {snapshot.path} does not fit this run ({brief(error)}); delete it, or "
            "point --checkpoint-dir (checkpoint_dir) at a new folder"
        ) from error
    # Stop rules that depend on the saved run are checked again (early stopping does so in
    # on_train_start); those of the process that saved it (time limit, Ctrl-C) are not.
    if state.last is not None and not math.isfinite(state.last.train_loss):
        state.stop, state.stop_reason = True, DIVERGED


def _keyed(callbacks: Sequence[Callback]) -> dict[str, Callback]:
    """Callbacks by class name (and a count, if there are several of a class)."""
    keyed: dict[str, Callback] = {}
    seen: dict[str, int] = {}
    for callback in callbacks:
        name = type(callback).__name__
        seen[name] = seen.get(name, 0) + 1
        keyed[name if seen[name] == 1 else f"{name}{seen[name]}"] = callback
    return keyed


def _device(network: nn.Module) -> torch.device:
    parameter = next(network.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


# ----------------------------------------------------------------------------- fingerprint
class SampledSource(Protocol):
    """A source that knows its rows and gives rows that stand for it (see
    :meth:`~deepfit.training.sources.InMemorySource.sample`)."""

    def __len__(self) -> int: ...

    def sample(self) -> Batch: ...


def fingerprint(
    settings: dict[str, Any], train_data: SampledSource, validation_data: SampledSource | None
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the settings, the data's shape and a hash.

    ``settings`` holds whatever shapes the run (training settings, architecture, seed, ...);
    it is stored as JSON, so tuples compare equal to lists.

    The data's part names each input's width (``numeric_features`` for a tensor named
    ``numeric`` of shape ``[rows, 2]``) and hashes every tensor, the target included.

    Example:
        >>> from deepfit.training.sources import InMemorySource
        >>> data = InMemorySource({"numeric": torch.zeros(4, 2), "target": torch.zeros(4)})
        >>> fingerprint({"seed": 0}, data, None)["data"]["numeric_features"]
        2
    """
    digest = hashlib.blake2b(digest_size=16)
    for data in (train_data, validation_data):
        if data is None:
            continue
        for tensor in data.sample().values():
            digest.update(_sampled_bytes(tensor))
    widths = {
        f"{name}_features": int(tensor.shape[1]) if tensor.ndim == 2 else list(tensor.shape[1:])
        for name, tensor in train_data.sample().items()
        if name != TARGET
    }
    return {
        "settings": json.loads(json.dumps(settings, allow_nan=False)),
        "data": {
            "train_rows": len(train_data),
            "validation_rows": 0 if validation_data is None else len(validation_data),
            **widths,
            "hash": digest.hexdigest(),
        },
    }


def file_digest(path: str | Path) -> str:
    """A short content hash of a file, to recognise a model that a run starts from."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_fingerprint(snapshot: Snapshot, expected: dict[str, Any]) -> None:
    """Refuse a checkpoint from other settings (ConfigError) or other data (DataError)."""
    saved = snapshot.fingerprint
    where = f"the checkpoint in {snapshot.path.parent}"
    then, now = saved.get("settings", {}), expected["settings"]
    changed = [key for key in sorted(set(then) | set(now)) if then.get(key) != now.get(key)]
    if changed:
        shown = "; ".join(f"{key} {then.get(key)!r} then, {now.get(key)!r} now" for key in changed)
        raise ConfigError(f"{where} is from a run with other settings ({shown}); {FIX}")
    then, now = saved.get("data", {}), expected["data"]
    changed = [key for key in now if key != "hash" and then.get(key) != now[key]]
    if changed:
        shown = "; ".join(
            f"{key.replace('_', ' ')} {then.get(key)!r} then, {now[key]!r} now" for key in changed
        )
        raise DataError(f"{where} was written for other data ({shown}); {FIX}")
    if then.get("hash") != now["hash"]:
        raise DataError(
            f"{where} was written for other data (the same shape, but other values); {FIX}"
        )


def _sampled_bytes(tensor: torch.Tensor) -> bytes:
    if tensor.shape[0] > MAX_HASHED_ROWS:
        rows = torch.linspace(0, tensor.shape[0] - 1, MAX_HASHED_ROWS, device=tensor.device)
        tensor = tensor.index_select(0, rows.long())
    return tensor.detach().cpu().contiguous().numpy().tobytes()


# ------------------------------------------------------------------------- JSON with tensors
def _encode(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` as strict JSON; each tensor goes to ``tensors`` under its path instead.

    Tuples, dicts with keys other than text, and non-finite floats are tagged so that
    :func:`_decode` gives back exactly what went in (a state_dict's int keys stay ints).
    """
    if isinstance(value, torch.Tensor):
        name = path.strip(".")
        if name in tensors:
            name = f"{name}#{len(tensors)}"
        tensors[name] = value
        return {"$tensor": name}
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": str(value)}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, f"{path}.{k}", tensors) for k, v in value.items()}
        return {
            "$dict": [
                [_encode(k, f"{path}.key{i}", tensors), _encode(v, f"{path}.{k}", tensors)]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    raise TypeError(f"cannot checkpoint a {type(value).__name__} at {path.strip('.')!r}")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$tensor":
            return tensors[inner]
        if tag == "$float":
            return float(inner)
        if tag == "$tuple":
            return tuple(_decode(v, tensors) for v in inner)
        if tag == "$dict":
            return {_decode(k, tensors): _decode(v, tensors) for k, v in inner}
    return {k: _decode(v, tensors) for k, v in value.items()}


__all__ = [
    "CHECKPOINT_FILE",
    "Checkpoint",
    "FolderLock",
    "Snapshot",
    "check_fingerprint",
    "checkpoint_path",
    "file_digest",
    "fingerprint",
    "load_checkpoint",
    "restore_checkpoint",
    "save_checkpoint",
]
