"""Decoding image files: formats, modes, resizing, bad files, limits and the conversion line."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from deepfit.errors import ConfigError, DataError
from deepfit.kinds.image import decode
from deepfit.kinds.image.decode import (
    BadImageError,
    Conversions,
    check_mode,
    check_resize,
    decode_bytes,
    decode_counted,
    decode_file,
    decode_many,
    fit_array,
    header,
    majority_mode,
    median_side,
    target_mode,
)
from deepfit.kinds.image.files import find_images
from deepfit.kinds.image.source import array_images
from tests.images.conftest import png_claiming


def gradient(width: int = 16, height: int = 16) -> np.ndarray:
    """A uint8 [height, width] image whose every pixel differs from its neighbours."""
    return ((np.arange(height)[:, None] * 7 + np.arange(width)[None, :] * 3) % 256).astype(np.uint8)


def saved(path: Path, image: Image.Image, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


@pytest.mark.parametrize("suffix", ["png", "bmp", "tif"])
def test_each_lossless_format_decodes_to_the_same_pixels(tmp_path: Path, suffix: str) -> None:
    pixels = gradient()
    path = saved(tmp_path / f"a.{suffix}", Image.fromarray(pixels))
    out = decode_file(path, mode="L", size=16)
    assert out.dtype == np.uint8
    assert out.shape == (16, 16, 1)
    np.testing.assert_array_equal(out[:, :, 0], pixels)


def test_a_lossless_webp_and_an_animated_gifs_first_frame_decode_to_their_pixels(
    tmp_path: Path,
) -> None:
    pixels = gradient()
    webp = saved(tmp_path / "a.webp", Image.fromarray(pixels).convert("RGB"), lossless=True)
    np.testing.assert_array_equal(decode_file(webp, mode="L", size=16)[:, :, 0], pixels)
    frames = [Image.fromarray(pixels), Image.fromarray(255 - pixels)]
    gif = saved(tmp_path / "b.gif", frames[0], save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(decode_file(gif, mode="L", size=16)[:, :, 0], pixels)
    assert find_images(tmp_path).files == ("a.webp", "b.gif")


def test_a_jpeg_decodes_close_to_its_pixels(tmp_path: Path) -> None:
    pixels = np.kron(np.array([[30, 200], [120, 60]], np.uint8), np.ones((8, 8), np.uint8))
    path = saved(tmp_path / "a.jpg", Image.fromarray(pixels).convert("RGB"), quality=95)
    out = decode_file(path, mode="RGB", size=16)
    assert out.shape == (16, 16, 3)
    assert np.abs(out.astype(int) - pixels[:, :, None]).mean() < 4


def test_a_large_jpeg_is_drafted_and_still_shrinks_to_the_size(tmp_path: Path) -> None:
    pixels = np.zeros((256, 256), np.uint8)
    pixels[:, 128:] = 255  # right half white
    path = saved(tmp_path / "big.jpeg", Image.fromarray(pixels), quality=95)
    out, mode, size = decode_counted(path, mode="L", size=16)
    assert (mode, size) == ("L", (256, 256))  # the original, not the draft
    assert out.shape == (16, 16, 1)
    assert out[:, :6].max() < 20
    assert out[:, 10:].min() > 235


def test_rgb_becomes_gray_as_pillow_weighs_it_and_gray_becomes_three_equal_channels(
    tmp_path: Path,
) -> None:
    rgb = np.stack([gradient(), gradient()[::-1], np.full((16, 16), 90, np.uint8)], axis=-1)
    path = saved(tmp_path / "rgb.png", Image.fromarray(rgb))
    gray = decode_file(path, mode="L", size=16)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(gray[:, :, 0], expected)
    np.testing.assert_array_equal(decode_file(path, mode="RGB", size=16), rgb)
    gray_path = saved(tmp_path / "gray.png", Image.fromarray(gradient()))
    spread = decode_file(gray_path, mode="RGB", size=16)
    assert spread.shape == (16, 16, 3)
    for channel in range(3):
        np.testing.assert_array_equal(spread[:, :, channel], gradient())


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_sixteen_bit_gray_is_scaled_to_eight_bits(tmp_path: Path, suffix: str) -> None:
    values = np.zeros((16, 16), np.uint16)
    values[:8] = 65535
    values[8:, :8] = 257 * 100
    path = saved(tmp_path / f"deep.{suffix}", Image.fromarray(values))
    with Image.open(path) as image:
        assert image.mode.startswith("I")
    out = decode_file(path, mode="L", size=16)[:, :, 0]
    assert (out[:8] == 255).all()
    assert (out[8:, :8] == 100).all()
    assert (out[8:, 8:] == 0).all()
    assert target_mode("I;16") == "L"


def test_a_32_bit_image_keeps_its_values_when_they_are_8_bit_and_scales_16_bit_ones(
    tmp_path: Path,
) -> None:
    pixels = gradient()
    eight = saved(tmp_path / "eight.tif", Image.fromarray(pixels).convert("I"))
    with Image.open(eight) as image:
        assert image.mode == "I"
    np.testing.assert_array_equal(decode_file(eight, mode="L", size=16)[:, :, 0], pixels)
    wide = saved(tmp_path / "wide.tif", Image.fromarray(pixels.astype(np.int32) * 257))
    np.testing.assert_array_equal(decode_file(wide, mode="L", size=16)[:, :, 0], pixels)


def test_a_transparent_rgba_pixel_becomes_black_and_an_opaque_one_keeps_its_colour(
    tmp_path: Path,
) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:8, :, 3] = 0  # top half fully transparent
    rgba[8:, :, 3] = 255
    path = saved(tmp_path / "alpha.png", Image.fromarray(rgba, "RGBA"))
    out = decode_file(path, mode="RGB", size=16)
    assert (out[:8] == 0).all()
    assert (out[8:] == (200, 100, 50)).all()
    gray = decode_file(path, mode="L", size=16)
    assert (gray[:8] == 0).all()
    assert (gray[8:] > 100).all()


def test_half_transparent_gray_alpha_is_blended_onto_black(tmp_path: Path) -> None:
    la = np.zeros((16, 16, 2), np.uint8)
    la[..., 0] = 200
    la[..., 1] = 128
    path = saved(tmp_path / "la.png", Image.fromarray(la, "LA"))
    out = decode_file(path, mode="L", size=16)
    assert np.abs(out.astype(int) - 100).max() <= 1


def test_a_palette_image_becomes_its_colours_and_its_transparent_index_black(
    tmp_path: Path,
) -> None:
    indices = np.zeros((16, 16), np.uint8)
    indices[:, 8:] = 1
    image = Image.fromarray(indices, "P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    plain = decode_file(saved(tmp_path / "p.png", image), mode="RGB", size=16)
    assert (plain[:, :8] == (255, 0, 0)).all()
    assert (plain[:, 8:] == (0, 0, 255)).all()
    see_through = decode_file(
        saved(tmp_path / "pt.png", image, transparency=1), mode="RGB", size=16
    )
    assert (see_through[:, :8] == (255, 0, 0)).all()
    assert (see_through[:, 8:] == 0).all()
    assert target_mode("P") == "RGB"


def test_a_one_bit_image_becomes_black_and_white(tmp_path: Path) -> None:
    bits = Image.fromarray(gradient() > 128).convert("1")
    out = decode_file(saved(tmp_path / "bits.png", bits), mode="L", size=16)
    assert set(np.unique(out)) == {0, 255}
    np.testing.assert_array_equal(out[:, :, 0] == 255, gradient() > 128)


def test_pad_keeps_the_aspect_ratio_with_black_bands_and_crop_has_none(tmp_path: Path) -> None:
    wide = np.full((16, 32), 255, np.uint8)  # 2:1, all white
    path = saved(tmp_path / "wide.png", Image.fromarray(wide))
    padded = decode_file(path, mode="L", size=16, resize="pad")[:, :, 0]
    assert (padded[:4] == 0).all()  # bands top ...
    assert (padded[12:] == 0).all()  # ... and bottom
    assert (padded[4:12] == 255).all()
    assert (padded[:, 0] == padded[:, 15]).all()  # no bands at the sides
    cropped = decode_file(path, mode="L", size=16, resize="crop")[:, :, 0]
    assert (cropped == 255).all()


def test_crop_keeps_the_centre_of_a_wide_image(tmp_path: Path) -> None:
    wide = np.zeros((16, 48), np.uint8)
    wide[:, 16:32] = 255  # the middle third is white
    path = saved(tmp_path / "wide.png", Image.fromarray(wide))
    assert (decode_file(path, mode="L", size=16, resize="crop") == 255).all()


def test_the_exif_orientation_is_applied(tmp_path: Path) -> None:
    wide = np.zeros((16, 32), np.uint8)
    wide[:, :16] = 255  # left half white, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 16 wide, 32 high
    path = saved(tmp_path / "turned.jpg", Image.fromarray(wide), exif=exif, quality=95)
    out = decode_file(path, mode="L", size=16)[:, :, 0].astype(int)
    assert out[:, :4].max() < 20  # the bands are now left and right
    assert out[:, 12:].max() < 20
    assert out[:7, 4:12].min() > 235  # the white half is on top
    assert out[9:, 4:12].max() < 20


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        (["L", "L", "RGB"], "L"),
        (["L", "RGB"], "RGB"),  # a tie goes to RGB
        (["L", "RGB", "RGBA"], "RGB"),
        (["I;16", "1", "RGB"], "L"),
        (["P"], "RGB"),
    ],
)
def test_majority_mode_votes_gray_against_colour(
    tmp_path: Path, modes: list[str], expected: str
) -> None:
    paths = [
        saved(tmp_path / f"{index}.png", Image.new(mode, (8, 8)))
        for index, mode in enumerate(modes)
    ]
    assert majority_mode(paths) == expected


def test_majority_mode_with_skip_bad_passes_over_an_unreadable_file(tmp_path: Path) -> None:
    gray = saved(tmp_path / "a.png", Image.new("L", (8, 8)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture at all")
    with pytest.raises(BadImageError, match=r"bad\.png"):
        majority_mode([gray, bad])
    assert majority_mode([bad, gray], skip_bad=True) == "L"
    with pytest.raises(DataError, match="no image could be read"):
        majority_mode([bad], skip_bad=True)


def test_median_side_is_the_median_shorter_side_of_the_readable_images(tmp_path: Path) -> None:
    sizes = [(10, 40), (30, 20), (50, 60)]
    paths = [
        saved(tmp_path / f"{index}.png", Image.new("L", size)) for index, size in enumerate(sizes)
    ]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    assert median_side([*paths, bad]) == 20
    assert median_side([bad]) == 0


@pytest.mark.parametrize(
    "content",
    [b"this is text, not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20],
    ids=["text", "truncated-png"],
)
def test_a_corrupt_file_is_a_bad_image_error_naming_it_and_skip_bad(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(BadImageError) as error:
        decode_file(path, mode="L", size=16)
    message = str(error.value)
    assert str(path) in message
    assert "--skip-bad" in message
    assert "\n" not in message
    assert isinstance(error.value, DataError)


def test_a_png_cut_short_in_its_pixels_is_a_bad_image(tmp_path: Path) -> None:
    full = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(full, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    with pytest.raises(BadImageError, match=r"cut\.png is not a readable image"):
        decode_file(path, mode="L", size=16)


def test_a_file_holding_another_format_than_its_name_is_decoded_by_its_content(
    tmp_path: Path,
) -> None:
    path = saved(tmp_path / "really_a_png.jpg", Image.fromarray(gradient()), format="PNG")
    np.testing.assert_array_equal(decode_file(path, mode="L", size=16)[:, :, 0], gradient())


def test_a_format_deepfit_does_not_read_is_refused_by_its_header(tmp_path: Path) -> None:
    path = saved(tmp_path / "a.png", Image.fromarray(gradient()), format="PPM")
    with pytest.raises(
        BadImageError, match=r"holds PPM data, not PNG, JPEG, BMP, TIFF, GIF or WebP"
    ):
        decode_file(path, mode="L", size=16)


def test_decode_many_with_skip_bad_keeps_the_readable_and_records_the_rest(
    tmp_path: Path,
) -> None:
    paths = []
    for index in range(4):
        paths.append(saved(tmp_path / f"{index}.png", Image.fromarray(gradient() + index)))
    (tmp_path / "1.png").write_bytes(b"junk")
    (tmp_path / "3.png").write_bytes(b"more junk")
    conversions = Conversions()
    images, kept = decode_many(paths, mode="L", size=16, skip_bad=True, conversions=conversions)
    np.testing.assert_array_equal(kept, [0, 2])
    assert images.shape == (2, 16, 16, 1)
    np.testing.assert_array_equal(images[1, :, :, 0], gradient() + 2)
    assert conversions.skipped == [str(paths[1]), str(paths[3])]
    assert conversions.modes == Counter({"L": 2})
    assert conversions.sizes == Counter({(16, 16): 2})
    with pytest.raises(BadImageError, match=r"1\.png"):
        decode_many(paths, mode="L", size=16)


def test_decode_many_keeps_the_order_of_its_paths(tmp_path: Path) -> None:
    paths = [
        saved(tmp_path / f"{index}.png", Image.new("L", (8 + index, 8), 10 * index))
        for index in range(12)
    ]
    images, kept = decode_many(paths, mode="L", size=8, resize="crop")
    np.testing.assert_array_equal(kept, np.arange(12))
    np.testing.assert_array_equal(images[:, 0, 0, 0], 10 * np.arange(12))


def test_an_image_over_max_pixels_is_refused_from_its_header_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = saved(tmp_path / "a.png", Image.fromarray(gradient(20, 10)))
    loads: list[object] = []
    original = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> object:
        loads.append(self)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    monkeypatch.setattr(decode, "MAX_PIXELS", 199)
    with pytest.raises(BadImageError, match=r"is 20x10 pixels, outside 1 to 199 pixels"):
        decode_file(path, mode="L", size=16)
    with pytest.raises(BadImageError, match="--skip-bad"):
        header(path)
    assert loads == []
    monkeypatch.setattr(decode, "MAX_PIXELS", 200)
    assert decode_file(path, mode="L", size=16).shape == (16, 16, 1)
    assert loads  # decoded once allowed


def test_a_header_over_max_pixels_but_under_pillows_limit_is_a_bad_image(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png_claiming(10_000, 6_000))  # 60 million pixels
    with pytest.raises(BadImageError, match="10000x6000 pixels"):
        header(path)
    with pytest.raises(BadImageError, match="10000x6000 pixels"):
        decode_file(path, mode="L", size=16)


def test_a_decompression_bomb_is_a_bad_image_when_decoded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(20_000, 20_000))  # over Pillow's own limit
    with pytest.raises(BadImageError, match=r"bomb\.png"):
        decode_file(path, mode="L", size=16)


def test_a_decompression_bomb_is_a_bad_image_from_its_header_too(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(20_000, 20_000))
    good = saved(tmp_path / "good.png", Image.new("L", (8, 8)))
    with pytest.raises(BadImageError, match=r"bomb\.png"):
        header(bomb)
    assert majority_mode([bomb, good], skip_bad=True) == "L"
    assert median_side([bomb, good]) == 8


def test_decode_bytes_decodes_an_upload_and_names_it_in_errors(tmp_path: Path) -> None:
    path = saved(tmp_path / "a.png", Image.fromarray(gradient(20, 12)))
    from_bytes = decode_bytes(path.read_bytes(), "upload.png", mode="L", size=16, resize="pad")
    np.testing.assert_array_equal(from_bytes, decode_file(path, mode="L", size=16))
    with pytest.raises(BadImageError, match=r"^image 'upload\.png' is not a readable"):
        decode_bytes(b"junk", "upload.png", mode="L", size=16, resize="pad")


def test_conversions_describe_counts_modes_sizes_and_skipped_files() -> None:
    conversions = Conversions(
        modes=Counter({"RGB": 480, "L": 20}),
        sizes=Counter({(28, 28): 500}),
    )
    assert (
        conversions.describe("RGB", 28) == "500 images: 480 RGB, 20 L -> RGB; 500 of 28x28 -> 28x28"
    )
    many = Conversions(
        modes=Counter({"L": 7}),
        sizes=Counter({(10, 20): 4, (30, 30): 1, (40, 30): 1, (50, 50): 1}),
        skipped=["a/b.png", "c.png"],
    )
    assert many.describe("L", 16) == (
        "7 images: 7 L -> L; 4 of 10x20, 1 of 30x30, 1 of 40x30 and others -> 16x16; "
        "skipped 2 unreadable (first: a/b.png)"
    )


def test_check_mode_and_resize_name_the_choices() -> None:
    assert check_mode("L") == "L"
    assert check_resize("crop") == "crop"
    with pytest.raises(ConfigError, match=r"L, RGB, however: 'RGBA'"):
        check_mode("RGBA")
    with pytest.raises(ConfigError, match=r"pad, crop, however: 'stretch'"):
        check_resize("stretch")


def test_fit_array_takes_floats_in_zero_to_one_and_refuses_nan_and_odd_shapes() -> None:
    floats = gradient().astype(np.float64) / 255.0
    np.testing.assert_array_equal(fit_array(floats, mode="L", size=16)[:, :, 0], gradient())
    np.testing.assert_array_equal(
        fit_array(gradient()[:, :, None], mode="L", size=16)[:, :, 0], gradient()
    )
    floats[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        fit_array(floats, mode="L", size=16)
    with pytest.raises(DataError, match=r"shape \(16, 16, 2\)"):
        fit_array(np.zeros((16, 16, 2), np.uint8), mode="L", size=16)


def test_array_images_checks_the_array_shape() -> None:
    with pytest.raises(DataError, match=r"shape \(16, 16\)"):
        array_images(np.zeros((16, 16), np.uint8), mode="L", size=16, resize="pad")
    with pytest.raises(DataError, match="n >= 1"):
        array_images(np.zeros((0, 16, 16), np.uint8), mode="L", size=16, resize="pad")


def test_an_array_of_images_is_scaled_the_same_for_every_image() -> None:
    images = np.zeros((2, 16, 16), np.float64)
    images[0] = gradient()  # 0..255
    images[1, ::2] = 1.0  # nearly black, in the same 0..255 units
    out = array_images(images, mode="L", size=16, resize="pad")
    np.testing.assert_array_equal(out[0, :, :, 0], gradient())
    assert out[1].max() <= 1
