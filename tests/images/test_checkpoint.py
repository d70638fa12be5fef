"""Checkpoints of an image fit: a crashed run resumed ends bit-identical to one never stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from deepfit import ImageRegressor
from deepfit.cli import app
from deepfit.errors import ConfigError, DataError
from deepfit.training.checkpoint import CHECKPOINT_FILE, load_checkpoint
from tests.support.callbacks import Crash
from tests.support.devices import assert_same_predictions

SMALL: dict[str, Any] = {
    "model": "cnn",
    "width": 4,
    "time_limit": None,
    "max_epochs": 6,
    "patience": 50,
    "augment": ["shift", "brightness"],  # the augmentation's draws must resume too
}


def squares(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n, 12, 12), dtype=np.uint8)
    counts = rng.integers(0, 4, n)
    for image, k in zip(images, counts, strict=True):
        for row, col in rng.integers(0, 10, (k, 2)):
            image[row : row + 2, col : col + 2] = 250
    return images, counts.astype(float)


def test_a_crashed_image_run_resumes_to_the_uninterrupted_weights_bit_for_bit(
    tmp_path: Path,
) -> None:
    images, counts = squares()
    uninterrupted = ImageRegressor(**SMALL).fit(images, counts)
    folder = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        ImageRegressor(**SMALL, checkpoint_dir=folder, checkpoint_every=2).fit(
            images, counts, callbacks=[Crash(at=5)]
        )
    assert load_checkpoint(folder / CHECKPOINT_FILE).epoch == 4

    resumed = ImageRegressor(**SMALL, checkpoint_dir=folder, checkpoint_every=2)
    resumed.fit(images, counts, resume=True)
    assert resumed.check_fitted().summary["resumed_from_epoch"] == 4
    first = uninterrupted.check_fitted().network.state_dict()
    second = resumed.check_fitted().network.state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)
    drop = "seconds"
    assert [{k: v for k, v in r.items() if k != drop} for r in resumed.check_fitted().history] == [
        {k: v for k, v in r.items() if k != drop} for r in uninterrupted.check_fitted().history
    ]


def test_resuming_with_other_images_or_without_a_folder_is_refused(tmp_path: Path) -> None:
    images, counts = squares()
    folder = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        ImageRegressor(**SMALL, checkpoint_dir=folder).fit(images, counts, callbacks=[Crash(2)])
    other, _ = squares(seed=1)
    with pytest.raises(DataError, match="other data"):
        ImageRegressor(**SMALL, checkpoint_dir=folder).fit(other, counts, resume=True)
    with pytest.raises(ConfigError, match="other settings"):
        ImageRegressor(**{**SMALL, "augment": ["flip"]}, checkpoint_dir=folder).fit(
            images, counts, resume=True
        )
    with pytest.raises(ConfigError, match="resume needs checkpoint_dir"):
        ImageRegressor(**SMALL).fit(images, counts, resume=True)


def test_train_resume_on_the_command_line_continues_the_checkpointed_run(tmp_path: Path) -> None:
    from PIL import Image

    images, counts = squares(40)
    folder = tmp_path / "photos"
    folder.mkdir()
    lines = ["file,count"]
    for index, (image, count) in enumerate(zip(images, counts, strict=True)):
        Image.fromarray(image).save(folder / f"{index:02d}.png")
        lines.append(f"{index:02d}.png,{count:g}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    common = [
        "train", str(folder), "--labels", str(tmp_path / "labels.csv"), "--target", "count",
        "--model", "cnn", "--width", "4", "--time-limit", "none", "--max-epochs", "3",
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--no-baselines", "-q",
    ]  # fmt: skip
    first = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "a.deepfit")])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "b.deepfit"), "--resume"])
    assert again.exit_code == 0, again.output
    assert "resumed from the checkpoint of epoch 3" in again.output


def test_a_loaded_image_model_forgets_its_checkpoint_folder(tmp_path: Path) -> None:
    images, counts = squares()
    model = ImageRegressor(**SMALL, checkpoint_dir=tmp_path / "run").fit(images, counts)
    loaded = ImageRegressor.load(model.save(tmp_path / "m.deepfit"))
    assert loaded.checkpoint_dir is None  # refitting it must not write into the old run
    assert_same_predictions(loaded.predict(images), model.predict(images))
