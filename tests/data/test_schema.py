"""infer_schema: a role for every column; useless columns dropped with a note."""

import json

import numpy as np
import pandas as pd
import pytest

from deepfit.data.io import read_table
from deepfit.data.schema import ColumnSchema, Schema, infer_schema
from deepfit.errors import ConfigError, DataError


def roles_of(schema):
    return {column.name: column.role for column in schema.columns}


def test_roles_of_the_shared_table(table):
    schema = infer_schema(table, target="y")
    assert roles_of(schema) == {
        "x1": "numeric",
        "x2": "numeric",
        "colour": "categorical",
        "flag": "boolean",
        "day": "datetime",
    }
    assert schema.target == "y"
    assert "y" not in schema.feature_names
    assert schema.notes == []


def test_roles_survive_a_csv_round_trip(table_csv):
    schema = infer_schema(read_table(table_csv), target="y")
    assert schema.names("boolean") == ["flag"]
    assert schema.names("datetime") == ["day"]
    assert schema.names("categorical") == ["colour"]


def test_yes_no_text_is_boolean():
    frame = pd.DataFrame({"answer": ["yes", "no", "Yes", None, "NO"], "x": [1.0, 2, 3, 4, 5]})
    assert roles_of(infer_schema(frame))["answer"] == "boolean"


def test_text_with_other_words_is_categorical():
    frame = pd.DataFrame({"answer": ["yes", "no", "maybe", "yes"], "x": [1.0, 2, 3, 4]})
    assert roles_of(infer_schema(frame))["answer"] == "categorical"


def test_datetime64_and_iso_text_are_dates():
    frame = pd.DataFrame(
        {
            "stamp": pd.date_range("2024-01-01", periods=5, freq="D"),
            "text": ["2024-01-01", "2024-02-15", None, "2023-12-31", "2024-03-01"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    assert roles_of(infer_schema(frame)) == {
        "stamp": "datetime",
        "text": "datetime",
        "x": "numeric",
    }


def test_pandas_categorical_dtype_is_categorical():
    frame = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"]), "x": [1.0, 2.0, 3.0]})
    assert roles_of(infer_schema(frame))["c"] == "categorical"


def test_constant_and_empty_columns_are_dropped_with_notes():
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "same": [7, 7, 7], "empty": [np.nan, np.nan, np.nan]}
    )
    schema = infer_schema(frame)
    assert roles_of(schema) == {"x": "numeric", "same": "drop", "empty": "drop"}
    assert schema.feature_names == ["x"]
    assert len(schema.notes) == 2
    assert any("'same'" in note and "constant" in note for note in schema.notes)
    assert any("'empty'" in note and "missing" in note for note in schema.notes)


@pytest.mark.parametrize("start", [0, 1])
def test_row_counter_is_dropped(start):
    rng = np.random.default_rng(0)
    counter = rng.permutation(np.arange(start, start + 25))
    frame = pd.DataFrame({"n": counter, "x": rng.normal(size=25)})
    schema = infer_schema(frame)
    assert roles_of(schema)["n"] == "drop"
    assert any("'n'" in note and "id-like" in note for note in schema.notes)


def test_column_named_id_with_distinct_integers_is_dropped():
    rng = np.random.default_rng(1)
    ids = rng.choice(10_000, size=25, replace=False) + 5_000  # not consecutive
    frame = pd.DataFrame({"id": ids, "x": rng.normal(size=25)})
    assert roles_of(infer_schema(frame))["id"] == "drop"


def test_few_rows_keep_a_counter_like_column():
    frame = pd.DataFrame({"n": np.arange(10), "x": np.linspace(0, 1, 10)})
    assert roles_of(infer_schema(frame))["n"] == "numeric"


def test_distinct_text_on_every_row_is_dropped():
    frame = pd.DataFrame({"name": [f"user_{i}" for i in range(25)], "x": np.arange(25.0)})
    schema = infer_schema(frame)
    assert roles_of(schema)["name"] == "drop"
    assert any("'name'" in note for note in schema.notes)


def test_year_column_is_kept():
    years = np.arange(1990, 2021)
    frame = pd.DataFrame({"year": years, "x": np.linspace(0, 1, len(years))})
    schema = infer_schema(frame)
    assert roles_of(schema)["year"] == "numeric"
    assert schema.notes == []


def test_roles_override_inference(table):
    schema = infer_schema(table, target="y", roles={"x1": "drop", "flag": "categorical"})
    roles = roles_of(schema)
    assert roles["x1"] == "drop"
    assert roles["flag"] == "categorical"
    assert "x1" not in schema.feature_names
    assert roles["x2"] == "numeric"


def test_int_column_forced_to_categorical():
    frame = pd.DataFrame({"code": [10, 20, 30, 10], "x": [1.0, 2.0, 3.0, 4.0]})
    assert roles_of(infer_schema(frame))["code"] == "numeric"
    assert roles_of(infer_schema(frame, roles={"code": "categorical"}))["code"] == "categorical"


def test_override_can_keep_a_column_inference_would_drop():
    frame = pd.DataFrame({"same": [1, 1, 1], "x": [1.0, 2.0, 3.0]})
    schema = infer_schema(frame, roles={"same": "numeric"})
    assert roles_of(schema)["same"] == "numeric"
    assert schema.notes == []


def test_unknown_column_in_roles():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="'nope'"):
        infer_schema(frame, roles={"nope": "numeric"})


