"""``deepfit report`` and ``deepfit explain`` of an image model, and their functions."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfit import ImageRegressor, Regressor
from deepfit.errors import ConfigError, DataError, OutputExistsError
from deepfit.explain.image import SALIENCY, caption, centre_share, explain_images
from deepfit.kinds.image.files import read_labelled
from deepfit.kinds.image.source import OpenedImages
from deepfit.report.image import GRID_IMAGES, build_image_report, write_image_report
from tests.support.cli import assert_one_line_error, invoke
from tests.support.devices import assert_same_predictions
from tests.support.tables import make_table

SIDE = 12
N_IMAGES = 30
TINY: dict[str, Any] = {
    "model": "cnn",
    "width": 4,
    "max_epochs": 2,
    "time_limit": None,
    "image_size": SIDE,
}
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
PNG = b"\x89PNG\r\n\x1a\n"


class ReportFolder(NamedTuple):
    root: Path
    labels: Path
    files: list[str]
    target: np.ndarray


class ReportModel(NamedTuple):
    model: ImageRegressor
    path: Path
    folder: ReportFolder


def write_folder(base: Path) -> ReportFolder:
    """``N_IMAGES`` grayscale 12 px PNGs, each a dark square with a bright block whose size
    is the target; ``labels.csv`` (``file``, ``size``) beside the folder."""
    rng = np.random.default_rng(3)
    root = base / "images"
    (root / "sub").mkdir(parents=True)
    files, target = [], []
    for index in range(N_IMAGES):
        side = int(rng.integers(0, 6))
        pixels = rng.integers(0, 30, (SIDE, SIDE)).astype(np.uint8)
        top, left = rng.integers(0, SIDE - side + 1, 2)
        pixels[top : top + side, left : left + side] = 220
        name = f"{'sub/' if index % 10 == 9 else ''}pic_{index:02d}.png"
        Image.fromarray(pixels, "L").save(root / name)
        files.append(name)
        target.append(float(side))
    labels = base / "labels.csv"
    pd.DataFrame({"file": files, "size": target}).to_csv(labels, index=False)
    return ReportFolder(root, labels, files, np.asarray(target))


@pytest.fixture(scope="session")
def report_trained(tmp_path_factory: pytest.TempPathFactory) -> ReportModel:
    """A tiny network fitted once on a labelled folder, and saved; do not change them."""
    folder = write_folder(tmp_path_factory.mktemp("report_images"))
    model = ImageRegressor(**TINY).fit(folder.root, labels=folder.labels, target="size")
    path = model.save(folder.root.parent / "size.deepfit")
    return ReportModel(model, path, folder)


@pytest.fixture(scope="session")
def report_opened(report_trained: ReportModel) -> OpenedImages:
    """The labelled folder, opened as the model reads it."""
    folder = report_trained.folder
    files = read_labelled(folder.root, folder.labels, target="size")
    return report_trained.model.open_for_prediction(files)


@pytest.fixture(scope="session")
def report_table_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A one-epoch table model saved to a file, and a labelled CSV for it."""
    base = tmp_path_factory.mktemp("report_table")
    frame = make_table(n_rows=60)
    model = Regressor(model="mlp", hidden_layers=(8,), max_epochs=1, time_limit=None)
    model.fit(frame.drop(columns="y"), frame["y"])
    data = base / "data.csv"
    frame.to_csv(data, index=False)
    return model.save(base / "table.deepfit"), data


def section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match is not None, anchor
    return match.group(1)


def cells(fragment: str) -> list[list[str]]:
    """The body rows of the first table in ``fragment``, unescaped."""
    body = re.search(r"<tbody>(.*?)</tbody>", fragment, re.S)
    assert body is not None
    return [
        [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1))
    ]


# ---- the report ----------------------------------------------------------------------------


def test_the_page_has_every_section_and_embeds_its_charts(
    report_trained: ReportModel, report_opened: OpenedImages
) -> None:
    page = build_image_report(report_trained.model, report_opened)
    assert re.findall(r'<section id="([^"]+)">', page) == [
        "metrics",
        "fit",
        "images",
        "learning",
        "settings",
    ]
    images = IMG.findall(page)
    assert len(images) == page.count("<img ") == 3  # scatter, grid, learning curves
    for encoded in images:
        assert base64.b64decode(encoded, validate=True).startswith(PNG)
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert f"images: {N_IMAGES}" in page

    metrics = cells(section(page, "metrics"))
    assert [row[0] for row in metrics] == ["MAE", "RMSE", "R²"]
    assert "mean of the training target" in section(page, "metrics")
    assert all(len(row) == 3 for row in metrics)  # deepfit and the reference

    settings = dict(cells(section(page, "settings")))
    for item in (
        "model", "width", "stem_stride", "image_size", "augment", "epochs", "seconds",
        "stop_reason",
    ):  # fmt: skip
        assert item in settings, item
    assert settings["model"] == "cnn"
    assert settings["width"] == "4"
    assert settings["image_size"] == str(SIDE)
    assert settings["augment"] == "none"
    assert settings["epochs"] == "2"


