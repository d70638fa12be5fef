"""A model file cannot make loading build a huge network: the network its configuration
describes is sized (on the meta device, allocating nothing) against the weights the file
holds before anything is built, for every kind of model."""

from __future__ import annotations

import json
import resource
import struct
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepfit import ArtifactError, Forecaster, ImageRegressor, Regressor, load
from deepfit.artifact import load_model
from deepfit.image_artifact import load_image_model
from deepfit.series_artifact import load_forecast
from tests.support.series import make_series
from tests.support.tables import make_table

QUICK_S = 2.0  # a refusal reads JSON and counts; it builds nothing real
SMALL_GROWTH_BYTES = 512 * 2**20


def members_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            kind = zipfile.ZIP_STORED if name.endswith(".safetensors") else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=kind)
    return path


def edited(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """``source`` with its config's settings changed by ``edit`` (compact JSON, so that a
    list of millions of layers still fits the size limit of a member)."""
    members = members_of(source)
    config = json.loads(members["config.json"])
    edit(config["settings"])
    members["config.json"] = json.dumps(config, separators=(",", ":")).encode()
    return write_zip(target, members)


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@contextmanager
def quick_and_small() -> Iterator[None]:
    before, start = peak_rss_bytes(), time.perf_counter()
    yield
    assert time.perf_counter() - start < QUICK_S
    assert peak_rss_bytes() - before < SMALL_GROWTH_BYTES


def assert_refused(path: Path, loader: Callable[[Path], Any], match: str = "weights") -> str:
    with quick_and_small(), pytest.raises(ArtifactError, match=match) as refused:
        loader(path)
    message = str(refused.value)
    assert str(path) in message
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------ table
@pytest.fixture(scope="module")
def table_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = make_table(120, seed=0)
    model = Regressor(model="mlp", hidden_layers=(8, 8), max_epochs=1, random_state=0)
    model.fit(frame.drop(columns="y"), frame["y"])
    return model.save(tmp_path_factory.mktemp("table") / "model.deepfit")


def set_layers(widths: list[int]) -> Callable[[dict[str, Any]], None]:
    def edit(settings: dict[str, Any]) -> None:
        settings["hidden_layers"] = widths

    return edit


def test_forty_gigabytes_of_layers_are_refused_before_anything_is_built(
    table_file: Path, tmp_path: Path
) -> None:
    path = edited(table_file, tmp_path / "huge.deepfit", set_layers([100_000, 100_000]))
    message = assert_refused(path, load_model)
    assert "10,0" in message  # the count the configuration asks for, and what the file holds
    assert_refused(path, load)


def test_millions_of_layers_are_refused_without_building_them(
    table_file: Path, tmp_path: Path
) -> None:
    path = edited(table_file, tmp_path / "deep.deepfit", set_layers([1] * 2_000_000))
    assert_refused(path, load_model, match="layers")


@pytest.mark.parametrize(
    "changes",
    [
        {"n_ensemble": 10**7},
        {"n_ensemble": 3000, "hidden_layers": [1]},
        {"model": "ft_transformer", "model_options": {"n_blocks": 10**7}},
        {"model": "ft_transformer", "model_options": {"d_token": 10**6, "n_heads": 1}},
        {"model": "ensemble", "model_options": {"k": 10**7}},
        {"numeric_embedding": "periodic", "model_options": {"d_embedding": 10**7}},
        {"numeric_embedding": "piecewise", "model_options": {"n_bins": 10**7}},
    ],
)
def test_huge_architecture_settings_are_refused(
    table_file: Path, tmp_path: Path, changes: dict[str, Any]
) -> None:
    path = edited(table_file, tmp_path / "huge.deepfit", lambda settings: settings.update(changes))
    assert_refused(path, load_model, match="weights|layers|members")


def test_a_huge_vocabulary_is_refused(table_file: Path, tmp_path: Path) -> None:
    members = members_of(table_file)
    preprocessing = json.loads(members["preprocessing.json"])
    vocabularies = preprocessing["vocabularies"]
    column = next(iter(vocabularies))
    vocabularies[column] = [f"v{i}" for i in range(400_000)]
    members["preprocessing.json"] = json.dumps(preprocessing, separators=(",", ":")).encode()
    assert_refused(write_zip(tmp_path / "vocabulary.deepfit", members), load_model)


def test_a_weights_header_claiming_gigabytes_is_refused(table_file: Path, tmp_path: Path) -> None:
    members = members_of(table_file)
    members["weights.safetensors"] = struct.pack("<Q", 2**40) + b"{}"
    assert_refused(write_zip(tmp_path / "header.deepfit", members), load_model)


@pytest.mark.parametrize(
    "settings",
    [
        {"model": "mlp", "hidden_layers": (8, 8), "n_ensemble": 2, "norm": "batch"},
        {"model": "resnet", "hidden_layers": (8, 8)},
        {"model": "ft_transformer", "model_options": {"d_token": 8, "n_blocks": 1, "n_heads": 2}},
        {"model": "ensemble", "hidden_layers": (8,), "model_options": {"k": 4}},
        {"model": "mlp", "hidden_layers": (8,), "numeric_embedding": "periodic"},
        {"model": "mlp", "hidden_layers": (8,), "numeric_embedding": "piecewise"},
        {"model": "mlp", "hidden_layers": (8,), "interval_method": "quantile"},
    ],
)
def test_every_table_architecture_still_loads_and_predicts_the_same(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    frame = make_table(120, seed=0)
    X, y = frame.drop(columns="y"), frame["y"]
    model = Regressor(**settings, max_epochs=1, random_state=0).fit(X, y)
    loaded = load(model.save(tmp_path / "model.deepfit"))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# ----------------------------------------------------------------------------------- series
@pytest.fixture(scope="module")
def series_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = {"lookback": 12, "hidden": 8, "max_epochs": 1, "time_limit": None}
    model = Forecaster(2, **settings).fit(make_series(120), target="load", time="timestamp")
    return model.save(tmp_path_factory.mktemp("series") / "forecast.deepfit")


@pytest.mark.parametrize(
    "changes",
    [{"hidden": 20_000}, {"layers": 10**7}, {"model": "lstm", "hidden": 10_000}],
)
def test_a_huge_forecasting_network_is_refused(
    series_file: Path, tmp_path: Path, changes: dict[str, Any]
) -> None:
    path = edited(series_file, tmp_path / "huge.deepfit", lambda s: s.update(changes))
    assert_refused(path, load_forecast, match="weights|layers")


def test_a_forecaster_still_loads(series_file: Path) -> None:
    assert load_forecast(series_file).network is not None


# ------------------------------------------------------------------------------------ image
@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 16, 16), dtype=np.uint8)
    counts = rng.integers(0, 5, size=40).astype(float)
    settings = {"model": "cnn", "width": 4, "max_epochs": 1, "time_limit": None}
    model = ImageRegressor(**settings).fit(images, counts)
    return model.save(tmp_path_factory.mktemp("image") / "count.deepfit")


def test_a_wider_image_network_than_the_weights_hold_is_refused(
    image_file: Path, tmp_path: Path
) -> None:
    path = edited(image_file, tmp_path / "wide.deepfit", lambda s: s.update(width=128))
    assert_refused(path, load_image_model, match="weights hold")


def test_an_image_model_still_loads(image_file: Path) -> None:
    assert load_image_model(image_file).network is not None
