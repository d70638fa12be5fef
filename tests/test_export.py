"""ONNX export: the graph from raw columns matches deepfit; dates, quantization, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import deepfit
from deepfit import Regressor
from deepfit.cli import app
from deepfit.data.preprocess import DATE_PARTS, MISSING_CATEGORY, _date_part
from deepfit.errors import ArtifactError, DataError, OutputExistsError
from deepfit.export import (
    date_parts_graph,
    difference,
    export_checked,
    export_onnx,
    onnx_feed,
    onnx_predict,
    onnx_session,
    quantize_onnx,
)
from tests.support.tables import make_table

TINY = {"hidden_layers": (8,), "max_epochs": 3, "batch_size": 32}
MAX_RELATIVE = 1e-4


def awkward_rows() -> pd.DataFrame:
    """New rows with missing numbers, missing and unseen categories, odd and missing dates."""
    rows = make_table(40, seed=3).drop(columns="y")
    rows["colour"] = rows["colour"].astype(object)
    rows["flag"] = rows["flag"].astype(object)
    rows.loc[0, "x1"] = np.nan
    rows.loc[1, "x2"] = np.nan
    rows.loc[2, ["x1", "x2"]] = np.nan
    rows.loc[3, "colour"] = None
    rows.loc[4, "colour"] = "purple"
    rows.loc[5, "colour"] = 3.0
    rows.loc[6, "flag"] = None
    rows.loc[7, "flag"] = "yes"
    rows.loc[8, "day"] = None
    rows.loc[9, "day"] = "1969-07-20"
    rows.loc[10, "day"] = "2024-02-29"
    rows.loc[11, "day"] = "1900-03-01"
    rows.loc[12, "day"] = "2024-06-30T18:30:00"
    rows.loc[13, ["x1", "x2", "colour", "flag", "day"]] = [np.nan, np.nan, None, None, None]
    return rows


def run_onnx(path: Path, rows: pd.DataFrame) -> np.ndarray:
    session = onnx_session(path)
    return onnx_predict(session, onnx_feed(session, rows))


# --------------------------------------------------------------------------- fidelity
def test_onnx_matches_deepfit_on_raw_rows_with_gaps(fitted: Regressor, tmp_path: Path) -> None:
    path = export_onnx(fitted, tmp_path / "model.onnx")
    rows = awkward_rows()
    expected = fitted.predict(rows)
    got = run_onnx(path, rows)
    gap = difference(got, expected)
    print(f"onnxruntime vs deepfit: max abs {gap.max_abs:.3g}, max rel {gap.max_rel:.3g}")
    assert got.dtype == np.float64
    assert got.shape == (len(rows),)
    assert gap.max_rel < MAX_RELATIVE
    # unseen, missing and numeric-looking categories all use the "unknown" slot
    assert fitted.predict_with_details(rows).unseen_categories == 4


def test_graph_inputs_output_and_metadata(fitted: Regressor, tmp_path: Path) -> None:
    path = export_onnx(fitted, tmp_path / "model.onnx")
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    types = {value.name: value.type.tensor_type.elem_type for value in graph.graph.input}
    assert types == {
        "x1": onnx.TensorProto.FLOAT,
        "x2": onnx.TensorProto.FLOAT,
        "colour": onnx.TensorProto.STRING,
        "flag": onnx.TensorProto.FLOAT,
        "day": onnx.TensorProto.DOUBLE,
    }
    [output] = graph.graph.output
    assert output.name == "prediction"
    assert output.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert "LabelEncoder" in {node.op_type for node in graph.graph.node}
    props = {prop.key: prop.value for prop in graph.metadata_props}
    assert props["deepfit_version"] == deepfit.__version__
    assert props["deepfit_target"] == fitted.target_name_ == "y"
    inputs = {spec["name"]: spec for spec in json.loads(props["deepfit_inputs"])}
    assert [inputs[name]["role"] for name in types] == [
        "numeric",
        "numeric",
        "categorical",
        "boolean",
        "datetime",
    ]
    assert inputs["colour"]["categories"] == ["blue", "green", "red"]
    assert inputs["colour"]["missing"] == MISSING_CATEGORY
    assert inputs["day"]["dtype"] == "float64"
    assert inputs["day"]["parts"] == fitted.preprocessor_.date_parts["day"]


def test_feed_from_any_description_and_dynamic_batch(fitted: Regressor, tmp_path: Path) -> None:
    path = export_onnx(fitted, tmp_path / "model.onnx")
    session = onnx_session(path)
    rows = awkward_rows().iloc[:5]
    reference = onnx_feed(fitted, rows)
    assert reference["colour"].tolist()[3] == MISSING_CATEGORY
    assert reference["colour"].tolist()[4:] == ["purple"]
    assert reference["day"].dtype == np.float64
    assert reference["x1"].dtype == np.float32
    metadata = session.get_modelmeta().custom_metadata_map
    for source in (session, path, str(path), onnx.load(str(path)), metadata):
        feed = onnx_feed(source, rows)
        assert feed.keys() == reference.keys()
        for name, values in feed.items():
            np.testing.assert_array_equal(values, reference[name])
    for n_rows in (1, 2, 7):
        batch = make_table(n_rows, seed=4).drop(columns="y")
        np.testing.assert_allclose(run_onnx(path, batch), fitted.predict(batch), rtol=1e-5)


def test_feed_raises_deepfit_data_errors(fitted: Regressor) -> None:
    rows = make_table(5).drop(columns="y")
    rows["x1"] = rows["x1"].astype(object)
    rows.loc[2, "x1"] = "lots"
    with pytest.raises(DataError) as from_predict:
        fitted.predict(rows)
    with pytest.raises(DataError) as from_feed:
        onnx_feed(fitted, rows)
    assert str(from_feed.value) == str(from_predict.value)
    with pytest.raises(DataError, match="lacks feature column"):
        onnx_feed(fitted, rows.drop(columns="day"))
    with pytest.raises(ArtifactError, match="not exported by deepfit"):
        onnx_feed(date_parts_graph(), rows)


# ------------------------------------------------------------------------------ dates
def test_date_parts_graph_matches_pandas() -> None:
    session = ort.InferenceSession(date_parts_graph().SerializeToString())
    rng = np.random.default_rng(0)
    low, high = pd.Timestamp("1677-09-22").value, pd.Timestamp("2262-04-10").value
    random_ns = rng.integers(low, high, 3_000)  # any time of day, to the nanosecond
    random_hours = rng.integers(low, high, 3_000) // 3_600_000_000_000 * 3_600_000_000_000
    special = pd.to_datetime(
        [
            "1700-02-28",
            "1700-03-01",
            "1900-02-28",
            "1900-03-01",
            "1904-02-29",
            "1969-12-31 23:59:59.999",
            "1970-01-01",
            "1970-01-01 00:00:00.001",
            "2000-02-29 23:00",
            "2000-12-31",
            "2024-02-29 12:34:56",
            "2100-03-01",
            "1677-09-22 07:00",
            "2262-04-10 13:00",
            "2262-04-10 13:59:59.999",
        ],
        format="ISO8601",
    )
    special_ns = special.astype("datetime64[ns]").asi8
    nanoseconds = np.concatenate([random_ns, random_hours, special_ns])
    stamps = pd.Series(pd.to_datetime(nanoseconds, unit="ns"))
    stamps = pd.concat([stamps, pd.Series([pd.NaT], dtype=stamps.dtype)], ignore_index=True)
    days = _date_part(stamps, "days_since_1970").to_numpy(np.float64)
    assert (days < 0).sum() > 1_000  # many dates before 1970
    outputs = dict(zip(DATE_PARTS, session.run(None, {"days": days}), strict=True))
    for part in DATE_PARTS:
        expected = _date_part(stamps, part).to_numpy(np.float32)
        np.testing.assert_array_equal(outputs[part], expected, err_msg=part)
    assert np.isnan([outputs[part][-1] for part in DATE_PARTS]).all()


def test_date_parts_graph_over_the_whole_calendar() -> None:
    """Years 1 to 9999 against Python's own calendar, beyond what pandas can represent."""
    session = ort.InferenceSession(date_parts_graph().SerializeToString())
    epoch = dt.date(1970, 1, 1).toordinal()
    ordinals = np.arange(dt.date(1, 1, 1).toordinal(), dt.date(9999, 12, 31).toordinal(), 89)
    results = session.run(None, {"days": ordinals - epoch + 0.25})
    outputs = dict(zip(DATE_PARTS, results, strict=True))
    dates = [dt.date.fromordinal(int(n)) for n in ordinals]
    expected = {
        "year": [d.year for d in dates],
        "month": [d.month for d in dates],
        "day": [d.day for d in dates],
        "day_of_week": [d.weekday() for d in dates],
        "day_of_year": [d.timetuple().tm_yday for d in dates],
        "hour": [6] * len(dates),
    }
    for part, values in expected.items():
        np.testing.assert_array_equal(outputs[part], np.array(values, np.float32), err_msg=part)


