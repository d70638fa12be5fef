"""The one-file ``.deepfit`` model: round trip, atomic writes, and refusing malformed files."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load as load_tensors

from deepfit import ArtifactError, DeepfitError, NotFittedError, Regressor, load
from deepfit.archive import MEMBERS
from deepfit.artifact import FORMAT_VERSION
from deepfit.errors import DataFileNotFoundError, OutputExistsError
from tests.support.tables import make_table

PICKLE_PROTOCOL_OPCODE = b"\x80"


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory, fitted: Regressor) -> Path:
    """The session model saved once; tests read it and never change it."""
    return fitted.save(tmp_path_factory.mktemp("good") / "model.deepfit")


@pytest.fixture(scope="module")
def good_members(good_file: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(good_file) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """The members as ``save`` writes them: JSON deflated, the weights stored."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            stored = name.endswith(".safetensors")
            kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=kind)
    return path


def edit_json(members: dict[str, bytes], name: str, document: dict) -> dict[str, bytes]:
    edited = dict(members)
    edited[name] = json.dumps(document).encode("utf-8")
    return edited


def features() -> pd.DataFrame:
    return make_table().drop(columns="y")


# ------------------------------------------------------------------------------ round trip
def test_round_trip_predictions_are_bit_identical(fitted: Regressor, good_file: Path) -> None:
    loaded = load(good_file)
    X = features()
    assert np.array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.target_name_ == fitted.target_name_ == "y"
    assert loaded.n_features_in_ == fitted.n_features_in_
    assert loaded.history_ == fitted.history_
    assert list(loaded.feature_names_in_) == list(fitted.feature_names_in_)


def test_file_is_a_zip_of_four_data_members(good_file: Path, good_members: dict[str, bytes]):
    assert zipfile.is_zipfile(good_file)
    assert sorted(good_members) == sorted(MEMBERS)
    for name, data in good_members.items():
        assert not data.startswith(PICKLE_PROTOCOL_OPCODE), f"{name} looks like a pickle"
        assert not name.endswith((".pkl", ".pickle", ".pt", ".pth"))
    documents = {
        name: json.loads(data.decode("utf-8"))
        for name, data in good_members.items()
        if name.endswith(".json")
    }
    assert all(isinstance(document, dict) for document in documents.values())
    metadata = documents["metadata.json"]
    assert metadata["format"] == "deepfit"
    assert metadata["format_version"] == FORMAT_VERSION
    assert metadata["target"] == "y"
    weights = good_members["weights.safetensors"]
    assert weights[8:9] == b"{"  # safetensors: 8-byte header length, then a JSON header
    assert load_tensors(weights)


# --------------------------------------------------------------------------- atomic saves
def test_save_refuses_an_existing_file_and_leaves_it_unchanged(
    fitted: Regressor, tmp_path: Path
) -> None:
    path = tmp_path / "model.deepfit"
    path.write_bytes(b"precious bytes")
    with pytest.raises(OutputExistsError, match="already exists"):
        fitted.save(path)
    with pytest.raises(FileExistsError, match="already exists"):
        fitted.save(path)
    assert path.read_bytes() == b"precious bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["model.deepfit"]


