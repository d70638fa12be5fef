"""Which images a run reads: a folder scan, and the rows of a labels table, with their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfit.errors import DataError, DataFileNotFoundError
from deepfit.kinds.image.files import ImageFiles, find_images, read_labelled
from tests.images.conftest import LabelledFolder


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 40).save(path, format="PNG")


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_find_images_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "z/c.bmp", "z/y/d.tiff", "m.tif", "n.jpeg"):
        _image(tmp_path / name)
    _image(tmp_path / ".hidden.png")
    _image(tmp_path / ".cache" / "e.png")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "folder.png").mkdir()  # a folder named like an image is no image
    found = find_images(tmp_path)
    assert found.files == ("a.JPG", "b.png", "m.tif", "n.jpeg", "z/c.bmp", "z/y/d.tiff")
    assert found.root == tmp_path.resolve()
    assert found.target is None
    assert found.paths()[-1] == tmp_path.resolve() / "z" / "y" / "d.tiff"
    assert len(found) == 6


def test_find_images_on_the_shared_folder_sees_every_labelled_image(
    shared_folder: LabelledFolder,
) -> None:
    found = find_images(shared_folder.root)
    assert list(found.files) == sorted(shared_folder.files)
    assert ".hidden.png" not in found.files


def test_an_empty_folder_is_an_error_naming_the_suffixes(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"holds no images \(\.png, \.jpg") as error:
        find_images(tmp_path)
    _one_line(error)


def test_a_missing_folder_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError, match="does not exist") as error:
        find_images(tmp_path / "nowhere")
    _one_line(error)


def test_a_file_instead_of_a_folder_is_an_error(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    with pytest.raises(DataError, match="is not a folder") as error:
        find_images(tmp_path / "a.png")
    assert not isinstance(error.value, DataFileNotFoundError)
    _one_line(error)


def test_read_labelled_keeps_the_tables_order_and_targets(count_folder: LabelledFolder) -> None:
    images = read_labelled(count_folder.root, count_folder.labels, target="count")
    assert list(images.files) == count_folder.files
    assert images.files[-1].startswith("sub/")
    np.testing.assert_array_equal(images.target, count_folder.counts)
    assert images.target is not None
    assert images.target.dtype == np.float64
    assert images.target_name == "count"
    subset = images.subset(np.array([3, 0]))
    assert subset.files == (count_folder.files[3], count_folder.files[0])
    np.testing.assert_array_equal(subset.target, count_folder.counts[[3, 0]])


def test_read_labelled_accepts_a_data_frame_and_another_file_column(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    _image(tmp_path / "sub" / "b.png")
    frame = pd.DataFrame({"path": ["sub/b.png", " a.png "], "age": [7, 2.5]})
    images = read_labelled(tmp_path, frame, target="age", file_column="path")
    assert images.files == ("sub/b.png", "a.png")
    np.testing.assert_array_equal(images.target, [7.0, 2.5])
    assert isinstance(images, ImageFiles)


def _labels(tmp_path: Path, text: str) -> Path:
    _image(tmp_path / "images" / "a.png")
    _image(tmp_path / "images" / "b.png")
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("path,count\na.png,1\n", ["no column 'file'", "path, count", "name the paths' column"]),
        ("file,age\na.png,1\n", ["no column 'count'", "file, age", "--target"]),
        ("file,count\na.png,1\nc.png,2\n", ["row 3", "'c.png'", "not a file"]),
        ("file,count\n../x.png,1\n", ["row 2", "'../x.png'", "outside the folder"]),
        ("file,count\n/etc/hostname,1\n", ["'/etc/hostname'", "outside the folder"]),
        ("file,count\na.png,1\nb.png,many\n", ["row 3", "'count'", "'many'", "not a finite"]),
        ("file,count\na.png,\nb.png,1\n", ["row 2", "'count' has no value", "(1 such rows)"]),
        ("file,count\na.png,1\n,2\n", ["row 3", "no file path"]),
        ("file,count\n", ["no data rows"]),
    ],
    ids=[
        "no-file-column",
        "no-target-column",
        "missing-file",
        "parent",
        "absolute",
        "not-numeric",
        "no-target",
        "no-path",
        "empty",
    ],
)
def test_read_labelled_refuses_a_bad_table_in_one_line(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    labels = _labels(tmp_path, text)
    with pytest.raises(DataError) as error:
        read_labelled(tmp_path / "images", labels, target="count")
    message = _one_line(error)
    for fragment in fragments:
        assert fragment in message, message


def test_a_path_outside_the_folder_is_refused_even_when_the_file_exists(tmp_path: Path) -> None:
    labels = _labels(tmp_path, "file,count\n../secret.png,1\n")
    _image(tmp_path / "secret.png")  # exists, but beside the folder, not in it
    with pytest.raises(DataError, match="outside the folder"):
        read_labelled(tmp_path / "images", labels, target="count")
    absolute = pd.DataFrame({"file": [str(tmp_path / "secret.png")], "count": [1]})
    with pytest.raises(DataError, match="outside the folder"):
        read_labelled(tmp_path / "images", absolute, target="count")


def test_an_absolute_path_inside_the_folder_is_kept_as_a_relative_one(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    frame = pd.DataFrame({"file": [str(tmp_path / "a.png")], "count": [1]})
    assert read_labelled(tmp_path, frame, target="count").files == ("a.png",)


def test_a_data_frame_is_called_the_labels_in_messages(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    empty = pd.DataFrame({"file": [], "count": []})
    with pytest.raises(DataError, match=r"^the labels has no rows; give one row per image$"):
        read_labelled(tmp_path, empty, target="count")
    frame = pd.DataFrame({"file": ["a.png"], "count": ["x"]})
    with pytest.raises(DataError, match=r"^row 2 of the labels: 'count' holds 'x'"):
        read_labelled(tmp_path, frame, target="count")


def test_read_labelled_checks_the_folder_too(tmp_path: Path) -> None:
    labels = _labels(tmp_path, "file,count\na.png,1\n")
    with pytest.raises(DataFileNotFoundError, match="does not exist"):
        read_labelled(tmp_path / "nowhere", labels, target="count")
    with pytest.raises(DataError, match="is not a folder"):
        read_labelled(labels, labels, target="count")
