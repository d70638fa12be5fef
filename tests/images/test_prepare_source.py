"""Channel statistics and target scaling (ImagePreparer), stores in memory or on disk, and
the training loop's batches (ImageSource)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch

from deepfit.kinds.image import prepare, source
from deepfit.kinds.image.augment import Augmenter
from deepfit.kinds.image.decode import BadImageError
from deepfit.kinds.image.files import read_labelled
from deepfit.kinds.image.prepare import ImagePreparer
from deepfit.kinds.image.source import (
    IMAGE,
    DiskImages,
    ImageSource,
    MemoryImages,
    OpenedImages,
    SubsetImages,
    decoded_bytes,
    open_store,
)
from deepfit.training.sources import TARGET
from tests.images.conftest import LabelledFolder


def random_images(n: int = 10, size: int = 8, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, channels)).astype(np.uint8)


def test_fit_learns_each_channels_mean_and_deviation_as_numpy_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = random_images()
    images[..., 2] //= 4  # channels with different statistics
    expected_mean = images.mean(axis=(0, 1, 2))
    expected_std = images.std(axis=(0, 1, 2))
    prep = ImagePreparer(size=8, mode="RGB").fit(images, np.arange(10.0))
    np.testing.assert_allclose(prep.mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(prep.std, expected_std, rtol=1e-9)
    monkeypatch.setattr(prepare, "STAT_CHUNK", 3)  # the same, a few images at a time
    chunked = ImagePreparer(size=8, mode="RGB").fit(images, np.arange(10.0))
    np.testing.assert_allclose(chunked.mean, prep.mean, rtol=1e-12)
    np.testing.assert_allclose(chunked.std, prep.std, rtol=1e-9)
    assert prep.channels == 3


def test_normalised_training_images_have_mean_zero_and_deviation_one() -> None:
    images = random_images(n=20, channels=3, seed=1)
    prep = ImagePreparer(size=8, mode="RGB").fit(images, np.zeros(20))
    pixels = prep.normalise(torch.from_numpy(images).permute(0, 3, 1, 2))
    assert pixels.dtype == torch.float32
    np.testing.assert_allclose(pixels.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(pixels.std(dim=(0, 2, 3), unbiased=False).numpy(), 1.0, atol=1e-5)


def test_a_flat_or_nearly_flat_channel_keeps_a_deviation_of_one() -> None:
    images = random_images(n=6, channels=3)
    images[..., 0] = 77  # flat
    images[..., 1] = 100 + (np.arange(8) % 2)[None, :, None]  # deviation 0.5
    prep = ImagePreparer(size=8, mode="RGB").fit(images, np.arange(6.0))
    assert prep.mean[0] == 77.0
    assert prep.std[0] == 1.0
    assert prep.std[1] == 1.0
    assert prep.std[2] > 50
    pixels = prep.normalise(torch.from_numpy(images).permute(0, 3, 1, 2))
    assert torch.equal(pixels[:, 0], torch.zeros(6, 8, 8))


def test_the_target_scaling_is_learned_and_round_trips() -> None:
    target = np.array([3.0, 7.0, -2.0, 10.5, 0.0])
    prep = ImagePreparer(size=8, mode="L").fit(random_images(n=5, channels=1), target)
    assert prep.target_loc == pytest.approx(target.mean())
    assert prep.target_scale == pytest.approx(target.std())
    encoded = prep.encode_target(target)
    assert encoded.mean() == pytest.approx(0.0, abs=1e-12)
    assert encoded.std() == pytest.approx(1.0)
    np.testing.assert_allclose(prep.decode_target(encoded), target, rtol=1e-12, atol=1e-12)


def test_a_constant_target_is_scaled_by_one() -> None:
    prep = ImagePreparer(size=8, mode="L").fit(random_images(n=4, channels=1), np.full(4, 5.0))
    assert (prep.target_loc, prep.target_scale) == (5.0, 1.0)
    np.testing.assert_array_equal(prep.encode_target(np.array([5.0, 6.0])), [0.0, 1.0])


def test_to_dict_and_from_dict_round_trip_through_json() -> None:
    prep = ImagePreparer(size=16, mode="RGB", resize="crop", target_name="age")
    prep.fit(random_images(n=5, size=16), np.array([1.0, 2.0, 3.0, 4.0, 9.0]))
    again = ImagePreparer.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert again == prep
    assert again.to_dict() == prep.to_dict()


def _valid() -> dict[str, Any]:
    return ImagePreparer(size=16, mode="L", mean=[10.0], std=[2.0], target_loc=1.0).to_dict()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"mean": [1.0, 2.0, 3.0]}, "mean must be 1 finite numbers"),
        ({"std": [-2.0]}, "std must be positive"),
        ({"std": [0.0]}, "std must be positive"),
        ({"mean": [math.nan]}, "mean must be 1 finite numbers"),
        ({"std": [math.inf]}, "std must be 1 finite numbers"),
        ({"mean": ["10"]}, "mean must be 1 finite numbers"),
        ({"mean": 10.0}, "mean must be 1 finite numbers"),
        ({"size": 4}, "image size must be an integer in 8..1024"),
        ({"size": 2048}, "image size must be an integer in 8..1024"),
        ({"size": "16"}, "image size"),
        ({"size": True}, "image size"),
        ({"size": 16.0}, "image size"),
        ({"mode": "RGBA"}, "mode or resize is unknown"),
        ({"resize": "stretch"}, "mode or resize is unknown"),
        ({"mode": "RGB"}, "mean must be 3 finite numbers"),  # one channel's statistics
        ({"target_name": "x" * 201}, "target name must be a short string"),
        ({"target_name": ""}, "target name"),
        ({"target_name": 3}, "target name"),
        ({"target_scale": 0.0}, "target scale must be positive"),
        ({"target_loc": math.inf}, "target scaling must be finite"),
        ({"target_loc": None}, "target scaling must be finite"),
    ],
)
def test_from_dict_refuses_a_malformed_document(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ImagePreparer.from_dict(_valid() | change)


def test_from_dict_refuses_what_is_not_an_object() -> None:
    with pytest.raises(ValueError, match="not an object"):
        ImagePreparer.from_dict([_valid()])
    assert ImagePreparer.from_dict(_valid()).target_name == "target"


def _both_stores(
    folder: LabelledFolder, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[OpenedImages, OpenedImages]:
    files = read_labelled(folder.root, folder.labels, target="count")
    memory = open_store(files, mode="L", size=16, resize="pad", **options)
    monkeypatch.setattr(source, "IN_MEMORY_BYTES", 0)
    disk = open_store(files, mode="L", size=16, resize="pad", **options)
    return memory, disk


def _fitted_preparer(opened: OpenedImages) -> ImagePreparer:
    images = opened.store.take(np.arange(len(opened.store))).permute(0, 2, 3, 1).numpy()
    assert opened.target is not None
    return ImagePreparer(size=16, mode="L").fit(images, opened.target)


def _same_batches(
    first: list[dict[str, torch.Tensor]], second: list[dict[str, torch.Tensor]]
) -> None:
    assert len(first) == len(second)
    for one, other in zip(first, second, strict=True):
        assert set(one) == set(other) == {IMAGE, TARGET}
        assert torch.equal(one[IMAGE], other[IMAGE])
        assert torch.equal(one[TARGET], other[TARGET])


def test_open_store_holds_small_data_in_memory_and_large_on_disk_the_same(
    shared_folder: LabelledFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory, disk = _both_stores(shared_folder, monkeypatch)
    assert memory.in_memory
    assert isinstance(memory.store, MemoryImages)
    assert not disk.in_memory
    assert isinstance(disk.store, DiskImages)
    assert memory.names == disk.names == shared_folder.files
    np.testing.assert_array_equal(memory.kept, np.arange(60))
    np.testing.assert_array_equal(disk.kept, memory.kept)
    assert memory.target is not None
    assert disk.target is not None
    np.testing.assert_array_equal(memory.target, shared_folder.counts)
    np.testing.assert_array_equal(disk.target, memory.target)
    assert memory.target_name == disk.target_name == "count"
    assert memory.conversions.modes == disk.conversions.modes == {"L": 40, "RGB": 20}
    assert memory.conversions.sizes == disk.conversions.sizes == {(16, 16): 60}
    rows = np.array([59, 0, 7, 7])
    assert torch.equal(memory.store.take(rows), disk.store.take(rows))
    assert memory.store.take(rows).shape == (4, 1, 16, 16)
    assert memory.store.take(rows).dtype == torch.uint8


def test_memory_and_disk_give_the_same_ordered_and_training_batches(
    shared_folder: LabelledFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory, disk = _both_stores(shared_folder, monkeypatch)
    prep = _fitted_preparer(memory)
    rows = np.arange(3, 50)
    target = memory.target[rows]  # type: ignore[index]
    augmenter = Augmenter(["flip", "shift", "brightness"])
    sources = [
        ImageSource(opened.store, rows, prep, target=target, augmenter=augmenter)
        for opened in (memory, disk)
    ]
    ordered = [list(one.ordered(10)) for one in sources]
    _same_batches(*ordered)
    assert [len(batch[IMAGE]) for batch in ordered[0]] == [10, 10, 10, 10, 7]
    trained = [list(one.batches(8, torch.Generator().manual_seed(3))) for one in sources]
    _same_batches(*trained)
    assert len(trained[0]) == sources[0].n_batches(8) == 5


def test_ordered_batches_are_the_normalised_rows_in_order_never_augmented(
    shared_folder: LabelledFolder,
) -> None:
    files = read_labelled(shared_folder.root, shared_folder.labels, target="count")
    opened = open_store(files, mode="L", size=16, resize="pad")
    prep = _fitted_preparer(opened)
    rows = np.array([5, 1, 30, 2, 9])
    target = np.arange(5.0)
    augmenter = Augmenter(["flip", "vflip", "brightness", "contrast"])
    plain = ImageSource(opened.store, rows, prep, target=target)
    augmented = ImageSource(opened.store, rows, prep, target=target, augmenter=augmenter)
    expected = prep.normalise(opened.store.take(rows))
    for one in (plain, augmented):
        batches = list(one.ordered(2))
        assert [len(batch[IMAGE]) for batch in batches] == [2, 2, 1]
        assert torch.equal(torch.cat([batch[IMAGE] for batch in batches]), expected)
        assert torch.cat([batch[TARGET] for batch in batches]).tolist() == [0, 1, 2, 3, 4]


def test_training_batches_are_augmented_only_with_an_augmenter(
    shared_folder: LabelledFolder,
) -> None:
    files = read_labelled(shared_folder.root, shared_folder.labels, target="count")
    opened = open_store(files, mode="L", size=16, resize="pad")
    prep = _fitted_preparer(opened)
    rows = np.arange(40)
    target = np.arange(40.0) * 10
    augmenter = Augmenter(["brightness"], brightness=0.5)
    plain = ImageSource(opened.store, rows, prep, target=target)
    augmented = ImageSource(opened.store, rows, prep, target=target, augmenter=augmenter)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(11)).numpy()
    parts = np.array_split(order, plain.n_batches(16))
    plain_batches = list(plain.batches(16, torch.Generator().manual_seed(11)))
    augmented_batches = list(augmented.batches(16, torch.Generator().manual_seed(11)))
    for part, unchanged, changed in zip(parts, plain_batches, augmented_batches, strict=True):
        expected = prep.normalise(opened.store.take(rows[part]))
        assert torch.equal(unchanged[IMAGE], expected)
        assert torch.equal(unchanged[TARGET], torch.tensor(target[part], dtype=torch.float32))
        assert torch.equal(changed[TARGET], unchanged[TARGET])  # the same rows, the same order
        shift = (changed[IMAGE] - expected).flatten(1)
        assert (shift.abs().amax(dim=1) > 0).all()
        assert (shift.abs().amax(dim=1) <= 0.5 + 1e-5).all()
    again = list(augmented.batches(16, torch.Generator().manual_seed(11)))
    _same_batches(augmented_batches, again)


def test_n_batches_never_makes_an_empty_or_tiny_batch() -> None:
    store = MemoryImages(np.zeros((10, 8, 8, 1), np.uint8))
    prep = ImagePreparer(size=8, mode="L", mean=[0.0], std=[1.0])
    assert ImageSource(store, np.arange(10), prep).n_batches(4) == 2
    assert ImageSource(store, np.arange(3), prep).n_batches(4) == 1
    assert ImageSource(store, np.arange(8), prep).n_batches(4) == 2
    batches = list(ImageSource(store, np.arange(10), prep).batches(4, torch.Generator()))
    assert sorted(len(batch[IMAGE]) for batch in batches) == [5, 5]
    assert TARGET not in batches[0]


def test_opened_images_subset_picks_rows_names_targets_and_kept(
    shared_folder: LabelledFolder,
) -> None:
    files = read_labelled(shared_folder.root, shared_folder.labels, target="count")
    opened = open_store(files, mode="L", size=16, resize="pad")
    part = opened.subset(np.array([5, 2, 59]))
    assert isinstance(part.store, SubsetImages)
    assert len(part.store) == 3
    assert part.names == [shared_folder.files[5], shared_folder.files[2], shared_folder.files[59]]
    np.testing.assert_array_equal(part.kept, [5, 2, 59])
    np.testing.assert_array_equal(part.target, shared_folder.counts[[5, 2, 59]])
    assert torch.equal(part.store.take(np.array([2, 0])), opened.store.take(np.array([59, 5])))
    inner = part.subset(np.array([2]))
    assert inner.names == [shared_folder.files[59]]
    assert torch.equal(inner.store.take(np.array([0])), opened.store.take(np.array([59])))
    assert part.target_name == "count"
    assert part.conversions is opened.conversions


def test_skip_bad_leaves_out_an_unreadable_file_in_memory_and_on_disk(
    count_folder: LabelledFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    (count_folder.root / count_folder.files[4]).write_bytes(b"not an image")
    memory, disk = _both_stores(count_folder, monkeypatch, skip_bad=True)
    for opened in (memory, disk):
        assert len(opened.store) == 59
        assert 4 not in opened.kept
        assert count_folder.files[4] not in opened.names
        np.testing.assert_array_equal(opened.target, np.delete(count_folder.counts, 4))
        assert opened.conversions.skipped == [str(count_folder.root / count_folder.files[4])]
    assert torch.equal(memory.store.take(np.arange(59)), disk.store.take(np.arange(59)))


def test_skip_bad_on_disk_also_leaves_out_a_file_cut_short(
    count_folder: LabelledFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = count_folder.root / count_folder.files[4]
    path.write_bytes(path.read_bytes()[:60])  # the header survives, the pixels do not
    memory, disk = _both_stores(count_folder, monkeypatch, skip_bad=True)
    assert 4 not in memory.kept
    np.testing.assert_array_equal(disk.kept, memory.kept)


def test_open_store_of_an_array_is_in_memory_and_named_by_index() -> None:
    images = random_images(n=5, size=20, channels=3)
    opened = open_store(images, mode="L", size=16, resize="crop")
    assert opened.in_memory
    assert opened.names == ["0", "1", "2", "3", "4"]
    assert opened.target is None
    assert opened.store.take(np.arange(5)).shape == (5, 1, 16, 16)
    assert opened.conversions.modes == {"RGB": 5}
    assert opened.conversions.sizes == {(20, 20): 5}
    assert decoded_bytes(5, 16, "L") == 5 * 256
    assert decoded_bytes(5, 16, "RGB") == 5 * 256 * 3


def test_open_store_without_skip_bad_names_the_bad_file(
    count_folder: LabelledFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    (count_folder.root / count_folder.files[7]).write_bytes(b"junk")
    files = read_labelled(count_folder.root, count_folder.labels, target="count")
    with pytest.raises(BadImageError, match=count_folder.files[7]):
        open_store(files, mode="L", size=16, resize="pad")
    monkeypatch.setattr(source, "IN_MEMORY_BYTES", 0)
    with pytest.raises(BadImageError, match=count_folder.files[7]):
        open_store(files, mode="L", size=16, resize="pad")
