"""Reading tables a piece at a time: the memory plan, Parquet pieces, a CSV's Parquet copy."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from deepfit import ConfigError, DataError
from deepfit.data.stream import (
    IN_MEMORY_COPIES,
    TableFile,
    csv_types,
    head,
    parquet_copy,
    parse_size,
    plan_memory,
    slices,
)
from tests.support.tables import make_table


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    make_table(1000).to_parquet(path, row_group_size=300)
    return path


def test_parse_size_reads_units_and_refuses_words():
    assert parse_size("2GB") == 2 << 30
    assert parse_size("1.5g") == int(1.5 * (1 << 30))
    assert parse_size("512 MiB") == 512 << 20
    assert parse_size("1000") == 1000
    with pytest.raises(ConfigError, match="like 2GB"):
        parse_size("lots")


def test_the_plan_streams_only_what_passes_the_budget(parquet: Path):
    small = plan_memory(parquet, budget=1 << 40)
    assert small.rows == 1000
    assert small.rows_exact
    assert not small.stream
    tight = plan_memory(parquet, budget=small.frame_bytes * IN_MEMORY_COPIES - 1)
    assert tight.stream
    assert "streaming" in tight.line()
    assert "into memory" in small.line()


def test_a_csv_plan_estimates_rows_from_its_start(tmp_path: Path):
    path = tmp_path / "t.csv"
    make_table(100_000).to_csv(path, index=False)
    plan = plan_memory(path, budget=1)
    assert not plan.rows_exact
    assert 80_000 < plan.rows < 120_000


def test_pieces_are_row_groups_indexed_by_row_number(parquet: Path):
    table = TableFile(parquet)
    assert table.piece_rows == [300, 300, 300, 100]
    assert table.starts == [0, 300, 600, 900]
    piece = table.read(2, ["x1", "y"])
    assert list(piece.columns) == ["x1", "y"]
    assert piece.index[0] == 600
    whole = make_table(1000)
    assert np.allclose(piece["x1"].to_numpy(), whole["x1"].to_numpy()[600:900])


def test_a_csv_copy_keeps_every_row_and_counts_them_in_the_same_pass(tmp_path: Path):
    path = tmp_path / "t.csv"
    frame = make_table(1000)
    frame.to_csv(path, index=False)
    seen: list[int] = []
    copy = parquet_copy(path, tmp_path, csv_types(head(path)), lambda f: seen.append(len(f)))
    assert sum(seen) == 1000 == copy.n_rows
    back = pd.concat(copy.pieces())
    assert back["colour"].tolist() == frame["colour"].tolist()
    assert np.allclose(back["x2"].to_numpy(), frame["x2"].to_numpy(), equal_nan=True)


def test_text_in_a_numeric_column_past_the_head_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "t.csv"
    frame = pd.DataFrame({"x": np.arange(60_000, dtype=float), "y": 1.0})
    frame["x"] = frame["x"].astype(object)
    frame.loc[59_000, "x"] = "oops"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="--categorical") as error:
        list(slices(path, csv_types(head(path))))
    assert "\n" not in str(error.value)


def test_a_file_that_is_not_parquet_is_a_data_error(tmp_path: Path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="valid Parquet"):
        plan_memory(path, budget=1)


def test_csv_types_read_numbers_as_float_and_the_rest_as_text():
    sample = pd.DataFrame({"n": [1, 2], "s": ["a", "b"], "b": [True, False], "c": [1.0, 2.0]})
    types = csv_types(sample, text=["c"])
    assert types == {"n": pa.float64(), "s": pa.string(), "b": pa.string(), "c": pa.string()}
