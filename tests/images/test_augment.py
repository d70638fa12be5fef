"""Augmenting a normalised image batch: each transform's effect, seeding, the saved setting."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional

from deepfit.errors import ConfigError
from deepfit.kinds.image.augment import (
    AUGMENTATIONS,
    Augmenter,
    brightened,
    check_augment,
    contrasted,
    cropped,
    flipped,
    shifted,
)

SHAPES = [(8, 1, 28, 28), (8, 3, 64, 64), (6, 3, 28, 40)]


def batch(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_check_augment_orders_and_deduplicates() -> None:
    assert check_augment(["crop", "flip", "crop", "brightness"]) == ("flip", "brightness", "crop")
    assert check_augment([]) == ()
    assert check_augment(list(reversed(AUGMENTATIONS))) == AUGMENTATIONS


def test_check_augment_names_the_unknown_one_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'rotate'.*flip.*crop"):
        check_augment(["flip", "rotate"])
    with pytest.raises(ConfigError, match="list of names"):
        check_augment("flip")


@pytest.mark.parametrize(
    "strength",
    [
        {"shift": 1.0},
        {"shift": -0.1},
        {"brightness": -1},
        {"brightness": float("inf")},
        {"contrast": 1.5},
        {"crop": 0.0},
        {"crop": 1.2},
        {"crop": True},
        {"shift": "0.1"},
    ],
)
def test_a_strength_out_of_range_is_a_config_error(strength: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=next(iter(strength))):
        Augmenter(["flip"], **strength)  # type: ignore[arg-type]


def test_no_transform_returns_the_same_batch() -> None:
    images = batch((2, 3, 28, 28))
    assert Augmenter([])(images, seeded(0)) is images


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_transform_keeps_shape_dtype_and_leaves_the_input_alone(
    name: str, shape: tuple[int, ...]
) -> None:
    images = batch(shape)
    before = images.clone()
    out = Augmenter([name])(images, seeded(1))
    assert out.shape == images.shape
    assert out.dtype == images.dtype
    assert out.device == images.device
    assert not out.is_set_to(images)
    assert out.untyped_storage().data_ptr() != images.untyped_storage().data_ptr()
    assert torch.equal(images, before)


def test_all_transforms_together_keep_float64() -> None:
    images = batch((4, 3, 28, 28)).double()
    out = Augmenter(AUGMENTATIONS)(images, seeded(0))
    assert out.dtype == torch.float64
    assert out.shape == images.shape
    assert torch.isfinite(out).all()


def test_the_same_seed_gives_the_same_batch_and_another_seed_another() -> None:
    augment = Augmenter(AUGMENTATIONS)
    images = batch((8, 3, 28, 28))
    first = augment(images, seeded(5))
    assert torch.equal(first, augment(images, seeded(5)))
    assert not torch.allclose(first, augment(images, seeded(6)))


@pytest.mark.parametrize(("name", "dim"), [("flip", -1), ("vflip", -2)])
def test_a_flip_reverses_exactly_the_chosen_images(name: str, dim: int) -> None:
    images = batch((64, 3, 28, 40))
    out = Augmenter([name])(images, seeded(2))
    mirrored = torch.tensor([torch.equal(o, i.flip(dim)) for o, i in zip(out, images, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, images, strict=True)])
    assert (mirrored ^ kept).all()
    assert 16 < int(mirrored.sum()) < 48


def test_flipped_with_a_given_choice() -> None:
    images = batch((3, 1, 28, 28))
    out = flipped(images, torch.tensor([True, False, True]), dim=-1)
    assert torch.equal(out[0], images[0].flip(-1))
    assert torch.equal(out[1], images[1])
    assert torch.equal(out[2, 0, :, 0], images[2, 0, :, -1])


def test_shifted_moves_a_bright_pixel_by_its_offset() -> None:
    images = torch.zeros(2, 1, 28, 64)
    images[:, 0, 10, 20] = 1.0
    out = shifted(images, dx=torch.tensor([3, -5]), dy=torch.tensor([-2, 4]))
    assert out[0, 0, 8, 23] == 1.0
    assert out[1, 0, 14, 15] == 1.0
    assert out.sum(dim=(1, 2, 3)).tolist() == [1.0, 1.0]


def test_shifted_repeats_the_edge_into_the_border() -> None:
    images = torch.arange(28.0).expand(1, 3, 28, 28).clone()  # a column's value is its index
    out = shifted(images, dx=torch.tensor([4]), dy=torch.tensor([0]))
    assert (out[0, :, :, :5] == 0.0).all()
    assert torch.equal(out[0, :, :, 5:], images[0, :, :, 1:24])


def test_shift_moves_each_image_by_at_most_its_bound() -> None:
    images = torch.zeros(64, 1, 28, 64)
    images[:, 0, 14, 32] = 1.0
    out = Augmenter(["shift"], shift=0.1)(images, seeded(3))
    flat = out.flatten(1).argmax(dim=1)
    rows, cols = flat // 64, flat % 64
    assert out.sum(dim=(1, 2, 3)).eq(1.0).all()
    assert (rows - 14).abs().max() == 2  # 0.1 of 28 rows
    assert (cols - 32).abs().max() == 6  # 0.1 of 64 columns
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10


def test_brightness_moves_each_mean_by_at_most_its_bound() -> None:
    images = batch((64, 3, 28, 28))
    out = Augmenter(["brightness"], brightness=0.3)(images, seeded(4))
    change = (out - images).flatten(1)
    assert torch.allclose(change, change[:, :1].expand_as(change), atol=1e-6)
    assert change.abs().max() <= 0.3 + 1e-6
    assert change[:, 0].std() > 0.1
    assert torch.equal(brightened(images, torch.full((64,), 0.5)), images + 0.5)


def test_contrast_keeps_each_images_means_and_scales_its_spread() -> None:
    images = batch((64, 3, 28, 28))
    out = Augmenter(["contrast"], contrast=0.4)(images, seeded(5))
    assert torch.allclose(out.mean(dim=(2, 3)), images.mean(dim=(2, 3)), atol=1e-5)
    ratio = out.std(dim=(2, 3)) / images.std(dim=(2, 3))
    assert ((ratio >= 0.6 - 1e-5) & (ratio <= 1.4 + 1e-5)).all()
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)  # one factor an image
    twice = contrasted(images, torch.full((64,), 2.0))
    assert torch.allclose(twice.std(dim=(2, 3)), 2.0 * images.std(dim=(2, 3)), atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_crop_keeping_everything_is_the_identity(shape: tuple[int, ...]) -> None:
    images = batch(shape)
    out = Augmenter(["crop"], crop=1.0)(images, seeded(6))
    assert torch.allclose(out, images, atol=1e-5)


def test_cropped_half_of_each_side_is_the_corner_resized() -> None:
    images = batch((2, 3, 28, 28))
    out = cropped(images, torch.tensor([0.5, 0.5]), torch.tensor([[-0.5, -0.5], [0.5, 0.5]]))
    corners = torch.stack([images[0, :, :14, :14], images[1, :, 14:, 14:]])
    resized = functional.interpolate(corners, size=(28, 28), mode="bilinear")
    # the last row and column blend in the pixels just past the corner, which a resize cannot see
    assert torch.allclose(out[0, :, :-1, :-1], resized[0, :, :-1, :-1], atol=1e-5)
    assert torch.allclose(out[1, :, 1:, 1:], resized[1, :, 1:, 1:], atol=1e-5)


def test_crop_zooms_in_and_never_reaches_past_the_image() -> None:
    images = torch.zeros(32, 1, 28, 28)
    images[:, :, 12:16, 12:16] = 1.0  # a 4 x 4 square in the middle
    out = Augmenter(["crop"], crop=0.6)(images, seeded(7))
    area = out.sum(dim=(1, 2, 3))
    assert (area >= 16.0 - 1e-3).all()  # zooming in never shrinks the square
    assert (area <= 16.0 / 0.6**2 + 1e-3).all()
    assert area.max() > 20.0


def test_works_on_an_empty_batch() -> None:
    images = torch.zeros(0, 3, 28, 28)
    assert Augmenter(AUGMENTATIONS)(images, seeded(0)).shape == images.shape


def test_a_batch_that_is_not_a_float_image_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="float batch"):
        Augmenter(["flip"])(torch.zeros(3, 28, 28), seeded(0))
    with pytest.raises(ValueError, match="float batch"):
        Augmenter(["flip"])(torch.zeros(1, 3, 28, 28, dtype=torch.uint8), seeded(0))


def test_the_setting_round_trips_through_json() -> None:
    augment = Augmenter(["crop", "flip"], shift=0.05, brightness=0.1, contrast=0.3, crop=0.7)
    document = json.loads(json.dumps(augment.to_dict()))
    again = Augmenter.from_dict(document)
    assert again.names == ("flip", "crop")
    assert again.to_dict() == augment.to_dict()
    images = batch((4, 3, 28, 28))
    assert torch.equal(augment(images, seeded(8)), again(images, seeded(8)))


@pytest.mark.parametrize(
    "document",
    [
        None,
        ["flip"],
        {"names": ["flip"]},
        {"names": "flip", "shift": 0.1, "brightness": 0.2, "contrast": 0.2, "crop": 0.8},
        {"names": [1], "shift": 0.1, "brightness": 0.2, "contrast": 0.2, "crop": 0.8},
        {"names": ["spin"], "shift": 0.1, "brightness": 0.2, "contrast": 0.2, "crop": 0.8},
        {"names": [], "shift": "x", "brightness": 0.2, "contrast": 0.2, "crop": 0.8},
        {"names": [], "shift": 0.1, "brightness": 0.2, "contrast": 0.2, "crop": 2.0},
        {"names": [], "shift": 0.1, "brightness": 0.2, "contrast": 0.2, "crop": 0.8, "x": 1},
    ],
)
def test_a_malformed_setting_is_refused(document: object) -> None:
    with pytest.raises(ValueError, match="augment"):
        Augmenter.from_dict(document)
