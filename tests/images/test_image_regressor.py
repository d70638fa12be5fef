"""ImageRegressor: fit and predict on arrays and folders, learning, saving, intervals, errors,
transfer learning and the choice of network."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import deepfit
from deepfit import ImageRegressor
from deepfit.errors import ArtifactError, ConfigError, DataError, NotFittedError, OutputExistsError
from deepfit.estimator import imaging
from deepfit.estimator.imaging import (
    auto_stem_stride,
    choose_network,
    network_candidates,
    transfer_backbone,
)
from deepfit.kinds.image.files import read_labelled
from deepfit.models.convnet import ImageShape, build_image_network
from deepfit.training.callbacks import Callback
from tests.images.conftest import LabelledFolder, count_images
from tests.support.devices import assert_same_predictions


class Snapshot(Callback):
    """Keeps a copy of the network's state as training starts."""

    def __init__(self) -> None:
        self.start: dict[str, torch.Tensor] = {}

    def on_train_start(self, state: Any, network: nn.Module) -> None:
        self.start = {k: v.detach().clone() for k, v in network.state_dict().items()}


def part(
    state: dict[str, torch.Tensor], prefix: str, *, buffers: bool = True
) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix`` (without BatchNorm buffers unless asked)."""
    kept = {}
    for name, tensor in state.items():
        if not name.startswith(prefix):
            continue
        if not buffers and name.rsplit(".", 1)[-1] in ("running_mean", "running_var"):
            continue
        if not buffers and name.endswith("num_batches_tracked"):
            continue
        kept[name] = tensor
    return kept


def same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def brightness_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of one random grey level plus noise; the target is the mean brightness."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(20, 236, n)
    noise = rng.integers(-20, 21, (n, 16, 16))
    images = np.clip(levels[:, None, None] + noise, 0, 255).astype(np.uint8)
    return images, images.mean(axis=(1, 2))


def test_fit_on_an_array_predicts_one_number_per_image(
    count_arrays: tuple[np.ndarray, np.ndarray], fast: dict[str, Any]
) -> None:
    images, counts = count_arrays
    model = ImageRegressor(**fast).fit(images, pd.Series(counts, name="squares"))
    predictions = model.predict(images[:7])
    assert predictions.shape == (7,)
    assert predictions.dtype == np.float64
    assert np.isfinite(predictions).all()
    fit = model.check_fitted()
    assert (fit.preparer.size, fit.preparer.mode) == (16, "L")
    assert fit.preparer.target_name == "squares"
    assert model.prediction_column == "predicted_squares"
    assert (fit.settings["model"], fit.settings["width"], fit.settings["stem_stride"]) == (
        "cnn",
        4,
        1,
    )
    assert fit.summary["epochs"] == 2
    assert fit.summary["train_images"] + fit.summary["validation_images"] == 60
    assert len(fit.history) == 2
    np.testing.assert_array_equal(model.predict(images[:7]), predictions)  # deterministic
    assert_same_predictions(model.predict(images)[:7], predictions, rtol=1e-6)  # any batch


def test_the_same_seed_trains_the_same_model(
    count_arrays: tuple[np.ndarray, np.ndarray], fast: dict[str, Any]
) -> None:
    images, counts = count_arrays
    first = ImageRegressor(**fast, random_state=3).fit(images, counts).predict(images[:5])
    again = ImageRegressor(**fast, random_state=3).fit(images, counts).predict(images[:5])
    other = ImageRegressor(**fast, random_state=4).fit(images, counts).predict(images[:5])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_an_rgb_array_makes_an_rgb_model_and_image_size_resizes(fast: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 24, 30, 3)).astype(np.uint8)
    model = ImageRegressor(**fast, image_size=12, resize="crop").fit(images, np.arange(20.0))
    prep = model.check_fitted().preparer
    assert (prep.size, prep.mode, prep.resize, prep.channels) == (12, "RGB", "crop", 3)
    assert model.predict(images[:3]).shape == (3,)
    auto = ImageRegressor(**fast).fit(images, np.arange(20.0))
    assert auto.check_fitted().preparer.size == 24  # the shorter side


def test_fit_on_a_folder_and_predict_its_images_sorted_by_path(
    image_model: ImageRegressor, shared_folder: LabelledFolder
) -> None:
    prep = image_model.check_fitted().preparer
    assert (prep.size, prep.mode, prep.target_name) == (16, "L", "count")
    frame = image_model.predict_frame(shared_folder.root)
    assert list(frame.columns) == ["file", "predicted_count"]
    assert frame["file"].tolist() == sorted(shared_folder.files)
    assert frame["file"].iloc[-1] == shared_folder.files[-1]  # sub/... sorts last
    in_table_order = image_model.predict(
        read_labelled(shared_folder.root, shared_folder.labels, target="count")
    )
    by_file = dict(zip(shared_folder.files, in_table_order, strict=True))
    np.testing.assert_array_equal(
        frame["predicted_count"].to_numpy(), [by_file[name] for name in frame["file"]]
    )
    np.testing.assert_array_equal(
        image_model.predict(str(shared_folder.root)), frame["predicted_count"]
    )


def test_training_learns_an_easy_target(fast: dict[str, Any]) -> None:
    images, brightness = brightness_images(200, seed=0)
    train, test = slice(0, 150), slice(150, 200)
    model = ImageRegressor(**(fast | {"max_epochs": 12, "batch_size": 32}))
    model.fit(images[train], brightness[train])
    error = np.abs(model.predict(images[test]) - brightness[test]).mean()
    baseline = np.abs(brightness[train].mean() - brightness[test]).mean()
    assert error < 0.25 * baseline, (error, baseline)
    history = model.check_fitted().history
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_save_and_load_round_trip_bit_identically(
    image_model: ImageRegressor, shared_folder: LabelledFolder, tmp_path: Path
) -> None:
    path = image_model.save(tmp_path / "count.deepfit")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [
            "config.json",
            "metadata.json",
            "preprocessing.json",
            "weights.safetensors",
        ]
        metadata = json.loads(archive.read("metadata.json"))
        preprocessing = json.loads(archive.read("preprocessing.json"))
    assert metadata["kind"] == "image"
    assert metadata["task"] == "regression"
    assert (metadata["target"], metadata["image_size"], metadata["image_mode"]) == (
        "count",
        16,
        "L",
    )
    assert preprocessing == image_model.check_fitted().preparer.to_dict()
    for loaded in (ImageRegressor.load(path), deepfit.load(path)):
        assert isinstance(loaded, ImageRegressor)
        assert_same_predictions(
            loaded.predict(shared_folder.root), image_model.predict(shared_folder.root)
        )
        assert loaded.get_params() == image_model.get_params()
        assert loaded.settings_ == image_model.settings_
        assert loaded.check_fitted().summary == image_model.check_fitted().summary
    with pytest.raises(OutputExistsError, match="already exists"):
        image_model.save(path)
    assert image_model.save(path, overwrite=True) == path


def test_an_interval_brackets_every_prediction(
    image_model: ImageRegressor, shared_folder: LabelledFolder
) -> None:
    frame = image_model.predict_frame(shared_folder.root, interval=0.9)
    assert list(frame.columns) == ["file", "predicted_count", "lower_count", "upper_count"]
    assert (frame["lower_count"] <= frame["predicted_count"]).all()
    assert (frame["predicted_count"] <= frame["upper_count"]).all()
    width = frame["upper_count"] - frame["lower_count"]
    np.testing.assert_allclose(width, width.iloc[0])  # conformal: one half-width for all
    assert width.iloc[0] > 0
    narrower = image_model.predict_frame(shared_folder.root, interval=0.5)
    half = narrower["upper_count"] - narrower["lower_count"]
    assert half.iloc[0] <= width.iloc[0]
    with pytest.raises(ConfigError, match="level"):
        image_model.predict_frame(shared_folder.root, interval=1.5)


def test_a_model_without_validation_images_has_no_interval(
    count_arrays: tuple[np.ndarray, np.ndarray], fast: dict[str, Any]
) -> None:
    images, counts = count_arrays
    model = ImageRegressor(**fast, validation_fraction=0.0).fit(images, counts)
    assert model.check_fitted().summary["validation_images"] == 0
    with pytest.raises(ConfigError, match="no interval calibration"):
        model.predict_frame(images, interval=0.9)
    assert model.predict(images[:2]).shape == (2,)


def test_skip_bad_trains_and_predicts_without_the_unreadable_image(
    count_folder: LabelledFolder, fast: dict[str, Any]
) -> None:
    bad = count_folder.files[10]
    (count_folder.root / bad).write_bytes(b"junk")
    with pytest.raises(DataError, match="--skip-bad"):
        ImageRegressor(**fast).fit(count_folder.root, labels=count_folder.labels, target="count")
    model = ImageRegressor(**fast).fit(
        count_folder.root, labels=count_folder.labels, target="count", skip_bad=True
    )
    assert (
        model.check_fitted().summary["train_images"]
        + model.check_fitted().summary["validation_images"]
        == 59
    )
    frame = model.predict_frame(count_folder.root, skip_bad=True)
    assert len(frame) == 59
    assert bad not in frame["file"].tolist()


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda m, f, a: m.fit(f.root), DataError, "needs labels"),
        (lambda m, f, a: m.fit(f.root, labels=f.labels), DataError, "--target NAME"),
        (lambda m, f, a: m.fit(a[0]), DataError, "give the targets of the image array as y"),
        (lambda m, f, a: m.fit(a[0], a[1][:-1]), DataError, "60 images but 59 targets"),
        (
            lambda m, f, a: m.fit(a[0], np.where(np.arange(60) == 3, np.nan, a[1])),
            DataError,
            "finite numbers",
        ),
        (lambda m, f, a: m.fit(a[0], ["x"] * 60), DataError, "finite numbers"),
        (lambda m, f, a: m.fit(a[0][:1], a[1][:1]), DataError, "at least two images"),
    ],
    ids=[
        "folder-no-labels",
        "folder-no-target",
        "array-no-y",
        "length",
        "nan-target",
        "text-target",
        "one-image",
    ],
)
def test_bad_training_data_is_a_one_line_data_error(
    shared_folder: LabelledFolder,
    count_arrays: tuple[np.ndarray, np.ndarray],
    fast: dict[str, Any],
    call: Callable[..., Any],
    error: type[Exception],
    fragment: str,
) -> None:
    with pytest.raises(error, match=fragment) as raised:
        call(ImageRegressor(**fast), shared_folder, count_arrays)
    assert "\n" not in str(raised.value)


def test_predicting_from_an_array_of_the_wrong_shape_is_a_data_error(
    image_model: ImageRegressor, count_arrays: tuple[np.ndarray, np.ndarray]
) -> None:
    with pytest.raises(DataError, match=r"shape \(16, 16\)"):
        image_model.predict(count_arrays[0][0])


def test_fitting_an_array_of_the_wrong_shape_is_a_data_error(
    count_arrays: tuple[np.ndarray, np.ndarray], fast: dict[str, Any]
) -> None:
    images, counts = count_arrays
    with pytest.raises(DataError, match=r"shape \(16, 16\)"):
        ImageRegressor(**fast).fit(images[0], counts[:16])


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"augment": ["spin"]}, "augment"),
        ({"augment": "flip"}, "augment"),
        ({"image_size": 4}, "image_size"),
        ({"image_size": 2048}, "image_size must be at most 1024"),
        ({"resize": "stretch"}, "resize"),
        ({"model": "vit"}, "model"),
        ({"width": 0}, "width"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"stem_stride": 3}, "stem_stride must be 'auto', 1, 2 or 4"),
        ({"freeze_backbone": True}, "freeze_backbone needs init_from"),
    ],
)
def test_a_bad_parameter_is_a_config_error_before_any_work(
    count_arrays: tuple[np.ndarray, np.ndarray], params: dict[str, Any], fragment: str
) -> None:
    images, counts = count_arrays
    model = ImageRegressor(**{"model": "cnn", "max_epochs": 1, **params})
    with pytest.raises(ConfigError, match=fragment):
        model.fit(images, counts)
    assert model.fit_ is None


def test_using_a_model_before_fit_is_a_not_fitted_error(
    count_arrays: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    model = ImageRegressor()
    for call in (
        lambda: model.predict(count_arrays[0]),
        lambda: model.predict_frame(count_arrays[0], interval=0.9),
        lambda: model.save(tmp_path / "m.deepfit"),
        lambda: model.settings_,
    ):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()
    assert not (tmp_path / "m.deepfit").exists()


def test_transfer_backbone_copies_the_backbone_exactly_and_keeps_the_fresh_head() -> None:
    shape = ImageShape(channels=1, size=16)
    torch.manual_seed(0)
    source = build_image_network("cnn", shape, width=4)
    source.backbone[0].first.norm.running_mean.add_(1.5)  # buffers travel too
    torch.manual_seed(1)
    target = build_image_network("cnn", shape, width=4)
    head = {k: v.clone() for k, v in target.head.state_dict().items()}
    assert not same(source.backbone.state_dict(), target.backbone.state_dict())
    transfer_backbone(source, target, freeze=False)
    assert same(source.backbone.state_dict(), target.backbone.state_dict())
    assert same(target.head.state_dict(), head)
    assert all(p.requires_grad for p in target.parameters())
    frozen = build_image_network("cnn", shape, width=4)
    transfer_backbone(source, frozen, freeze=True)
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    assert all(p.requires_grad for p in frozen.head.parameters())


def test_transfer_backbone_adapts_the_first_convolution_to_the_channels() -> None:
    torch.manual_seed(0)
    rgb = build_image_network("cnn", ImageShape(channels=3, size=16), width=4)
    gray = build_image_network("cnn", ImageShape(channels=1, size=16), width=4)
    transfer_backbone(rgb, gray, freeze=False)
    first = "stage1.first.conv.weight"
    given, got = rgb.backbone.state_dict(), gray.backbone.state_dict()
    assert got[first].shape == (4, 1, 3, 3)
    assert torch.equal(got[first], given[first].sum(dim=1, keepdim=True))
    assert same(
        {k: v for k, v in got.items() if k != first}, {k: v for k, v in given.items() if k != first}
    )
    back = build_image_network("cnn", ImageShape(channels=3, size=16), width=4)
    transfer_backbone(gray, back, freeze=False)
    spread = back.backbone.state_dict()[first]
    assert spread.shape == (4, 3, 3, 3)
    for channel in range(3):
        torch.testing.assert_close(spread[:, channel : channel + 1], got[first] / 3)
    # a grey image shown as RGB gives the same features as through the grey network
    image = torch.randn(2, 1, 16, 16)
    gray.eval()
    back.eval()
    torch.testing.assert_close(
        back.features(image.expand(2, 3, 16, 16)), gray.features(image), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize(
    ("model", "width", "fragment"),
    [("resnet", 4, "same --model and --width"), ("cnn", 8, "has shape")],
)
def test_transfer_backbone_refuses_another_architecture(
    model: str, width: int, fragment: str
) -> None:
    shape = ImageShape(channels=1, size=16)
    source = build_image_network("cnn", shape, width=4)
    target = build_image_network(model, shape, width=width)
    with pytest.raises(ConfigError, match=fragment):
        transfer_backbone(source, target, freeze=False)


@pytest.fixture(scope="module")
def saved_gray(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageRegressor, Path]:
    images, counts = count_images(60, seed=2)
    model = ImageRegressor(model="cnn", width=4, max_epochs=2, time_limit=None)
    model.fit(images, counts)
    return model, model.save(tmp_path_factory.mktemp("transfer") / "gray.deepfit")


def test_init_from_starts_from_the_saved_backbone_with_a_fresh_head(
    saved_gray: tuple[ImageRegressor, Path], fast: dict[str, Any]
) -> None:
    source, path = saved_gray
    images, counts = count_images(60, seed=3)
    snapshot = Snapshot()
    model = ImageRegressor(**(fast | {"max_epochs": 1, "model": "resnet", "width": 8}))
    model.init_from = path
    model.fit(images, counts, callbacks=[snapshot])
    given = source.check_fitted().network.state_dict()
    assert same(part(snapshot.start, "backbone."), part(given, "backbone."))
    assert not torch.equal(snapshot.start["head.weight"], given["head.weight"])
    settings = model.check_fitted().settings
    assert (settings["model"], settings["width"]) == ("cnn", 4)  # the source's architecture
    assert settings["init_from"] == str(path)
    after = model.check_fitted().network.state_dict()
    assert not same(
        part(after, "backbone.", buffers=False), part(given, "backbone.", buffers=False)
    )


def test_freeze_backbone_trains_only_the_head(
    saved_gray: tuple[ImageRegressor, Path], fast: dict[str, Any]
) -> None:
    source, path = saved_gray
    images, counts = count_images(60, seed=3)
    snapshot = Snapshot()
    model = ImageRegressor(**fast, init_from=path, freeze_backbone=True)
    model.fit(images, counts, callbacks=[snapshot])
    given = source.check_fitted().network.state_dict()
    after = model.check_fitted().network.state_dict()
    assert same(part(after, "backbone.", buffers=False), part(given, "backbone.", buffers=False))
    assert not torch.equal(after["head.weight"], snapshot.start["head.weight"])
    assert not torch.equal(after["head.weight"], given["head.weight"])
    assert model.check_fitted().settings["freeze_backbone"] is True


def test_freeze_backbone_keeps_the_backbones_normalisation_statistics(
    saved_gray: tuple[ImageRegressor, Path], fast: dict[str, Any]
) -> None:
    source, path = saved_gray
    images, counts = count_images(60, seed=3)
    model = ImageRegressor(**fast, init_from=path, freeze_backbone=True).fit(images, counts)
    given = source.check_fitted().network.state_dict()
    after = model.check_fitted().network.state_dict()
    assert same(part(after, "backbone."), part(given, "backbone."))


def test_init_from_an_rgb_model_onto_gray_images_sums_the_first_convolution(
    tmp_path: Path, fast: dict[str, Any]
) -> None:
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (20, 16, 16, 3)).astype(np.uint8)
    source = ImageRegressor(**fast).fit(colour, np.arange(20.0))
    path = source.save(tmp_path / "rgb.deepfit")
    gray, counts = count_images(20, seed=4)
    model = ImageRegressor(**fast, init_from=path, freeze_backbone=True).fit(gray, counts)
    first = "backbone.stage1.first.conv.weight"
    given = source.check_fitted().network.state_dict()[first]
    got = model.check_fitted().network.state_dict()[first]
    assert model.check_fitted().preparer.mode == "L"
    assert torch.equal(got, given.sum(dim=1, keepdim=True))


def test_init_from_a_gray_model_onto_rgb_images_spreads_the_first_convolution(
    saved_gray: tuple[ImageRegressor, Path], fast: dict[str, Any]
) -> None:
    source, path = saved_gray
    colour = np.random.default_rng(1).integers(0, 256, (20, 20, 20, 3)).astype(np.uint8)
    model = ImageRegressor(**fast, init_from=path, freeze_backbone=True)
    model.fit(colour, np.arange(20.0))
    prep = model.check_fitted().preparer
    assert (prep.mode, prep.size) == ("RGB", 16)  # image_size auto: the source's size
    first = "backbone.stage1.first.conv.weight"
    given = source.check_fitted().network.state_dict()[first]
    got = model.check_fitted().network.state_dict()[first]
    assert got.shape == (4, 3, 3, 3)
    torch.testing.assert_close(got, given.repeat(1, 3, 1, 1) / 3)


def test_init_from_a_file_that_is_not_an_image_model_is_refused(
    tmp_path: Path,
    count_arrays: tuple[np.ndarray, np.ndarray],
    fast: dict[str, Any],
) -> None:
    images, counts = count_arrays
    missing = ImageRegressor(**fast, init_from=tmp_path / "none.deepfit")
    with pytest.raises(FileNotFoundError, match="not found"):
        missing.fit(images, counts)
    junk = tmp_path / "junk.deepfit"
    junk.write_text("hello")
    with pytest.raises(ArtifactError, match="not a zip"):
        ImageRegressor(**fast, init_from=junk).fit(images, counts)


def _rewrite(path: Path, member: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members[member])
    edit(document)
    members[member] = json.dumps(document).encode()
    tampered = path.with_name(f"tampered-{member}")
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return tampered


@pytest.mark.parametrize(
    ("member", "edit", "fragment"),
    [
        ("config.json", lambda d: d["settings"].update(width=100_000), "width must be an integer"),
        ("config.json", lambda d: d["settings"].update(width=8), "malformed"),  # weights differ
        ("config.json", lambda d: d["settings"].update(model="vit"), "unknown image model"),
        ("config.json", lambda d: d["settings"].update(stem_stride=3), "stem_stride"),
        ("config.json", lambda d: d["settings"].update(dropout=1.5), "dropout"),
        ("config.json", lambda d: d.pop("settings"), "settings"),
        ("preprocessing.json", lambda d: d.update(std=[-1.0]), "std must be positive"),
        ("preprocessing.json", lambda d: d.update(mode="RGB"), "mean must be 3"),
        ("preprocessing.json", lambda d: d.update(size=100_000), "image size"),
        ("metadata.json", lambda d: d.update(kind="table"), "not an image model"),
    ],
)
def test_a_tampered_model_file_is_refused(
    image_model: ImageRegressor,
    tmp_path: Path,
    member: str,
    edit: Callable[[dict[str, Any]], None],
    fragment: str,
) -> None:
    path = image_model.save(tmp_path / "model.deepfit")
    tampered = _rewrite(path, member, edit)
    with pytest.raises(ArtifactError, match=fragment):
        ImageRegressor.load(tampered)
    assert ImageRegressor.load(path).fit_ is not None  # the original still loads


def test_network_candidates_try_the_largest_first_and_keep_what_was_given() -> None:
    auto = {"model": "auto", "width": "auto", "stem_stride": "auto"}
    small = [("cnn", 32, 1), ("cnn", 16, 1), ("cnn", 32, 2), ("cnn", 16, 2)]
    assert network_candidates(auto, 16, n_train=19_999) == small  # the cnn for small sets
    assert network_candidates(auto, 16, n_train=20_000) == [
        ("resnet", 32, 1),
        ("resnet", 16, 1),
        ("resnet", 32, 2),  # the doubled stride after the narrower network
        ("resnet", 16, 2),
        *small,
    ]
    assert network_candidates(auto | {"model": "cnn", "width": 8}, 64) == [
        ("cnn", 8, 2),
        ("cnn", 8, 4),
    ]
    assert network_candidates(auto | {"model": "cnn", "width": 8}, 12) == [("cnn", 8, 1)]
    assert network_candidates(auto | {"model": "cnn", "width": 8}, 200) == [("cnn", 8, 4)]
    assert network_candidates(auto | {"stem_stride": 2, "width": 4}, 16, 50_000) == [
        ("resnet", 4, 2),
        ("cnn", 4, 2),
    ]
    assert network_candidates({"model": "resnet", "width": 4, "stem_stride": 1}, 16) == [
        ("resnet", 4, 1)
    ]


@pytest.mark.parametrize(
    ("size", "stride"), [(8, 1), (16, 1), (40, 1), (41, 2), (64, 2), (80, 2), (81, 4), (1024, 4)]
)
def test_auto_stem_stride_leaves_the_first_stage_at_most_40_pixels(size: int, stride: int) -> None:
    assert auto_stem_stride(size) == stride


def _settings(**changes: Any) -> dict[str, Any]:
    return {
        "model": "auto",
        "width": "auto",
        "stem_stride": 1,
        "time_limit": 10.0,
        "batch_size": 64,
        "precision": "fp32",
    } | changes


SHAPE = ImageShape(channels=1, size=16)
CPU = torch.device("cpu")


def test_choose_network_without_a_time_limit_takes_the_first_candidate_untimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def untimed(*args: Any, **kwargs: Any) -> float:
        raise AssertionError("no candidate should be timed")

    monkeypatch.setattr(imaging, "step_seconds", untimed)
    unlimited = _settings(time_limit=None, stem_stride="auto")
    assert choose_network(unlimited, SHAPE, n_train=64, n_validation=0, device=CPU) == (
        ("cnn", 32, 1),
        {},
    )
    single = _settings(model="cnn", width=8, time_limit=0.001)
    assert choose_network(single, SHAPE, n_train=64, n_validation=0, device=CPU) == (
        ("cnn", 8, 1),
        {},
    )


def test_choose_network_keeps_the_first_candidate_that_trains_20_epochs_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paces = {("resnet", 32): 1.0, ("resnet", 16): 0.5, ("cnn", 32): 0.1, ("cnn", 16): 0.05}
    monkeypatch.setattr(imaging, "step_seconds", lambda model, width, *rest: paces[model, width])
    monkeypatch.setattr(imaging, "RESNET_IMAGES", 0)  # as if the data were large
    settings = _settings(time_limit=10.0)  # 20 epochs of one step: 0.5 s a step fits
    chosen, estimates = choose_network(settings, SHAPE, n_train=64, n_validation=0, device=CPU)
    assert chosen == ("resnet", 16, 1)
    assert estimates == {"resnet-32-stride1": 1.0, "resnet-16-stride1": 0.5}
    chosen, estimates = choose_network(
        settings, SHAPE, n_train=640, n_validation=0, device=CPU
    )  # ten steps an epoch: only the 0.05 s network fits
    assert chosen == ("cnn", 16, 1)
    assert estimates["cnn-32-stride1"] == pytest.approx(1.0)
    chosen, estimates = choose_network(
        _settings(time_limit=1e-6), SHAPE, n_train=64, n_validation=0, device=CPU
    )
    assert chosen == ("cnn", 16, 1)  # none fits: the last, smallest
    assert list(estimates) == [
        "resnet-32-stride1",
        "resnet-16-stride1",
        "cnn-32-stride1",
        "cnn-16-stride1",
    ]


def test_choose_network_times_real_steps_and_falls_back_to_the_last_candidate() -> None:
    settings = _settings(model="cnn", time_limit=1e-9, batch_size=2)
    chosen, estimates = choose_network(
        settings, ImageShape(channels=1, size=8), n_train=4, n_validation=2, device=CPU
    )
    assert chosen == ("cnn", 16, 1)
    assert list(estimates) == ["cnn-32-stride1", "cnn-16-stride1"]
    assert all(seconds > 0 for seconds in estimates.values())


def test_an_auto_model_records_the_paces_it_measured(
    count_arrays: tuple[np.ndarray, np.ndarray],
) -> None:
    images, counts = count_arrays
    model = ImageRegressor(model="auto", width=4, max_epochs=1, time_limit=1e-6)
    model.fit(images, counts)
    fit = model.check_fitted()
    assert (fit.settings["model"], fit.settings["width"], fit.settings["stem_stride"]) == (
        "cnn",
        4,
        2,
    )  # nothing fits the limit: the last candidate
    assert list(fit.summary["seconds_per_epoch_estimates"]) == [
        "cnn-4-stride1",
        "cnn-4-stride2",
    ]  # a small set: the cnn only


def test_candidates_are_timed_in_the_precision_training_will_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    real = imaging.step_precision

    def spy(precision: str, device: torch.device) -> Any:
        seen.append(precision)
        return real(precision, device)

    monkeypatch.setattr(imaging, "step_precision", spy)
    assert imaging.step_seconds("cnn", 8, 1, SHAPE, 4, CPU, "bf16") > 0
    assert seen == ["bf16"] * 3


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_precision_of_the_training_steps_is_recorded_and_the_weights_stay_float32(
    count_arrays: tuple[np.ndarray, np.ndarray], fast: dict[str, Any], precision: str
) -> None:
    images, counts = count_arrays
    model = ImageRegressor(**fast, precision=precision).fit(images, counts)
    fit = model.check_fitted()
    assert fit.summary["precision"] == precision
    assert {weight.dtype for weight in fit.network.parameters()} == {torch.float32}
    assert np.isfinite(model.predict(images[:3])).all()


def test_an_unknown_image_precision_is_a_one_line_error(
    count_arrays: tuple[np.ndarray, np.ndarray], fast: dict[str, Any]
) -> None:
    images, counts = count_arrays
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        ImageRegressor(**fast, precision="half").fit(images, counts)
