"""Atomic writes: a file appears whole under its name, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from deepfit.errors import OutputExistsError


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

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_writer(target, mode="w") as handle:
        ...     _ = handle.write("done")
        >>> target.read_text()
        'done'
    """
    check_writable(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path} appeared while writing; nothing was replaced")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