def test_the_grid_shows_the_worst_errors_first(
    report_trained: ReportModel, report_opened: OpenedImages
) -> None:
    page = build_image_report(report_trained.model, report_opened)
    rows = cells(section(page, "images"))
    assert len(rows) == GRID_IMAGES < N_IMAGES
    predicted = report_trained.model.predict_opened(report_opened)
    truth = np.asarray(report_opened.target)
    errors = np.abs(predicted - truth)
    expected = [report_opened.names[i] for i in np.argsort(-errors, kind="stable")[:GRID_IMAGES]]
    assert [row[1] for row in rows] == expected
    assert [row[0] for row in rows] == [str(rank) for rank in range(1, GRID_IMAGES + 1)]
    shown = [abs(float(row[4])) for row in rows]
    assert shown == sorted(shown, reverse=True)


def test_write_image_report_is_atomic_and_refuses_to_replace(
    report_trained: ReportModel, report_opened: OpenedImages, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    assert write_image_report(report_trained.model, report_opened, path) == path
    first = path.read_bytes()
    assert first.decode("utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(OutputExistsError, match="--force"):
        write_image_report(report_trained.model, report_opened, path)
    assert path.read_bytes() == first
    write_image_report(report_trained.model, report_opened, path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left over


def test_the_report_needs_labelled_images(report_trained: ReportModel) -> None:
    unlabelled = report_trained.model.open_for_prediction(report_trained.folder.root)
    with pytest.raises(DataError, match="labelled"):
        build_image_report(report_trained.model, unlabelled)


def test_caption_and_centre_share() -> None:
    assert caption(3.0, 3.4) == "true 3 · pred 3.4"
    assert caption(None, 2.0) == "pred 2"
    heat = np.zeros((8, 8))
    heat[2:6, 2:6] = 1.0
    assert centre_share(heat) == 1.0
    assert centre_share(np.ones((8, 8))) == 0.25
    assert np.isnan(centre_share(np.zeros((8, 8))))


# ---- explain -------------------------------------------------------------------------------


def test_explain_images_writes_a_png_per_image_and_the_saliency_table(
    report_trained: ReportModel, report_opened: OpenedImages, tmp_path: Path
) -> None:
    out = tmp_path / "why"
    written = explain_images(report_trained.model, report_opened, out, count=3, seed=1)
    pngs = [path for path in written if path.suffix == ".png"]
    assert len(pngs) == 3
    assert written[-1] == out / SALIENCY
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    for path in pngs:
        assert path.read_bytes().startswith(PNG)
        with Image.open(path) as picture:
            assert min(picture.size) > 100  # a drawn figure, not the 12 px image
    table = pd.read_csv(out / SALIENCY)
    assert list(table.columns) == [
        "file", "true", "predicted", "centre_share", "border_share", "overlay",
    ]  # fmt: skip
    assert table["overlay"].tolist() == [p.name for p in pngs]
    labels = pd.read_csv(report_trained.folder.labels).set_index("file")["size"]
    assert table["true"].tolist() == labels.loc[table["file"]].tolist()
    rows = [report_opened.names.index(name) for name in table["file"]]
    predicted = report_trained.model.predict_opened(report_opened)[rows]
    assert_same_predictions(table["predicted"], predicted, rtol=1e-5)
    shares = table["centre_share"] + table["border_share"]
    np.testing.assert_allclose(shares, 1.0)
    assert table["centre_share"].between(0, 1).all()

    again = explain_images(
        report_trained.model, report_opened, out, count=3, seed=1, overwrite=True
    )
    again_table = pd.read_csv(again[-1])  # seeded: the same images, the same numbers
    assert again_table[["file", "overlay"]].equals(table[["file", "overlay"]])
    numbers = ["true", "predicted", "centre_share", "border_share"]
    assert_same_predictions(again_table[numbers], table[numbers])


def test_explain_images_is_bounded_and_refuses_a_full_folder(
    report_trained: ReportModel,
    report_opened: OpenedImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("deepfit.explain.image.MAX_COUNT", 2)
    out = tmp_path / "why"
    written = explain_images(report_trained.model, report_opened, out, count=50)
    assert len(written) == 3  # two images and the table
    with pytest.raises(OutputExistsError, match="not empty"):
        explain_images(report_trained.model, report_opened, out, count=1)
    with pytest.raises(ConfigError, match="count"):
        explain_images(report_trained.model, report_opened, tmp_path / "none", count=0)
    assert not (tmp_path / "none").exists()


def test_explain_images_of_unlabelled_rgb_arrays(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (12, SIDE, SIDE, 3), dtype=np.uint8)
    model = ImageRegressor(**TINY).fit(pixels, pixels.mean(axis=(1, 2, 3)))
    written = explain_images(model, model.open_for_prediction(pixels), tmp_path / "w", count=2)
    table = pd.read_csv(written[-1])
    assert len(table) == 2
    assert table["true"].isna().all()
    assert all(path.read_bytes().startswith(PNG) for path in written[:-1])


# ---- the command line ----------------------------------------------------------------------


def test_cli_report_of_an_image_model(report_trained: ReportModel, tmp_path: Path) -> None:
    folder = report_trained.folder
    out = tmp_path / "r.html"
    result = invoke("report", report_trained.path, folder.root, "--labels", folder.labels,
                    "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote the report on {N_IMAGES} images to {out}" in result.stdout
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page
    assert len(IMG.findall(page)) == 3
    again = invoke("report", report_trained.path, folder.root, "--labels", folder.labels,
                   "-o", out)  # fmt: skip
    assert_one_line_error(again, "--force")
    missing = invoke("report", report_trained.path, folder.root, "-o", tmp_path / "m.html")
    assert_one_line_error(missing, "--labels", "'size'")
    assert not (tmp_path / "m.html").exists()
    wrong = invoke("report", report_trained.path, folder.root, "--labels", folder.labels,
                   "--target", "age", "-o", tmp_path / "w.html")  # fmt: skip
    assert_one_line_error(wrong, "'age'")


def test_cli_explain_of_an_image_model(report_trained: ReportModel, tmp_path: Path) -> None:
    folder = report_trained.folder
    out = tmp_path / "why"
    options = ["--labels", folder.labels, "-o", out, "--rows", 2]
    result = invoke("explain", report_trained.path, folder.root, *options)
    assert result.exit_code == 0, result.output
    assert "centre share" in result.stdout
    assert f"wrote 3 files to {out}" in result.stdout
    table = pd.read_csv(out / SALIENCY)
    assert len(table) == 2
    assert set(table["file"]) <= set(folder.files)
    assert len(list(out.glob("*.png"))) == 2
    before = (out / SALIENCY).read_bytes()

    again = invoke("explain", report_trained.path, folder.root, *options)
    assert_one_line_error(again, "--force", str(out))
    assert (out / SALIENCY).read_bytes() == before
    forced = invoke("explain", report_trained.path, folder.root, *options, "--seed", 5, "--force")
    assert forced.exit_code == 0, forced.output

    default = invoke("explain", report_trained.path, folder.root, "--labels", folder.labels,
                     "-o", tmp_path / "default")  # fmt: skip
    assert default.exit_code == 0, default.output
    assert len(pd.read_csv(tmp_path / "default" / SALIENCY)) == 8


@pytest.mark.parametrize("option", [["--top", "1"], ["--repeats", "2"]])
def test_cli_explain_refuses_table_options_for_an_image_model(
    report_trained: ReportModel, tmp_path: Path, option: list[str]
) -> None:
    folder = report_trained.folder
    result = invoke("explain", report_trained.path, folder.root, "--labels", folder.labels,
                    "-o", tmp_path / "o", *option)  # fmt: skip
    assert_one_line_error(result, option[0], "image model")
    assert not (tmp_path / "o").exists()


def test_cli_explain_of_an_image_model_needs_labels(
    report_trained: ReportModel, tmp_path: Path
) -> None:
    result = invoke("explain", report_trained.path, report_trained.folder.root, "-o",
                    tmp_path / "o")  # fmt: skip
    assert_one_line_error(result, "--labels", "'file' column")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["explain", "report"])
def test_labels_for_a_table_model_is_refused(
    report_table_model: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    model, data = report_table_model
    labels = tmp_path / "labels.csv"
    labels.write_text("file,y\na.png,1\n")
    out = tmp_path / ("o.html" if command == "report" else "o")
    result = invoke(command, model, data, "--labels", labels, "-o", out)
    assert_one_line_error(result, "--labels", "applies to image models only")
    assert not out.exists()


def test_data_help_mentions_a_folder_of_images() -> None:
    for command in ("explain", "report"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "folder of images" in " ".join(result.stdout.split())
