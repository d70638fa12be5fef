"""Which images a run reads: every image under a folder, or the rows of a labels table.

A labels table (CSV, TSV or Parquet) has a ``file`` column of paths relative to the folder and
the target. Paths must stay inside the folder, so a labels file from elsewhere cannot make
deepfit read ``/etc/passwd``; every named file must exist.

Example:
    >>> images = read_labelled("photos/", "labels.csv", target="count")  # doctest: +SKIP
    >>> len(images), images.files[0], images.target[:2]  # doctest: +SKIP
    (500, 'a/0001.png', array([3., 7.]))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.errors import DataError, DataFileNotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
FILE_COLUMN = "file"


@dataclass(frozen=True, eq=False)
class ImageFiles:
    """Image files under ``root`` (relative POSIX paths) and, when labelled, their targets."""

    root: Path
    files: tuple[str, ...]
    target: np.ndarray | None = None
    target_name: str | None = None

    def __len__(self) -> int:
        return len(self.files)

    def paths(self) -> list[Path]:
        """The files' full paths."""
        return [self.root / name for name in self.files]

    def subset(self, rows: np.ndarray) -> ImageFiles:
        """The files at positions ``rows`` (and their targets)."""
        target = None if self.target is None else self.target[rows]
        files = tuple(self.files[int(row)] for row in rows)
        return ImageFiles(self.root, files, target, self.target_name)


def find_images(folder: str | Path) -> ImageFiles:
    """Every image file under ``folder`` (recursively, hidden files skipped), sorted by path."""
    root = _folder(folder)
    files = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not files:
        raise DataError(
            f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
            "point at the folder that holds them"
        )
    return ImageFiles(root, tuple(files))


def read_listed(
    folder: str | Path, labels: str | Path | pd.DataFrame, *, file_column: str = FILE_COLUMN
) -> ImageFiles:
    """The images a table names (for prediction: any target column is ignored)."""
    from deepfit.data.io import read_table

    frame = read_table(labels)
    where = "the labels" if isinstance(labels, pd.DataFrame) else str(labels)
    _has_columns(frame, where, file_column, None)
    root = _folder(folder)
    files = tuple(_inside(root, value, row, where) for row, value in enumerate(frame[file_column]))
    return ImageFiles(root, files)


def read_labelled(
    folder: str | Path,
    labels: str | Path | pd.DataFrame,
    *,
    target: str,
    file_column: str = FILE_COLUMN,
) -> ImageFiles:
    """The images a labels table names, with their numeric ``target``, in the table's order."""
    from deepfit.data.io import read_table

    root = _folder(folder)
    frame = read_table(labels)
    where = "the labels" if isinstance(labels, pd.DataFrame) else str(labels)
    _has_columns(frame, where, file_column, target)
    files = tuple(_inside(root, value, row, where) for row, value in enumerate(frame[file_column]))
    values = _numeric_target(frame[target], target, where)
    return ImageFiles(root, files, values, target)


def _has_columns(frame: pd.DataFrame, where: str, file_column: str, target: str | None) -> None:
    wanted = [(file_column, "the image paths")] + ([(target, "the target")] if target else [])
    for column, what in wanted:
        if column not in frame.columns:
            raise DataError(
                f"{where} has no column {column!r} (for {what}); its columns are: "
                f"{', '.join(map(str, frame.columns[:20]))}"
                + (
                    "; name the paths' column 'file'"
                    if column == file_column
                    else "; pick the target with --target"
                )
            )
    if frame.empty:
        raise DataError(f"{where} has no rows; give one row per image")


def _folder(folder: str | Path) -> Path:
    root = Path(folder)
    if not root.exists():
        raise DataFileNotFoundError(f"{folder} does not exist; give the folder of images")
    if not root.is_dir():
        raise DataError(
            f"{folder} is not a folder; give the folder that holds the images (and --labels)"
        )
    return root.resolve()


def _inside(root: Path, value: Any, row: int, where: str) -> str:
    """``value`` as a path relative to ``root``, refusing one outside it or missing."""
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"row {row + 2} of {where} has no file path ({value!r}); fill it in")
    path = (root / value.strip()).resolve()
    if not path.is_relative_to(root):
        raise DataError(
            f"row {row + 2} of {where} names {value!r}, outside the folder {root}; "
            "give paths relative to the folder of images"
        )
    if not path.is_file():
        raise DataError(
            f"row {row + 2} of {where} names {value!r}, which is not a file under {root}; "
            "fix the path or drop the row"
        )
    return path.relative_to(root).as_posix()


def _numeric_target(column: pd.Series, name: str, where: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        row = int(bad[0])
        raw = column.iloc[row]
        missing = raw is None or (isinstance(raw, float) and np.isnan(raw))
        problem = "has no value" if missing else f"holds {raw!r}, which is not a finite number"
        raise DataError(
            f"row {row + 2} of {where}: {name!r} {problem} ({len(bad)} such rows); "
            "the target of an image regression must be a number in every row"
        )
    return values
