"""Atomic writes: permissions by the umask, no clobbering in a race, a durable rename."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from deepfit.data.io import write_table
from deepfit.errors import OutputError, OutputExistsError
from deepfit.files import atomic_writer


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_written_file_has_the_umask_mode(tmp_path: Path, overwrite: bool) -> None:
    path = tmp_path / "out.csv"
    with atomic_writer(path, overwrite=overwrite, mode="w") as handle:
        handle.write("a,b\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_stricter_umask_is_kept(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        with atomic_writer(tmp_path / "out.bin") as handle:
            handle.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == 0o600


def test_a_file_that_appears_while_writing_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "model.deepfit"
    with (  # noqa: PT012
        pytest.raises(OutputExistsError, match="appeared while writing"),
        atomic_writer(path) as handle,
    ):
        handle.write(b"ours")
        path.write_bytes(b"theirs")  # someone else, between the check and the move
    assert path.read_bytes() == b"theirs"
    assert leftovers(tmp_path) == []


def test_the_race_after_the_last_check_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file appears at the very moment of the move, after every check: only an atomic
    no-clobber move keeps it."""
    path = tmp_path / "model.deepfit"
    real_link, real_replace = os.link, os.replace

    def appear_then(real: Callable[[str, str], None]) -> Callable[[str, str], None]:
        def move(source: str, target: str) -> None:
            if Path(target) == path and not path.exists():
                path.write_bytes(b"theirs")
            real(source, target)

        return move

    monkeypatch.setattr(os, "link", appear_then(real_link))
    monkeypatch.setattr(os, "replace", appear_then(real_replace))
    with pytest.raises(OutputExistsError), atomic_writer(path) as handle:
        handle.write(b"ours")
    assert path.read_bytes() == b"theirs"
    assert leftovers(tmp_path) == []


def test_the_folder_is_synced_after_the_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def record(descriptor: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(descriptor).st_mode))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", record)
    for overwrite in (False, True):
        synced.clear()
        with atomic_writer(tmp_path / "out.bin", overwrite=overwrite) as handle:
            handle.write(b"x")
        assert synced == [False, True]  # the file's data, then the folder's entry


def test_without_hard_links_the_move_falls_back_to_a_checked_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: str, target: str) -> None:
        raise OSError(errno.EPERM, "hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "out.bin"
    with atomic_writer(path) as handle:
        handle.write(b"x")
    assert path.read_bytes() == b"x"
    assert leftovers(tmp_path) == []
    with pytest.raises(OutputExistsError), atomic_writer(path) as handle:
        handle.write(b"y")
    assert path.read_bytes() == b"x"
    assert leftovers(tmp_path) == []


def test_overwrite_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with atomic_writer(path, overwrite=True) as handle:
        handle.write(b"new")
    assert path.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_writer(path) as handle:  # noqa: PT012
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert not path.exists()
    assert leftovers(tmp_path) == []


def test_a_folder_that_cannot_hold_the_file_is_one_clear_error(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    writer = atomic_writer(blocker / "out.csv", mode="w")
    with pytest.raises(OutputError, match=r"cannot write .*notes\.txt/out\.csv: .*choose a folder"):
        writer.__enter__()
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("name", ["predictions.xlsx", "predictions.csv.gz"])
def test_tables_are_not_written_under_a_kind_they_are_not(tmp_path, name):
    with pytest.raises(OutputError, match=f"suffix '{Path(name).suffix}', which deepfit does not"):
        write_table(pd.DataFrame({"y": [1.0]}), tmp_path / name)
    assert not (tmp_path / name).exists()
