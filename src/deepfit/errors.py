"""Errors deepfit raises on purpose.

Every error subclasses both :class:`DeepfitError` and the builtin a Python user would catch
(``ValueError``, ``FileNotFoundError``, ...), and its message says what was expected, what was
found, and how to fix it, on one line. The CLI prints that line and exits with status 1.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class DeepfitError(Exception):
    """Base class of every error deepfit raises on purpose."""


class DataError(DeepfitError, ValueError):
    """The data cannot be used as given: a missing column, a bad value, too few rows."""


class ConfigError(DeepfitError, ValueError):
    """A setting is out of range or unknown."""


class FolderInUseError(ConfigError):
    """A folder another live run is using (its checkpoint folder's lock is held)."""


class ArtifactError(DeepfitError, ValueError):
    """A model file is corrupt, truncated, foreign, or from an unsupported format version."""


class DataFileNotFoundError(DeepfitError, FileNotFoundError):
    """A file the user named does not exist."""


class OutputExistsError(DeepfitError, FileExistsError):
    """Writing would overwrite a file the user already has."""


class OutputError(DeepfitError, OSError):
    """An output that cannot be written where the user asked: no permission, no such device,
    a read-only disk, or a file kind deepfit does not write."""


class NotFittedError(DeepfitError, _SklearnNotFittedError):
    """A model was used before it was fitted."""


class DeepfitWarning(UserWarning):
    """Something deepfit did to the data on its own that the user should know about."""


def brief(error: BaseException) -> str:
    """The first line of an error's message (at most 200 characters), for one-line reports."""
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]