def test_unknown_role_name():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="unknown column role 'number'"):
        infer_schema(frame, roles={"x": "number"})


def test_mostly_numeric_text_with_a_question_mark_is_numeric_with_the_mark_missing(tmp_path):
    values = [str(v) for v in np.round(np.linspace(1, 5, 19), 2)] + ["?"]
    path = tmp_path / "data.csv"
    pd.DataFrame({"weight": values, "x": np.arange(20.0) % 3}).to_csv(path, index=False)
    schema = infer_schema(read_table(path))
    assert schema.names("numeric") == ["weight", "x"]
    assert schema.notes == ["numeric column 'weight': '?' (1 rows) read as missing"]


def test_mostly_numeric_text_with_a_word_is_an_error_naming_it(tmp_path):
    values = [str(v) for v in np.round(np.linspace(1, 5, 19), 2)] + ["heavy"]
    frame = pd.DataFrame({"weight": values, "x": np.arange(20.0) % 3})
    with pytest.raises(
        DataError, match=r"column 'weight'.*1 row holds text such as 'heavy'.*"
    ) as error:
        infer_schema(frame)
    assert "--categorical 'weight'" in str(error.value)
    codes = [str(v) for v in range(1, 38)] + ["36A", "36B", "37A"]  # Galton's family numbers
    frame = pd.DataFrame({"family": codes, "x": np.arange(40.0) % 3})
    with pytest.raises(DataError, match=r"'family'.*\(92% .*3 rows hold text such as '36A'"):
        infer_schema(frame)
    kept = infer_schema(frame, roles={"family": "categorical"})  # the fix the error names
    assert kept.names("categorical") == ["family"]


def test_numbers_stored_as_text_are_numeric():
    frame = pd.DataFrame({"size": ["1.5", "2", "3.25", "4"], "x": [1.0, 2.0, 3.0, 4.0]})
    assert roles_of(infer_schema(frame))["size"] == "numeric"


def test_no_usable_column():
    frame = pd.DataFrame({"same": [1, 1, 1], "empty": [None, None, None], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="no usable feature columns"):
        infer_schema(frame, target="y")


def test_to_dict_from_dict_round_trip(table):
    schema = infer_schema(table.assign(same=1), target="y", roles={"x2": "drop"})
    restored = Schema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert restored.columns == schema.columns
    assert restored.target == "y"
    assert restored.feature_names == schema.feature_names


def test_from_dict_refuses_unknown_role():
    data = {"columns": [{"name": "x", "role": "vector"}], "target": None}
    with pytest.raises(ConfigError, match="vector"):
        Schema.from_dict(data)


def test_column_schema_reason_kept():
    schema = Schema.from_dict({"columns": [{"name": "a", "role": "drop", "reason": "why"}]})
    assert schema.columns == [ColumnSchema("a", "drop", "why")]
    assert schema.target is None


def test_list_and_record_columns_are_dropped_with_a_note_and_refused_a_role():
    frame = pd.DataFrame(
        {
            "tags": [["a", "b"], ["c"]] * 10,
            "place": [{"city": "Lyon"}, {"city": "Rome"}] * 10,
            "x": np.arange(20.0),
        }
    )
    schema = infer_schema(frame)
    assert schema.names("drop") == ["tags", "place"]
    assert "dropped column 'tags': it holds lists or records" in schema.notes[0]
    with pytest.raises(DataError, match="column 'tags' holds lists or records"):
        infer_schema(frame, roles={"tags": "categorical"})
