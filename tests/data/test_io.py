"""read_table: every supported source becomes one pandas DataFrame; bad files say why."""

import re

import numpy as np
import pandas as pd
import polars as pl
import pytest

from deepfit.data.io import read_table
from deepfit.data.stream import plan_memory
from deepfit.errors import DataError, DataFileNotFoundError, DeepfitError


def test_csv_file_round_trips(table, table_csv):
    frame = read_table(table_csv)
    assert list(frame.columns) == list(table.columns)
    assert frame.shape == table.shape
    np.testing.assert_allclose(frame["x1"], table["x1"])
    assert frame["colour"].tolist() == table["colour"].tolist()


def test_path_given_as_string(table_csv):
    assert read_table(str(table_csv)).shape == (400, 6)


def test_tsv_file_is_split_on_tabs(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("a\tb\n1\tx,y\n2\tz\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].tolist() == ["x,y", "z"]


def test_txt_file_is_read_as_csv(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("a,b\n1,2\n3,4\n")
    assert read_table(path)["b"].tolist() == [2, 4]


def test_parquet_file(tmp_path, table):
    path = tmp_path / "table.parquet"
    table.to_parquet(path, engine="pyarrow")
    frame = read_table(path)
    assert list(frame.columns) == list(table.columns)
    np.testing.assert_allclose(frame["x2"], table["x2"])
    assert frame["flag"].tolist() == table["flag"].tolist()


def test_pandas_frame_gets_string_column_names():
    frame = read_table(pd.DataFrame({0: [1.0, 2.0], "b": [3.0, 4.0]}))
    assert list(frame.columns) == ["0", "b"]
    assert frame["0"].tolist() == [1.0, 2.0]


def test_pandas_frame_given_by_the_user_is_not_modified():
    user_frame = pd.DataFrame({0: [1.0, 2.0], 1: [3.0, 4.0]})
    read_table(user_frame)
    assert list(user_frame.columns) == [0, 1]


def test_polars_frame():
    frame = read_table(pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2, 3]
    assert frame["b"].tolist() == ["x", "y", "z"]


def test_two_dimensional_array_gets_x_column_names():
    array = np.arange(12.0).reshape(4, 3)
    frame = read_table(array)
    assert list(frame.columns) == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(frame.to_numpy(), array)


def test_one_dimensional_array_is_one_column():
    frame = read_table(np.array([1.0, 2.0, 3.0]))
    assert list(frame.columns) == ["x0"]
    assert frame["x0"].tolist() == [1.0, 2.0, 3.0]


def test_three_dimensional_array_is_refused():
    with pytest.raises(DataError, match="3 dimensions"):
        read_table(np.zeros((2, 2, 2)))


def test_dict_and_series():
    assert read_table({"a": [1, 2], "b": [3, 4]}).shape == (2, 2)
    frame = read_table(pd.Series([1.0, 2.0], name="s"))
    assert list(frame.columns) == ["s"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataFileNotFoundError, match=re.escape(str(path))) as caught:
        read_table(path)
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, DeepfitError)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        read_table(path)


def test_blank_lines_only(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no data"):
        read_table(path)


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    with pytest.raises(DataError, match="header but no data rows"):
        read_table(path)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"'\.xlsx'.*save the sheet as CSV"):
        read_table(path)


def test_unknown_suffix_is_refused_before_the_first_rows_are_read(tmp_path):
    path = tmp_path / "book.xlsx"  # a zip: read as text, it looked like a header and no rows
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match=r"suffix '\.xlsx', which deepfit cannot read"):
        plan_memory(path)


def test_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        read_table(tmp_path)


def test_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_table(path)


@pytest.mark.parametrize("separator", [";", "|", "\t"])
def test_other_field_separators_are_recognised(tmp_path, separator):
    path = tmp_path / "european.csv"
    path.write_text(
        f"a{separator}b{separator}c\n1{separator}2.5{separator}x\n3{separator}4{separator}y\n"
    )
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["b"].tolist() == [2.5, 4.0]


def test_a_row_that_repeats_the_header_is_named(tmp_path):
    path = tmp_path / "joined.csv"
    path.write_text("size,price\n1.5,10\n2.5,20\nsize,price\n3.5,30\n")
    with pytest.raises(DataError, match=r"row 3 of .*joined\.csv repeats the header"):
        read_table(path)
    text = tmp_path / "words.csv"
    text.write_text("size,colour\nsize,red\nsmall,blue\n")  # a value equal to its column name
    assert len(read_table(text)) == 2