def test_save_with_overwrite_replaces_the_file(fitted: Regressor, tmp_path: Path) -> None:
    path = tmp_path / "model.deepfit"
    path.write_bytes(b"old")
    assert fitted.save(path, overwrite=True) == path
    assert zipfile.is_zipfile(path)
    X = features()
    assert np.array_equal(load(path).predict(X), fitted.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.deepfit"]


def test_save_leaves_no_temporary_files(fitted: Regressor, tmp_path: Path) -> None:
    fitted.save(tmp_path / "a.deepfit")
    fitted.save(tmp_path / "sub" / "b.deepfit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.deepfit", "sub"]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["b.deepfit"]


def test_unfitted_regressor_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Regressor().save(tmp_path / "model.deepfit")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ malformed files
def assert_refused(path: Path, match: str) -> ArtifactError:
    with pytest.raises(ArtifactError, match=match) as caught:
        load(path)
    assert isinstance(caught.value, DeepfitError)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message
    return caught.value


def test_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.deepfit"
    with pytest.raises(DataFileNotFoundError, match="model file not found"):
        load(path)
    with pytest.raises(FileNotFoundError):
        load(path)


def test_truncated_file(good_file: Path, tmp_path: Path) -> None:
    data = good_file.read_bytes()
    path = tmp_path / "truncated.deepfit"
    path.write_bytes(data[: len(data) // 2])
    assert_refused(path, "truncated")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(np.random.default_rng(0).bytes(4096), id="random-bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"x1,x2,y\n1.0,2.0,3.0\n4.0,5.0,6.0\n", id="csv"),
    ],
)
def test_not_a_zip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.deepfit"
    path.write_bytes(content)
    assert_refused(path, "not a deepfit model file \\(not a zip archive\\)")


class _Trap:
    """Unpickling this creates ``path``: a stand-in for a pickle that runs code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_pickle_member_is_refused_without_being_executed(
    good_members: dict[str, bytes], tmp_path: Path
) -> None:
    armed = tmp_path / "armed"
    pickle.loads(pickle.dumps(_Trap(armed)))  # the trap works when unpickled
    assert armed.exists()
    marker = tmp_path / "executed"
    members = dict(good_members) | {"data.pkl": pickle.dumps(_Trap(marker))}
    path = write_zip(tmp_path / "model.deepfit", members)
    assert_refused(path, "unexpected member\\(s\\) data.pkl")
    assert not marker.exists()


def test_missing_weights_member(good_members: dict[str, bytes], tmp_path: Path) -> None:
    members = {k: v for k, v in good_members.items() if k != "weights.safetensors"}
    path = write_zip(tmp_path / "model.deepfit", members)
    assert_refused(path, "lacks weights.safetensors")


def test_metadata_not_valid_json(good_members: dict[str, bytes], tmp_path: Path) -> None:
    members = dict(good_members)
    members["metadata.json"] = good_members["metadata.json"][:-10] + b"{,"
    path = write_zip(tmp_path / "model.deepfit", members)
    assert_refused(path, "metadata.json is not valid JSON")


def test_foreign_format(good_members: dict[str, bytes], tmp_path: Path) -> None:
    metadata = json.loads(good_members["metadata.json"]) | {"format": "other"}
    path = write_zip(tmp_path / "model.deepfit", edit_json(good_members, "metadata.json", metadata))
    assert_refused(path, "is not a deepfit model")


def test_newer_format_version_says_upgrade(good_members: dict[str, bytes], tmp_path: Path):
    metadata = json.loads(good_members["metadata.json"]) | {"format_version": 999}
    path = write_zip(tmp_path / "model.deepfit", edit_json(good_members, "metadata.json", metadata))
    error = assert_refused(path, "format version 999")
    assert "upgrade deepfit" in str(error)


def test_metadata_without_n_features_in(good_members: dict[str, bytes], tmp_path: Path):
    """A JSON member missing a key is a malformed artifact, not a KeyError."""
    metadata = json.loads(good_members["metadata.json"])
    del metadata["n_features_in"]
    path = write_zip(tmp_path / "model.deepfit", edit_json(good_members, "metadata.json", metadata))
    assert_refused(path, "n_features_in")


def test_config_with_other_layers_does_not_fit_the_weights(
    good_members: dict[str, bytes], tmp_path: Path
) -> None:
    config = json.loads(good_members["config.json"])
    assert config["settings"]["hidden_layers"] == [32, 32]
    config["settings"]["hidden_layers"] = [7]
    path = write_zip(tmp_path / "model.deepfit", edit_json(good_members, "config.json", config))
    assert_refused(path, "weights that do not fit its model")


def test_garbage_weights(good_members: dict[str, bytes], tmp_path: Path) -> None:
    members = dict(good_members)
    members["weights.safetensors"] = np.random.default_rng(1).bytes(2048)
    path = write_zip(tmp_path / "model.deepfit", members)
    assert_refused(path, "weights that do not fit its model")


@pytest.mark.parametrize(
    "key",
    [
        "schema",
        "min_category_count",
        "numeric_names",
        "medians",
        "scales",
        "missing_in_training",
        "vocabularies",
        "date_parts",
    ],
)
def test_preprocessing_with_a_key_removed(
    good_members: dict[str, bytes], tmp_path: Path, key: str
) -> None:
    preprocessing = json.loads(good_members["preprocessing.json"])
    del preprocessing[key]
    members = edit_json(good_members, "preprocessing.json", preprocessing)
    path = write_zip(tmp_path / "model.deepfit", members)
    assert_refused(path, "malformed configuration")


def test_weights_of_the_wrong_shape(good_members: dict[str, bytes], tmp_path: Path) -> None:
    """Same tensor names, one of them with an extra row: refused, not silently broadcast."""
    from safetensors.torch import save as save_tensors

    weights = load_tensors(good_members["weights.safetensors"])
    name = next(n for n, t in weights.items() if t.ndim == 2 and n.endswith("weight"))
    weights[name] = torch.cat([weights[name], weights[name][:1]])
    members = dict(good_members) | {"weights.safetensors": save_tensors(weights)}
    path = write_zip(tmp_path / "model.deepfit", members)
    assert_refused(path, "weights that do not fit its model")


def test_a_malformed_model_is_one_line_for_every_command(
    good_members: dict[str, bytes], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from deepfit.cli import app

    path = tmp_path / "truncated.deepfit"
    path.write_bytes(write_zip(tmp_path / "m.deepfit", good_members).read_bytes()[:500])
    data = tmp_path / "rows.csv"
    features().head(3).to_csv(data, index=False)
    commands = [
        ["info", str(path)],
        ["predict", str(path), str(data)],
        ["evaluate", str(path), str(data)],
        ["serve", str(path)],
        ["export", str(path), "--onnx", str(tmp_path / "m.onnx")],
    ]
    for command in commands:
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, command
        assert result.stderr.startswith("error: "), command
        assert len(result.stderr.strip().splitlines()) == 1, command
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.onnx").exists()


# ---------------------------------------------------------------------- files from deepfit 0.1
FIXTURES = Path(__file__).parent / "fixtures"
# float32 products summed in another order by another CPU's kernels (an AMD EPYC's against the
# Intel Xeon's that wrote the fixtures) differ in the last bits: 2e-8 relative was seen
SAME = 1e-6  # the spread, a difference of answers near 90 (float32 steps of 8e-6), gets atol too


def test_files_written_by_deepfit_0_1_load_and_predict_the_same() -> None:
    """tests/fixtures holds models saved by deepfit 0.1 (format 1) and what they predicted."""
    expected = json.loads((FIXTURES / "v0.1_predictions.json").read_text())
    rows = pd.DataFrame(expected["rows"])
    plain = load(FIXTURES / "v0.1_mlp.deepfit")
    assert plain.metadata_["format_version"] == 1
    assert plain.task_.name == "regression"
    np.testing.assert_allclose(plain.predict(rows), expected["mlp"], rtol=SAME)
    bounds = plain.predict(rows, interval=0.9)
    np.testing.assert_allclose(
        [bounds.lower, bounds.upper], expected["mlp_interval_0.9"], rtol=SAME
    )
    ensemble = load(FIXTURES / "v0.1_ensemble_quantile.deepfit")
    assert ensemble.settings_["n_ensemble"] == 2
    np.testing.assert_allclose(ensemble.predict(rows), expected["ensemble"], rtol=SAME)
    np.testing.assert_allclose(
        ensemble.predict_spread(rows), expected["ensemble_spread"], rtol=SAME, atol=1e-5
    )
    bounds = ensemble.predict(rows, interval=0.8)
    np.testing.assert_allclose(
        [bounds.lower, bounds.upper], expected["ensemble_interval_0.8"], rtol=SAME
    )


def test_a_0_1_file_saved_again_is_format_2_and_predicts_the_same(tmp_path: Path) -> None:
    old = load(FIXTURES / "v0.1_ensemble_quantile.deepfit")
    again = load(old.save(tmp_path / "again.deepfit"))
    assert again.metadata_["format_version"] == 2
    rows = pd.DataFrame(json.loads((FIXTURES / "v0.1_predictions.json").read_text())["rows"])
    np.testing.assert_array_equal(again.predict(rows), old.predict(rows))
    assert again.task_.to_dict() == old.task_.to_dict()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting too deep to parse
        ('{"n": ' + "9" * 5_000 + "}", "not valid JSON"),  # an integer of 5,000 digits
        ('{"x": NaN}', "NaN is not a finite number"),
        ('{"x": Infinity}', "Infinity is not a finite number"),
        ('{"x": 1e999}', "1e999 is out of range"),
    ],
)
def test_hostile_json_is_an_artifact_error(
    good_members: dict[str, bytes], tmp_path: Path, text: str, match: str
) -> None:
    for name in ("metadata.json", "config.json", "preprocessing.json"):
        edited = {**good_members, name: text.encode()}
        assert_refused(write_zip(tmp_path / f"{name}.deepfit", edited), match)


def test_compressed_weights_are_refused(good_members: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "packed.deepfit"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in good_members.items():
            archive.writestr(name, data)
    assert_refused(path, "weights.safetensors is compressed, which deepfit never writes")


def test_an_encrypted_member_is_refused(good_file: Path, tmp_path: Path) -> None:
    data = bytearray(good_file.read_bytes())
    with zipfile.ZipFile(good_file) as archive:
        info = archive.getinfo("config.json")
    data[info.header_offset + 6] |= 0x1  # the local header's "encrypted" flag
    start = 0
    while (central := data.find(b"PK\x01\x02", start)) != -1:  # and the central directory's
        name_length = int.from_bytes(data[central + 28 : central + 30], "little")
        if bytes(data[central + 46 : central + 46 + name_length]) == b"config.json":
            data[central + 8] |= 0x1
        start = central + 4
    path = tmp_path / "locked.deepfit"
    path.write_bytes(bytes(data))
    assert_refused(path, "config.json is encrypted")


def test_a_loaded_model_forgets_its_run_folder_and_its_start(
    fitted: Regressor, tmp_path: Path
) -> None:
    path = fitted.save(tmp_path / "m.deepfit")
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(members["config.json"])
    config["params"] |= {"checkpoint_dir": str(tmp_path / "old-run")}
    edited = write_zip(tmp_path / "run.deepfit", edit_json(members, "config.json", config))
    loaded = load(edited)
    assert loaded.get_params()["checkpoint_dir"] is None
    assert loaded.get_params()["init_from"] is None
