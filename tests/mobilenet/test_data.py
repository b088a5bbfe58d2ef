"""Tests for evonas.mobilenet.data: loaders for every accepted format, validation and the split."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evonas.mobilenet.data import (Dataset, embedded_default, load_cifar10, load_dataset, load_idx,
                         load_image_folder, load_npz)
from evonas.core.errors import DataError
from conftest import shared_data

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _mnist_dir() -> Path:
    directory = shared_data("mnist")
    if not (directory / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found at {directory}; CI provides ../shared/data (or set EVONAS_SHARED_DATA)")
    return directory


def _write_idx(path: Path, arr: np.ndarray, magic: int, compress: bool) -> Path:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    payload = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def _fake_images(rng: np.random.Generator, n: int = 30, h: int = 5,
                 w: int = 4) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    y = np.arange(n, dtype=np.uint8) % 3
    return x, y


def _assert_normalised(data: Dataset) -> None:
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    means = data.x.mean(axis=(0, 2, 3), dtype=np.float64)
    stds = data.x.std(axis=(0, 2, 3), dtype=np.float64)
    np.testing.assert_allclose(means, 0.0, atol=1e-4)
    np.testing.assert_allclose(stds, 1.0, atol=1e-3)


def _standardise(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return (a - a.mean()) / a.std()


# ----- IDX ---------------------------------------------------------------------------------

def test_idx_real_mnist_test_set() -> None:
    directory = _mnist_dir()
    data = load_idx(directory / "t10k-images-idx3-ubyte.gz", directory / "t10k-labels-idx1-ubyte.gz")
    assert len(data) == 10_000
    assert data.input_shape == (1, 28, 28)
    assert data.num_classes == 10
    assert np.bincount(data.y).tolist() == MNIST_TEST_COUNTS
    _assert_normalised(data)


def test_load_dataset_on_mnist_dir_ignores_unpaired_labels() -> None:
    directory = _mnist_dir()
    data = load_dataset(directory)  # train-labels has no images file: ignored, not an error
    assert len(data) == 10_000
    assert data.input_shape == (1, 28, 28)
    assert np.bincount(data.y).tolist() == MNIST_TEST_COUNTS


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path: Path, rng: np.random.Generator, compress: bool) -> None:
    x, y = _fake_images(rng)
    suffix = ".gz" if compress else ""
    images = _write_idx(tmp_path / f"a-images-idx3-ubyte{suffix}", x, 2051, compress)
    labels = _write_idx(tmp_path / f"a-labels-idx1-ubyte{suffix}", y, 2049, compress)
    data = load_idx(images, labels)
    assert data.input_shape == (1, 5, 4)
    np.testing.assert_array_equal(data.y, y)
    np.testing.assert_allclose(data.x[:, 0], _standardise(x), atol=1e-4)


def test_idx_directory_concatenates_pairs(tmp_path: Path, rng: np.random.Generator) -> None:
    x1, y1 = _fake_images(rng, n=12)
    x2, y2 = _fake_images(rng, n=9)
    _write_idx(tmp_path / "train-images-idx3-ubyte", x1, 2051, False)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y1, 2049, True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x2, 2051, True)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y2, 2049, False)
    _write_idx(tmp_path / "extra-labels-idx1-ubyte", y2, 2049, False)  # unpaired: ignored
    data = load_dataset(tmp_path)
    assert len(data) == 21
    assert sorted(np.bincount(data.y)) == sorted(np.bincount(np.concatenate([y1, y2])))


def test_idx_bad_magic_is_data_error(tmp_path: Path, rng: np.random.Generator) -> None:
    x, y = _fake_images(rng)
    images = _write_idx(tmp_path / "a-images-idx3-ubyte", x, 2049, False)
    labels = _write_idx(tmp_path / "a-labels-idx1-ubyte", y, 2049, False)
    with pytest.raises(DataError, match="magic number 2049, expected 2051"):
        load_idx(images, labels)


def test_idx_truncated_and_mismatched_are_data_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    x, y = _fake_images(rng)
    images = _write_idx(tmp_path / "a-images-idx3-ubyte", x, 2051, False)
    labels = _write_idx(tmp_path / "a-labels-idx1-ubyte", y[:-1], 2049, False)
    with pytest.raises(DataError, match="disagree in length: 30 vs 29"):
        load_idx(images, labels)
    images.write_bytes(images.read_bytes()[:-1])
    with pytest.raises(DataError, match="bytes"):
        load_idx(images, labels)


# ----- CIFAR-10 ----------------------------------------------------------------------------

def _write_cifar(path: Path, data: np.ndarray, labels: list[int]) -> None:
    with path.open("wb") as fh:
        pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"fake"}, fh)


def test_cifar10_batches(tmp_path: Path, rng: np.random.Generator) -> None:
    d1 = rng.integers(0, 200, size=(12, 3072), dtype=np.uint8)
    d2 = rng.integers(0, 200, size=(8, 3072), dtype=np.uint8)
    # image 0 of batch 1: red pixel at row 2, col 5 is 255; green at row 31, col 0 is 250
    d1[0, 0 * 1024 + 2 * 32 + 5] = 255
    d1[0, 1 * 1024 + 31 * 32 + 0] = 250
    labels1 = [i % 10 for i in range(12)]
    labels2 = [(i + 3) % 10 for i in range(8)]
    _write_cifar(tmp_path / "data_batch_1", d1, labels1)
    _write_cifar(tmp_path / "test_batch", d2, labels2)
    data = load_cifar10(tmp_path)
    assert data.x.shape == (20, 3, 32, 32)
    assert data.num_classes == 10
    np.testing.assert_array_equal(data.y, labels1 + labels2)
    red = data.x[:, 0]
    assert red[0, 2, 5] == red.max()  # only 255 in the red channel
    green = data.x[:, 1]
    assert green[0, 31, 0] == green.max()
    assert len(load_dataset(tmp_path)) == 20


def test_cifar10_bad_batch_is_data_error(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "data_batch_1", np.zeros((12, 100), dtype=np.uint8), [0] * 12)
    with pytest.raises(DataError, match="expected \\(N, 3072\\)"):
        load_cifar10(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_1"):
        load_dataset(tmp_path)


# ----- npz ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, expected", [
    ((20, 6, 7), (1, 6, 7)),
    ((20, 6, 7, 3), (3, 6, 7)),
    ((20, 2, 6, 7), (2, 6, 7)),
])
def test_npz_shapes(tmp_path: Path, rng: np.random.Generator, shape: tuple, expected: tuple) -> None:
    x = rng.integers(0, 256, size=shape, dtype=np.uint8)
    y = np.arange(20) % 4 + 7  # labels 7..10 are remapped to 0..3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_dataset(tmp_path / "d.npz")
    assert data.input_shape == expected
    assert data.num_classes == 4
    np.testing.assert_array_equal(data.y, y - 7)
    _assert_normalised(data)


def test_npz_channels_last_keeps_pixels(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.random((15, 4, 5, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(15) % 2)
    data = load_npz(tmp_path / "d.npz")
    np.testing.assert_allclose(data.x[:, 1], _standardise(x[..., 1]), atol=1e-4)


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((20, 4, 4))}, "has no array 'y'"),
    ({"x": np.zeros((20, 4, 4)), "y": np.arange(19) % 2}, "'x' and 'y' disagree in length: 20 vs 19"),
    ({"x": np.zeros(20), "y": np.arange(20) % 2}, "array 'x' has shape"),
    ({"x": np.zeros((20, 4, 4)), "y": np.zeros(20)}, "1 class"),
    ({"x": np.zeros((5, 4, 4)), "y": np.arange(5) % 2}, "at least 10"),
    ({"x": np.zeros((20, 4, 4)), "y": np.arange(20) / 3}, "non-integer labels"),
])
def test_npz_bad_contents_are_data_errors(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_npz(tmp_path / "bad.npz")


def test_npz_corrupt_file_is_data_error(tmp_path: Path) -> None:
    (tmp_path / "broken.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="broken.npz"):
        load_dataset(tmp_path / "broken.npz")


# ----- image folder ------------------------------------------------------------------------

def test_image_folder_grayscale(tmp_path: Path, rng: np.random.Generator) -> None:
    for k, cls in enumerate(["cat", "dog"]):
        (tmp_path / cls).mkdir()
        for i in range(6):
            size = (8, 6) if i else (10, 7)  # sizes differ: all resized to the first (cat/0)
            pixels = rng.integers(0, 256, size=(size[1], size[0]), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / cls / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = load_dataset(tmp_path)
    assert data.input_shape == (1, 7, 10)
    assert data.num_classes == 2
    assert np.bincount(data.y).tolist() == [6, 6]
    _assert_normalised(data)


def test_image_folder_mixed_modes_is_rgb(tmp_path: Path, rng: np.random.Generator) -> None:
    for cls in ["a", "b"]:
        (tmp_path / cls).mkdir()
        for i in range(5):
            mode, shape = ("RGB", (6, 6, 3)) if cls == "b" and i == 0 else ("L", (6, 6))
            Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode).save(
                tmp_path / cls / f"{i}.png")
    data = load_image_folder(tmp_path)
    assert data.input_shape == (3, 6, 6)
    np.testing.assert_array_equal(data.y, [0] * 5 + [1] * 5)


def test_image_folder_corrupt_image_is_data_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="x.png"):
        load_image_folder(tmp_path)


def test_image_folder_without_images_is_data_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path)


# ----- dispatch errors ---------------------------------------------------------------------

def test_missing_path_is_data_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match="does not exist") as info:
        load_dataset(missing)
    assert str(missing) in str(info.value)


def test_unrecognised_file_is_data_error(tmp_path: Path) -> None:
    txt = tmp_path / "data.txt"
    txt.write_text("hello")
    with pytest.raises(DataError, match="npz") as info:
        load_dataset(str(txt))
    assert str(txt) in str(info.value) and "\n" not in str(info.value)


def test_empty_directory_is_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="CIFAR-10") as info:
        load_dataset(tmp_path)
    assert str(tmp_path) in str(info.value)


# ----- embedded default --------------------------------------------------------------------

def test_embedded_default() -> None:
    data = load_dataset(None)
    assert len(data) == 1797
    assert data.input_shape == (1, 8, 8)
    assert data.num_classes == 10
    assert set(np.unique(data.y)) == set(range(10))
    _assert_normalised(data)
    assert embedded_default().name == "digits"


# ----- split -------------------------------------------------------------------------------

def test_split_stratified_on_digits() -> None:
    data = embedded_default()
    train, val = data.split(0.2, seed=3)
    assert len(train) + len(val) == len(data)
    assert abs(len(val) - 0.2 * len(data)) <= data.num_classes
    for part in (train, val):
        assert set(np.unique(part.y)) == set(range(10))
        assert part.num_classes == 10 and part.input_shape == data.input_shape
    # each class keeps roughly its share in validation
    ratio = np.bincount(val.y) / np.bincount(data.y)
    np.testing.assert_allclose(ratio, 0.2, atol=0.02)


def test_split_disjoint_and_covering() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 1, 2, 2)).astype(np.float32)
    x[:, 0, 0, 0] = np.arange(50)  # a unique id per sample
    data = Dataset(x, np.arange(50) % 3, 3, "ids")
    train, val = data.split(0.3, seed=11)
    train_ids, val_ids = train.x[:, 0, 0, 0], val.x[:, 0, 0, 0]
    assert not set(train_ids) & set(val_ids)
    assert sorted(np.concatenate([train_ids, val_ids])) == list(range(50))
    for part in (train, val):
        assert set(part.y.tolist()) == {0, 1, 2}
        np.testing.assert_array_equal(part.y, part.x[:, 0, 0, 0].astype(int) % 3)
    again_train, _ = data.split(0.3, seed=11)
    np.testing.assert_array_equal(again_train.x, train.x)
    other_train, _ = data.split(0.3, seed=12)
    assert not np.array_equal(other_train.x, train.x)


def test_split_rejects_bad_fraction() -> None:
    from evonas.core.errors import UserError

    data = embedded_default()
    with pytest.raises(UserError, match="val_fraction"):
        data.split(1.0, seed=0)
