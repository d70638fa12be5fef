"""``deepfit train FOLDER --labels``, ``predict``, ``evaluate``, ``info`` and ``export`` of
an image model, and their one-line errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from typer.testing import Result

import deepfit
from deepfit import ImageRegressor
from tests.images.conftest import LabelledFolder, png_claiming, write_count_folder
from tests.support.cli import assert_one_line_error, invoke

FAST = ("--max-epochs", "2", "--time-limit", "none", "--model", "cnn", "--width", "4")
N_IMAGES = 80  # 68 training images leave 10 to calibrate a 0.9 interval


@contextmanager
def one_thread_lightgbm() -> Iterator[list[dict[str, Any]]]:
    """LightGBM made on one thread whatever it is asked, and the parameters it was asked.

    Small data runs on one thread anyway (test_the_lightgbm_pixel_baseline_runs_small_data_on_
    one_thread); this makes sure of it whatever the data, and records what was asked."""
    import lightgbm

    asked: list[dict[str, Any]] = []
    original = lightgbm.LGBMRegressor

    class OneThread(original):  # type: ignore[misc, valid-type]
        def __init__(self, **params: Any) -> None:
            asked.append(dict(params))
            super().__init__(**(params | {"n_jobs": 1}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lightgbm, "LGBMRegressor", OneThread)
        yield asked


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[LabelledFolder, Path, str]:
    """A folder of 80 labelled images, the model ``deepfit train`` made of it, and what
    ``train`` printed."""
    base = tmp_path_factory.mktemp("cli")
    folder = write_count_folder(base, n=N_IMAGES, seed=5)
    model = base / "count.deepfit"
    with one_thread_lightgbm() as asked:
        result = invoke(
            "train", folder.root, "--labels", folder.labels, "--target", "count", "-o", model,
            *FAST, "--quiet",
        )  # fmt: skip
    assert len(asked) == 1  # the lightgbm baseline was fitted
    assert result.exit_code == 0, result.output
    return folder, model, result.stdout


def test_train_prints_the_conversion_the_model_and_metrics_beside_baselines(
    trained: tuple[LabelledFolder, Path, str],
) -> None:
    folder, model, text = trained
    colour = sum(name.endswith(".jpg") for name in folder.files)
    gray = N_IMAGES - colour
    assert text.splitlines()[0] == (
        f"{N_IMAGES} images: {gray} L, {colour} RGB -> L; {N_IMAGES} of 16x16 -> 16x16; "
        "held in memory"
    )
    assert "predicting 'count' from 16x16 L images (pad); augmentation: none" in text
    assert "model: cnn (width 4, stem stride 1" in text
    assert "12 test images: deepfit beside baselines" in text
    rows = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert rows == ["deepfit", "mean", "ridge", "lightgbm"]
    assert f"saved model to {model}" in text
    loaded = deepfit.load(model)
    assert isinstance(loaded, ImageRegressor)
    assert loaded.metrics_ is not None
    assert set(loaded.metrics_) == {"deepfit", "mean", "ridge", "lightgbm"}
    assert (
        loaded.check_fitted().summary["train_images"]
        + loaded.check_fitted().summary["validation_images"]
        == N_IMAGES - 12
    )


def test_the_lightgbm_pixel_baseline_runs_small_data_on_one_thread() -> None:
    from deepfit.evaluation.image_baselines import fit_pixel_baselines

    rng = np.random.default_rng(0)
    pixels, target = rng.random((30, 16)).astype(np.float32), rng.random(30)
    with one_thread_lightgbm() as asked:
        fit_pixel_baselines((pixels[:20], target[:20]), (pixels[20:], target[20:]))
    assert len(asked) == 1
    assert asked[0].get("n_jobs") == 1


def test_train_takes_the_image_options(tmp_path: Path, shared_folder: LabelledFolder) -> None:
    model = tmp_path / "m.deepfit"
    result = invoke(
        "train", shared_folder.root, "--labels", shared_folder.labels, "--target", "count",
        "-o", model, *FAST, "--image-size", "12", "--resize", "crop", "--augment", "flip,shift",
        "--seed", "3", "--no-baselines", "--quiet", "--report", tmp_path / "r.html",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "augmentation: flip, shift" in result.stdout
    assert f"wrote the report on 9 test images to {tmp_path / 'r.html'}" in result.stdout
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page
    assert "<script" not in page
    assert "ridge" not in result.stdout
    fit = ImageRegressor.load(model).check_fitted()
    assert (fit.preparer.size, fit.preparer.resize) == (12, "crop")
    assert fit.settings["augment"] == ["flip", "shift"]
    assert fit.settings["random_state"] == 3


def _predictions(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def test_predict_writes_every_image_sorted_by_path(
    trained: tuple[LabelledFolder, Path, str],
) -> None:
    folder, model, _ = trained
    result = invoke("predict", model, folder.root)
    assert result.exit_code == 0, result.output
    table = _predictions(result.stdout)
    assert list(table.columns) == ["file", "predicted_count"]
    assert table["file"].tolist() == sorted(folder.files)
    expected = ImageRegressor.load(model).predict(folder.root)
    np.testing.assert_allclose(table["predicted_count"], expected, rtol=1e-12)


def test_predict_with_an_interval_adds_the_bounds(
    trained: tuple[LabelledFolder, Path, str],
) -> None:
    folder, model, _ = trained
    result = invoke("predict", model, folder.root, "--interval", "0.9")
    assert result.exit_code == 0, result.output
    table = _predictions(result.stdout)
    assert list(table.columns) == ["file", "predicted_count", "lower_count", "upper_count"]
    assert (table["lower_count"] < table["predicted_count"]).all()
    assert (table["predicted_count"] < table["upper_count"]).all()


def test_predict_to_a_file_and_refuse_to_replace_it(
    trained: tuple[LabelledFolder, Path, str], tmp_path: Path
) -> None:
    folder, model, _ = trained
    out = tmp_path / "predictions.csv"
    result = invoke("predict", model, folder.root, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {N_IMAGES} predictions to {out}" in result.stderr
    assert result.stdout == ""
    assert pd.read_csv(out)["file"].tolist() == sorted(folder.files)
    assert_one_line_error(invoke("predict", model, folder.root, "--out", out), "already exists")
    assert invoke("predict", model, folder.root, "--out", out, "--force").exit_code == 0


def test_predict_with_labels_reads_only_the_listed_files_in_their_order(
    trained: tuple[LabelledFolder, Path, str], tmp_path: Path
) -> None:
    folder, model, _ = trained
    listed = [folder.files[5], folder.files[-1], folder.files[0]]
    labels = tmp_path / "some.csv"
    pd.DataFrame({"file": listed}).to_csv(labels, index=False)  # no target column
    result = invoke("predict", model, folder.root, "--labels", labels)
    assert result.exit_code == 0, result.output
    table = _predictions(result.stdout)
    assert table["file"].tolist() == listed
    everything = _predictions(invoke("predict", model, folder.root).stdout).set_index("file")
    np.testing.assert_allclose(
        table["predicted_count"], everything.loc[listed, "predicted_count"], rtol=1e-6
    )
    with_target = tmp_path / "with_target.csv"
    pd.DataFrame({"file": listed, "count": [1, 2, 3]}).to_csv(with_target, index=False)
    again = _predictions(invoke("predict", model, folder.root, "--labels", with_target).stdout)
    assert again["file"].tolist() == listed


def test_predict_with_labels_whose_target_is_still_empty(
    trained: tuple[LabelledFolder, Path, str], tmp_path: Path
) -> None:
    folder, model, _ = trained
    labels = tmp_path / "todo.csv"
    labels.write_text(f"file,count\n{folder.files[1]},\n{folder.files[2]},\n")
    result = invoke("predict", model, folder.root, "--labels", labels)
    assert result.exit_code == 0, result.output
    assert _predictions(result.stdout)["file"].tolist() == folder.files[1:3]


def test_evaluate_prints_the_metrics_and_json(trained: tuple[LabelledFolder, Path, str]) -> None:
    folder, model, _ = trained
    result = invoke("evaluate", model, folder.root, "--labels", folder.labels)
    assert result.exit_code == 0, result.output
    assert f"images: {N_IMAGES} images" in result.stdout
    assert "deepfit" in result.stdout
    assert "MAE" in result.stdout
    document = json.loads(
        invoke("evaluate", model, folder.root, "--labels", folder.labels, "--json").stdout
    )
    assert document["images"] == N_IMAGES
    assert document["data"] == str(folder.root)
    predictions = ImageRegressor.load(model).predict(
        deepfit.kinds.image.files.read_labelled(folder.root, folder.labels, target="count")
    )
    mae = np.abs(predictions - folder.counts).mean()
    assert document["metrics"]["mae"] == pytest.approx(mae, rel=1e-9)
    assert {"rmse", "r2"} <= set(document["metrics"])


def test_evaluate_needs_labels(trained: tuple[LabelledFolder, Path, str]) -> None:
    folder, model, _ = trained
    assert_one_line_error(invoke("evaluate", model, folder.root), "needs --labels", "'count'")
    assert_one_line_error(
        invoke("evaluate", model, folder.root, "--labels", folder.labels, "--cv", "3"),
        "do not apply to an image model",
    )


def test_info_describes_the_model_in_text_and_json(
    trained: tuple[LabelledFolder, Path, str],
) -> None:
    _, model, _ = trained
    result = invoke("info", model)
    assert result.exit_code == 0, result.output
    assert f"{model}: predicts 'count' from images (regression)" in result.stdout
    assert "model: cnn (width 4, stem stride 1" in result.stdout
    assert "test images at training time" in result.stdout
    assert "lightgbm" in result.stdout
    document = json.loads(invoke("info", model, "--json").stdout)
    assert (document["kind"], document["task"], document["target"]) == (
        "image",
        "regression",
        "count",
    )
    assert document["preprocessing"]["size"] == 16
    assert document["preprocessing"]["mode"] == "L"
    assert document["settings"]["model"] == "cnn"
    assert document["parameters"] > 0
    assert set(document["metrics"]) == {"deepfit", "mean", "ridge", "lightgbm"}


def test_export_writes_an_onnx_file_matching_the_model(
    trained: tuple[LabelledFolder, Path, str], tmp_path: Path
) -> None:
    folder, model, _ = trained
    path = tmp_path / "count.onnx"
    result = invoke("export", model, "--onnx", path, "--data", folder.root)
    assert result.exit_code == 0, result.output
    assert "input 'image' uint8 [batch, 16, 16, 1]" in result.stdout
    assert "onnxruntime matches torch" in result.stdout
    regressor = ImageRegressor.load(model)
    opened = regressor.open_for_prediction(folder.root)
    images = opened.store.take(np.arange(N_IMAGES)).permute(0, 2, 3, 1).numpy()
    assert images.dtype == np.uint8
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": images})
    np.testing.assert_allclose(got, regressor.predict(folder.root), rtol=0, atol=1e-4)
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert props["deepfit_kind"] == "image"
    assert props["deepfit_target"] == "count"
    assert json.loads(props["deepfit_image"])["size"] == 16
    assert_one_line_error(invoke("export", model, "--onnx", path), "already exists")
    assert_one_line_error(
        invoke("export", model, "--onnx", tmp_path / "q.onnx", "--quantize"),
        "--quantize and --target do not apply to an image model",
    )


def _train(*args: object) -> Result:
    return invoke("train", *args, *FAST, "--quiet")


def test_a_folder_without_labels_is_a_one_line_error(
    shared_folder: LabelledFolder, tmp_path: Path
) -> None:
    result = _train(shared_folder.root, "--target", "count", "-o", tmp_path / "m.deepfit")
    assert_one_line_error(result, "is a folder of images", "--labels labels.csv")
    assert not (tmp_path / "m.deepfit").exists()


def test_a_corrupt_image_is_named_and_skip_bad_leaves_it_out(
    count_folder: LabelledFolder, tmp_path: Path
) -> None:
    bad = count_folder.root / count_folder.files[6]
    bad.write_bytes(b"this is no image")
    model = tmp_path / "m.deepfit"
    args = (count_folder.root, "--labels", count_folder.labels, "--target", "count", "-o", model)
    assert_one_line_error(_train(*args), str(bad), "--skip-bad")
    assert not model.exists()
    result = _train(*args, "--skip-bad", "--no-baselines")
    assert result.exit_code == 0, result.output
    assert "note: skipped 1 unreadable image(s) (--skip-bad)" in result.stderr
    assert "59 images: 40 L, 19 RGB -> L; 59 of 16x16 -> 16x16; skipped 1 unreadable " in (
        result.stdout
    )  # the bad file was a JPEG
    assert model.exists()
    assert_one_line_error(invoke("predict", model, count_folder.root), str(bad), "--skip-bad")
    predicted = invoke("predict", model, count_folder.root, "--skip-bad")
    assert predicted.exit_code == 0, predicted.output
    assert "note: skipped 1 unreadable image(s)" in predicted.stderr
    assert count_folder.files[6] not in _predictions(predicted.stdout)["file"].tolist()
    assert len(_predictions(predicted.stdout)) == 59


def test_skip_bad_leaves_out_a_decompression_bomb(
    count_folder: LabelledFolder, tmp_path: Path
) -> None:
    (count_folder.root / count_folder.files[6]).write_bytes(png_claiming(20_000, 20_000))
    result = _train(
        count_folder.root, "--labels", count_folder.labels, "--target", "count",
        "-o", tmp_path / "m.deepfit", "--skip-bad", "--no-baselines",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "skipped 1 unreadable" in result.stderr


@pytest.mark.parametrize(
    ("labels", "fragments"),
    [
        ("path,count\nimg_001.png,1\n", ["no column 'file'", "name the paths' column 'file'"]),
        ("file,count\nimg_001.png,1\nimg_002.png,lots\n", ["row 3", "'lots'"]),
        ("file,count\nimg_001.png,1\nmissing.png,1\n", ["'missing.png'", "not a file"]),
        ("file,count\n../labels.csv,1\n", ["outside the folder"]),
        ("file,age\nimg_001.png,1\n", ["no column 'count'", "--target"]),
    ],
    ids=["no-file-column", "not-numeric", "missing-file", "outside", "no-target"],
)
def test_a_bad_labels_table_is_a_one_line_error(
    shared_folder: LabelledFolder, tmp_path: Path, labels: str, fragments: list[str]
) -> None:
    table = tmp_path / "labels.csv"
    table.write_text(labels)
    result = _train(shared_folder.root, "--labels", table, "--target", "count", "-o",
                    tmp_path / "m.deepfit")  # fmt: skip
    assert_one_line_error(result, *fragments)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--hidden-layers", "8"), "--hidden-layers does not apply to image models"),
        (("--time", "timestamp"), "--time does not apply to image models"),
        (("--task", "classification"), "--task classification does not apply to image models"),
        (("--categorical", "a"), "--categorical does not apply to image models"),
        (("--image-size", "4"), "--image-size"),
        (("--augment", "spin"), "--augment"),
    ],
)
def test_an_option_images_do_not_take_is_a_one_line_error(
    shared_folder: LabelledFolder, tmp_path: Path, extra: tuple[str, ...], fragment: str
) -> None:
    result = _train(
        shared_folder.root, "--labels", shared_folder.labels, "--target", "count",
        "-o", tmp_path / "m.deepfit", *extra,
    )  # fmt: skip
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--image-size", "16"), "--image-size applies to image models"),
        (("--augment", "flip"), "--augment applies to image models"),
        (("--skip-bad",), "--skip-bad applies to folders of images only"),
    ],
)
def test_an_image_option_on_a_table_is_a_one_line_error(
    tmp_path: Path, extra: tuple[str, ...], fragment: str
) -> None:
    table = tmp_path / "table.csv"
    pd.DataFrame({"a": np.arange(40.0), "y": np.arange(40.0) * 2}).to_csv(table, index=False)
    result = invoke("train", table, "--target", "y", "-o", tmp_path / "m.deepfit", *extra)
    assert_one_line_error(result, fragment)


def test_labels_with_a_table_file_as_data_is_a_one_line_error(
    shared_folder: LabelledFolder, tmp_path: Path
) -> None:
    result = _train(shared_folder.labels, "--labels", shared_folder.labels, "--target", "count",
                    "-o", tmp_path / "m.deepfit")  # fmt: skip
    assert_one_line_error(result, "is not a folder")


def test_predict_of_an_image_model_refuses_table_options_and_files(
    trained: tuple[LabelledFolder, Path, str],
) -> None:
    folder, model, _ = trained
    assert_one_line_error(
        invoke("predict", model, folder.root, "--with-input"), "--with-input does not apply"
    )
    assert_one_line_error(invoke("predict", model, folder.labels), "is not a folder")
    assert_one_line_error(invoke("predict", model, folder.root, "--interval", "1.5"), "1.5")
