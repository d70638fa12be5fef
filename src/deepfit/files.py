"""Atomic writes: a file appears whole under its name, or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from deepfit.errors import OutputError, OutputExistsError

# Errors of os.link on a filesystem without hard links: the move falls back to a rename.
NO_HARD_LINKS = frozenset(
    code
    for code in (
        errno.EPERM,
        errno.EXDEV,
        errno.EMLINK,
        getattr(errno, "ENOTSUP", None),
        getattr(errno, "EOPNOTSUPP", None),
        getattr(errno, "ENOSYS", None),
        getattr(errno, "EACCES", None),
    )
    if code is not None
)


def check_writable(path: Path, *, overwrite: bool, flag: str = "--force") -> None:
    """Refuse to replace an existing file unless ``overwrite`` is set."""
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another path or pass {flag} to replace it"
        )
    if path.is_dir():
        raise OutputExistsError(f"{path} is a folder; name a file to write")


def check_output_folder(folder: Path, *, overwrite: bool, what: str) -> None:
    """Refuse a path that is a file, or a non-empty folder unless ``overwrite``.

    ``what`` names the contents in the message, e.g. "the study".
    """
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder} is a file; name a folder for {what}")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{folder} already exists and is not empty; choose another folder or pass --force "
            "(overwrite=True) to replace the files in it"
        )


@contextlib.contextmanager
def atomic_writer(path: Path, *, overwrite: bool = False, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and move it into place only on success.

    The file gets the permissions an ordinary ``open`` would give (0o666 less the umask).
    Without ``overwrite`` the move cannot replace a file that appeared meanwhile: it is a hard
    link, which fails if the name exists (a checked rename where the filesystem has no hard
    links). The folder is synced after the move, so the new name survives a crash.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_writer(target, mode="w") as handle:
        ...     _ = handle.write("done")
        >>> target.read_text()
        'done'
    """
    check_writable(path, overwrite=overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = _create_temporary(path)
    except OSError as error:  # no permission, no such folder, a read-only disk
        reason = error.strerror or type(error).__name__
        raise OutputError(
            f"cannot write {path}: {reason}; choose a folder you can write to"
        ) from error
    try:
        with os.fdopen(descriptor, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_without_replacing(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    sync_folder(path.parent)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` with a random name, mode 0o666 less the umask (unlike
    ``tempfile.mkstemp``'s 0o600, which a server running as another user cannot read)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temporary = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(path.parent))


def _move_without_replacing(temporary: str, path: Path) -> None:
    """Give ``temporary`` the name ``path`` unless that name exists, atomically."""
    appeared = OutputExistsError(f"{path} appeared while writing; nothing was replaced")
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise appeared from None
    except OSError as error:
        if error.errno not in NO_HARD_LINKS:
            raise
        # No hard links here (some network and FAT filesystems): check, then rename.
        if path.exists():
            raise appeared from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where folders cannot be opened (Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        descriptor = os.open(folder, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