def test_model_with_times_of_day_in_another_time_zone(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    minutes = rng.integers(0, 60 * 24 * 400, 150)
    stamps = pd.Timestamp("1969-06-01", tz="Europe/Paris") + pd.to_timedelta(minutes, unit="min")
    frame = pd.DataFrame({"when": stamps, "x": rng.normal(size=150)})
    y = frame["x"] + stamps.hour.to_numpy() / 6
    model = Regressor(**TINY).fit(frame, y)
    assert "hour" in model.preprocessor_.date_parts["when"]
    path = export_onnx(model, tmp_path / "times.onnx")
    rows = frame.iloc[:40].copy()
    rows.loc[3, "when"] = pd.NaT
    gap = difference(run_onnx(path, rows), model.predict(rows))
    assert gap.max_rel < MAX_RELATIVE


# ------------------------------------------------------------------ one-sided models
def test_numeric_only_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = X @ [1.0, -2.0, 0.5] + 7.0
    X[rng.random(X.shape) < 0.1] = np.nan
    model = Regressor(**TINY).fit(X, y)
    assert model.preprocessor_.categorical_names == []
    path = export_onnx(model, tmp_path / "numeric.onnx")
    graph = onnx.load(str(path))
    assert [value.name for value in graph.graph.input] == ["x0", "x1", "x2"]
    assert "LabelEncoder" not in {node.op_type for node in graph.graph.node}
    rows = pd.DataFrame(X[:30], columns=["x0", "x1", "x2"])
    gap = difference(run_onnx(path, rows), model.predict(X[:30]))
    print(f"numeric-only: max rel {gap.max_rel:.3g}")
    assert gap.max_rel < MAX_RELATIVE


def test_categorical_only_model_with_clashing_names(tmp_path: Path) -> None:
    """Columns named like the graph's own tensors, and one whose vocabulary is empty."""
    rng = np.random.default_rng(2)
    codes = rng.choice(["a", "b", "c", "3"], size=120)
    frame = pd.DataFrame(
        {
            "codes": codes,
            "prediction": rng.choice(["x", "y"], size=120),
            "rare": np.repeat([f"r{i}" for i in range(60)], 2),  # each seen twice: all too rare
        }
    )
    y = pd.Series(codes).map({"a": 1.0, "b": 2.0, "c": 3.0, "3": 4.0}) * 10
    model = Regressor(**TINY, min_category_count=3).fit(frame, y)
    assert model.preprocessor_.numeric_names == []
    assert model.preprocessor_.vocabularies["rare"] == []
    path = export_onnx(model, tmp_path / "categorical.onnx")
    session = onnx_session(path)
    assert [output.name for output in session.get_outputs()] == ["prediction_"]
    rows = pd.DataFrame(
        {
            "codes": ["a", "b", "c", "3", 3.0, None, "zz"],
            "prediction": ["x", "y", None, "x", "y", "x", "q"],
            "rare": ["r1", "r2", "new", None, "r3", "r4", "r5"],
        }
    )
    gap = difference(onnx_predict(session, onnx_feed(session, rows)), model.predict(rows))
    print(f"categorical-only: max rel {gap.max_rel:.3g}")
    assert gap.max_rel < MAX_RELATIVE


# ----------------------------------------------------------------------- quantization
def test_quantized_model_is_smaller_and_close(tmp_path: Path) -> None:
    frame = make_table(300)
    model = Regressor(model="mlp", hidden_layers=(128, 128), max_epochs=3, batch_size=64).fit(
        frame.drop(columns="y"), frame["y"]
    )
    rows = make_table(200, seed=7)
    report = export_checked(
        model,
        tmp_path / "model.int8.onnx",
        rows=rows.drop(columns="y"),
        target=rows["y"].to_numpy(),
        quantize=True,
        repeats=2,
    )
    quantized = report.quantized
    assert quantized is not None
    spread = float(frame["y"].std())
    print(
        f"fp32 {quantized.fp32_bytes} B, int8 {quantized.int8_bytes} B; "
        f"fp32 {quantized.fp32_rows_per_second:,.0f} rows/s, "
        f"int8 {quantized.int8_rows_per_second:,.0f} rows/s; "
        f"RMSE fp32 {quantized.fp32_score:.4g}, int8 {quantized.int8_score:.4g}; "
        f"int8 vs fp32 mean abs {quantized.vs_fp32.mean_abs:.3g}, "
        f"max abs {quantized.vs_fp32.max_abs:.3g} (target std {spread:.3g})"
    )
    assert report.vs_deepfit.max_rel < MAX_RELATIVE
    assert report.bytes == quantized.int8_bytes == (tmp_path / "model.int8.onnx").stat().st_size
    assert quantized.int8_bytes < 0.75 * quantized.fp32_bytes
    assert 0 < quantized.vs_fp32.mean_abs < 0.01 * spread
    assert quantized.vs_fp32.max_abs < 0.05 * spread
    assert quantized.metric == "rmse"
    assert quantized.fp32_score is not None
    assert quantized.int8_score is not None
    assert abs(quantized.int8_score - quantized.fp32_score) < 0.01 * spread
    graph = onnx.load(str(report.path))
    assert "DynamicQuantizeLinear" in {node.op_type for node in graph.graph.node}
    props = {prop.key for prop in graph.metadata_props}
    assert {"deepfit_inputs", "deepfit_target", "deepfit_quantized"} <= props


# -------------------------------------------------------------------------- overwrite
def test_no_overwrite_without_force(fitted: Regressor, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="already exists"):
        export_onnx(fitted, path)
    assert path.read_bytes() == b"keep me"
    export_onnx(fitted, path, overwrite=True)
    assert onnx.load(str(path)).graph.output[0].name == "prediction"
    target = tmp_path / "model.int8.onnx"
    target.write_bytes(b"keep me too")
    with pytest.raises(OutputExistsError):
        quantize_onnx(path, target)
    assert target.read_bytes() == b"keep me too"
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["model.int8.onnx", "model.onnx"]


# -------------------------------------------------------------------------------- CLI
def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export-cli")
    frame = make_table(200)
    model = Regressor(model="mlp", hidden_layers=(64, 64), max_epochs=3, batch_size=64)
    return model.fit(frame.drop(columns="y"), frame["y"]).save(folder / "model.deepfit")


def test_cli_export_checks_on_synthetic_rows(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    result = invoke("export", saved, "--onnx", out)
    assert result.exit_code == 0, result.output
    print(result.stdout)
    assert f"wrote {out} (fp32" in result.stdout
    assert "synthetic rows" in result.stdout
    relative = float(result.stdout.split("max relative difference ")[1].split()[0])
    assert relative < MAX_RELATIVE
    assert onnx.load(str(out)).graph.output[0].name == "prediction"
    again = invoke("export", saved, "--onnx", out)
    assert_one_line_error(again, "--force")
    assert invoke("export", saved, "--onnx", out, "--force").exit_code == 0


def test_cli_export_quantized_on_held_out_data(saved: Path, tmp_path: Path) -> None:
    data = tmp_path / "held_out.csv"
    make_table(150, seed=9).to_csv(data, index=False)
    out = tmp_path / "model.int8.onnx"
    result = invoke("export", saved, "--onnx", out, "--quantize", "--data", data)
    assert result.exit_code == 0, result.output
    print(result.stdout)
    assert f"wrote {out} (int8" in result.stdout
    assert "150 rows of" in result.stdout
    assert "rows/s" in result.stdout
    assert "RMSE fp32" in result.stdout
    assert "DynamicQuantizeLinear" in {node.op_type for node in onnx.load(str(out)).graph.node}
    unlabelled = tmp_path / "unlabelled.csv"
    make_table(150, seed=9).drop(columns="y").to_csv(unlabelled, index=False)
    out2 = tmp_path / "model2.int8.onnx"
    result = invoke("export", saved, "--onnx", out2, "--quantize", "--data", unlabelled)
    assert result.exit_code == 0, result.output
    assert "differs from fp32 by" in result.stdout
    assert "RMSE fp32" not in result.stdout


def test_cli_export_errors(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    assert_one_line_error(
        invoke("export", tmp_path / "missing.deepfit", "--onnx", out), "not found"
    )
    broken = tmp_path / "broken.deepfit"
    broken.write_bytes(b"not a zip")
    assert_one_line_error(invoke("export", broken, "--onnx", out), "not a deepfit model")
    data = tmp_path / "bad.csv"
    rows = make_table(20, seed=2)
    rows["x1"] = rows["x1"].astype(object)
    rows.loc[3, "x1"] = "lots"
    rows.to_csv(data, index=False)
    assert_one_line_error(invoke("export", saved, "--onnx", out, "--data", data), "'x1'")
    assert not out.exists()
