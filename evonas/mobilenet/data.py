"""Image-classification datasets: loaders for common on-disk formats and a stratified split.

Every loader returns a :class:`Dataset` whose images are float32 ``(N, C, H, W)``,
normalised per channel (mean 0, std 1 on the loaded data), and whose labels are int64
``0..K-1``. The dataset keeps the constants it was normalised with (:class:`Normalisation`)
and its class names, so a deployed network can be fed raw pixels the same way. Any problem with a user-supplied path or its contents raises
:class:`~evonas.core.errors.DataError` with a one-line message.

Accepted formats (see :func:`load_dataset`):

* none given: scikit-learn's bundled 8x8 handwritten digits (no download);
* a ``.npz`` file with arrays ``x`` and ``y``;
* a directory of MNIST-style IDX files (``*-images-idx3-ubyte[.gz]`` with
  ``*-labels-idx1-ubyte[.gz]``);
* a directory of CIFAR-10 python batches (``data_batch_1..5`` and/or ``test_batch``);
* a directory with one subfolder of images per class.
"""

from __future__ import annotations

import gzip
import pickle
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evonas.core.errors import DataError, UserError

MIN_SAMPLES = 10
MIN_CLASSES = 2
STD_FLOOR = 1e-6
UINT8_SCALE = 255.0
"""uint8 pixels are divided by this before normalisation."""
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".ppm", ".pgm", ".pbm"})
ACCEPTED = ("expected a .npz file with arrays 'x' and 'y', or a directory holding MNIST-style IDX files "
            "(*-images-idx3-ubyte[.gz] with *-labels-idx1-ubyte[.gz]), CIFAR-10 python batches "
            "(data_batch_1..5 / test_batch) or one subfolder of images per class")
_IDX_IMAGES = re.compile(r"^(?P<prefix>.+)(?P<sep>[-.])images[-.]idx3-ubyte(?P<gz>\.gz)?$")


@dataclass(frozen=True)
class Normalisation:
    """How raw pixel values become a network's input: ``x[c] = (raw[c] - mean[c]) / std[c]``.

    Attributes:
        mean: per-channel mean of the raw pixel values (in raw units).
        std: per-channel standard deviation of the raw pixel values (in raw units, floored).
        raw_dtype: the dtype of the raw pixels as loaded (e.g. ``uint8``, ``float64``).
        raw_range: the range of the raw pixel values: ``(0, 255)`` for uint8 images, else the
            smallest and largest value seen (e.g. ``(0, 16)`` for the embedded digits).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    raw_dtype: str
    raw_range: tuple[float, float]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Raw ``(N, C, H, W)`` pixels as float32 network input."""
        mean = np.asarray(self.mean, np.float64)[None, :, None, None]
        std = np.asarray(self.std, np.float64)[None, :, None, None]
        return ((np.asarray(raw, np.float64) - mean) / std).astype(np.float32)


@dataclass(frozen=True)
class Dataset:
    """A normalised image-classification dataset held in memory.

    Attributes:
        x: float32 images, shape ``(N, C, H, W)``, normalised per channel.
        y: int64 labels, shape ``(N,)``, values ``0..num_classes-1``.
        num_classes: the number of classes.
        name: a short human-readable name (e.g. the directory it came from).
        normalisation: the constants ``x`` was normalised with (None: unknown, e.g. built by hand).
        class_names: the name of each class id (the original label value, or the class folder's
            name); None when unknown.
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str
    normalisation: Normalisation | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise DataError(f"dataset '{self.name}' images must be (N, C, H, W), got shape {self.x.shape}")
        if self.y.shape != (self.x.shape[0],):
            raise DataError(f"dataset '{self.name}' images and labels disagree in length: "
                            f"{self.x.shape[0]} vs {self.y.shape}")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise DataError(f"dataset '{self.name}' names {len(self.class_names)} classes but has {self.num_classes}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape of one image, ``(C, H, W)``."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    def __len__(self) -> int:
        """The number of samples."""
        return int(self.x.shape[0])

    def subset(self, idx: np.ndarray) -> "Dataset":
        """The samples at positions ``idx`` (a copy), keeping ``num_classes``, ``name``, normalisation and class names.

        Args:
            idx: integer indices (or a boolean mask) into this dataset.

        Returns:
            A new :class:`Dataset`; normalisation is not recomputed.
        """
        idx = np.asarray(idx)
        return Dataset(np.ascontiguousarray(self.x[idx]), np.ascontiguousarray(self.y[idx]),
                       self.num_classes, self.name, self.normalisation, self.class_names)

    def split(self, val_fraction: float, seed: int) -> tuple["Dataset", "Dataset"]:
        """Deterministic stratified train/validation split by seed (same seed -> same split; different seed -> different split).

        Each class puts ``round(n_c * val_fraction)`` samples into validation, at least one
        and at most ``n_c - 1`` (a class with a single sample stays in training).

        Args:
            val_fraction: share of each class put into validation, strictly between 0 and 1.
            seed: seed for ``numpy.random.default_rng``.

        Returns:
            ``(train, validation)``, each with indices in their original order.

        Raises:
            UserError: ``val_fraction`` is not strictly between 0 and 1.
            DataError: the classes are too small to leave any validation samples.
        """
        if not 0 < val_fraction < 1:
            raise UserError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
        val_idx = _stratified_val_indices(self.y, val_fraction, np.random.default_rng(seed))
        if val_idx.size == 0:
            raise DataError(f"dataset '{self.name}' has too few samples per class for a validation split")
        is_val = np.zeros(len(self), dtype=bool)
        is_val[val_idx] = True
        return self.subset(np.flatnonzero(~is_val)), self.subset(np.flatnonzero(is_val))


def _stratified_val_indices(y: np.ndarray, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted validation indices: a seeded random share of every class."""
    chosen = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        n = members.size
        n_val = 0 if n < 2 else min(max(int(round(n * val_fraction)), 1), n - 1)
        chosen.append(rng.permutation(members)[:n_val])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# Building a Dataset from raw arrays
# ---------------------------------------------------------------------------------------

def _remap_labels(y: np.ndarray, what: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as int64 ``0..K-1`` in sorted order of the distinct values, and those values as names."""
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{what} holds non-integer labels")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{what} holds labels of type {y.dtype}, expected integers")
    classes, inverse = np.unique(y, return_inverse=True)
    names = tuple(str(int(c)) if y.dtype.kind == "f" else str(c) for c in classes)
    return inverse.reshape(-1).astype(np.int64), names


def _normalise_(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalise float32 ``(N, C, H, W)`` in place to per-channel mean 0 / std 1.

    Returns:
        The per-channel means and (floored) standard deviations it used.
    """
    means, stds = [], []
    for c in range(x.shape[1]):
        channel = x[:, c]
        mean = float(channel.mean(dtype=np.float64))
        mean_sq = float(np.square(channel).mean(dtype=np.float64))
        std = max(float(np.sqrt(max(mean_sq - mean * mean, 0.0))), STD_FLOOR)
        channel -= np.float32(mean)
        channel /= np.float32(std)
        means.append(mean)
        stds.append(std)
    return tuple(means), tuple(stds)


def _to_float(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as a fresh float32 array; uint8 is scaled to [0, 1]."""
    if x.dtype.kind not in "uifb":
        raise DataError(f"{what} holds values of type {x.dtype}, expected numbers")
    out = x.astype(np.float32, order="C")  # always a C-contiguous copy: safe to normalise in place
    if x.dtype == np.uint8:
        out /= np.float32(UINT8_SCALE)
    if x.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise DataError(f"{what} holds non-finite values (NaN or inf)")
    return out


def _make_dataset(x: np.ndarray, y: np.ndarray, name: str, what: str,
                  class_names: tuple[str, ...] | None = None) -> Dataset:
    """Validate raw ``(N, C, H, W)`` images and labels, remap labels and normalise.

    Args:
        x: images, any numeric dtype, channels first.
        y: labels, shape ``(N,)``.
        name: the dataset's name.
        what: how to name the source in error messages (e.g. ``"npz file 'a.npz'"``).
        class_names: the name of each class id (default: the distinct label values).
    """
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{what}: images and labels disagree in length: {x.shape[0]} vs {y.shape[0]}")
    if x.shape[0] < MIN_SAMPLES:
        raise DataError(f"{what} holds {x.shape[0]} samples; at least {MIN_SAMPLES} are needed")
    if min(x.shape[1:]) < 1:
        raise DataError(f"{what} holds empty images of shape {tuple(x.shape[1:])}")
    labels, values = _remap_labels(y, what)
    k = len(values)
    if k < MIN_CLASSES:
        raise DataError(f"{what} holds {k} class; at least {MIN_CLASSES} are needed")
    xf = _to_float(x, what)
    scale = UINT8_SCALE if x.dtype == np.uint8 else 1.0
    raw_range = (0.0, UINT8_SCALE) if x.dtype == np.uint8 else (float(x.min()), float(x.max()))
    mean, std = _normalise_(xf)
    normalisation = Normalisation(tuple(m * scale for m in mean), tuple(s * scale for s in std), str(x.dtype), raw_range)
    return Dataset(xf, labels, k, name, normalisation, class_names or values)


# ---------------------------------------------------------------------------------------
# Embedded default
# ---------------------------------------------------------------------------------------

def embedded_default() -> Dataset:
    """scikit-learn's bundled handwritten digits (sklearn.datasets.load_digits: 1,797 8x8 grayscale images, 10 classes, UCI optical digits). No download.

    Returns:
        A :class:`Dataset` named ``"digits"`` with images of shape ``(1, 8, 8)``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float32)[:, None, :, :]
    return _make_dataset(x, np.asarray(bunch.target), "digits", "embedded digits dataset")


# ---------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# ---------------------------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    """The contents of ``path``, gunzipped when it is gzip-compressed."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read '{path}': {exc}") from None


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """An unsigned-byte IDX array of ``ndim`` dimensions, checked against ``magic`` and size."""
    data = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file '{path}' is too short for its header ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"IDX file '{path}' has magic number {found}, expected {magic}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DataError(f"IDX file '{path}' holds {len(data)} bytes but its header {dims} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_arrays(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images ``(N, 1, H, W)`` and labels ``(N,)`` from one IDX pair."""
    x = _read_idx(images, IDX_IMAGES_MAGIC, 3)
    y = _read_idx(labels, IDX_LABELS_MAGIC, 1)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"images file '{images}' and labels file '{labels}' disagree in length: "
                        f"{x.shape[0]} vs {y.shape[0]}")
    return x[:, None, :, :], y


def load_idx(images: Path, labels: Path) -> Dataset:
    """Load an MNIST / Fashion-MNIST style IDX pair, gzip-compressed or raw.

    Args:
        images: the ``idx3-ubyte`` images file (magic 2051).
        labels: the ``idx1-ubyte`` labels file (magic 2049).

    Returns:
        A :class:`Dataset` with images of shape ``(1, H, W)``.

    Raises:
        DataError: a file is missing or unreadable, has a wrong magic number or size,
            or the two files disagree in length.
    """
    images, labels = Path(images), Path(labels)
    for path in (images, labels):
        _require_file(path)
    x, y = _idx_arrays(images, labels)
    return _make_dataset(x, y, images.name, f"IDX files '{images}' / '{labels}'")


def _idx_pairs(directory: Path) -> list[tuple[Path, Path]]:
    """``(images, labels)`` pairs in ``directory``, by prefix; unpaired labels are ignored.

    Raises:
        DataError: an images file has no matching labels file.
    """
    by_prefix: dict[tuple[str, str], Path] = {}
    for path in sorted(p for p in _listdir(directory) if p.is_file()):
        match = _IDX_IMAGES.match(path.name)
        if match:  # sorted order puts the raw file before its .gz twin; keep the raw one
            by_prefix.setdefault((match["prefix"], match["sep"]), path)
    pairs = []
    for (prefix, sep), images in sorted(by_prefix.items()):
        candidates = [directory / f"{prefix}{sep}labels{s}idx1-ubyte{gz}" for s in "-." for gz in ("", ".gz")]
        labels = next((c for c in candidates if c.is_file()), None)
        if labels is None:
            raise DataError(f"images file '{images}' has no matching labels file "
                            f"'{prefix}{sep}labels-idx1-ubyte[.gz]'")
        pairs.append((images, labels))
    return pairs


def _load_idx_directory(directory: Path, pairs: list[tuple[Path, Path]]) -> Dataset:
    """All IDX pairs in a directory, concatenated (e.g. train and t10k)."""
    parts = [_idx_arrays(images, labels) for images, labels in pairs]
    shapes = {x.shape[1:] for x, _ in parts}
    if len(shapes) > 1:
        raise DataError(f"IDX files in '{directory}' hold images of different sizes: {sorted(shapes)}")
    x = np.concatenate([x for x, _ in parts]) if len(parts) > 1 else parts[0][0]
    y = np.concatenate([y for _, y in parts]) if len(parts) > 1 else parts[0][1]
    return _make_dataset(x, y, directory.name, f"IDX files in '{directory}'")


# ---------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------

def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images ``(N, 3, 32, 32)`` and labels from one pickled CIFAR-10 batch.

    Note that unpickling runs code chosen by the file's author: load only trusted batches.
    """
    try:
        with path.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, ImportError, IndexError) as exc:
        raise DataError(f"cannot read CIFAR-10 batch '{path}': {exc}") from None
    if not isinstance(batch, dict):
        raise DataError(f"CIFAR-10 batch '{path}' holds a {type(batch).__name__}, expected a dict")
    data, labels = (batch.get(k.encode(), batch.get(k)) for k in ("data", "labels"))
    if data is None or labels is None:
        raise DataError(f"CIFAR-10 batch '{path}' has no {'data' if data is None else 'labels'} entry")
    data, labels = np.asarray(data), np.asarray(labels)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"CIFAR-10 batch '{path}' data has shape {data.shape}, expected (N, 3072)")
    if labels.shape != (data.shape[0],):
        raise DataError(f"CIFAR-10 batch '{path}' data and labels disagree in length: "
                        f"{data.shape[0]} vs {labels.size}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(directory: Path) -> Dataset:
    """Load the CIFAR-10 python batches present in ``directory`` and concatenate them.

    Reads ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, whichever exist. Each
    is a pickled dict with ``b'data'`` (N x 3072 uint8: 1024 red, 1024 green, 1024 blue
    values, each a row-major 32x32 plane) and ``b'labels'``. Unpickling can run arbitrary
    code, so only load batches from a trusted source.

    Args:
        directory: the ``cifar-10-batches-py`` directory.

    Returns:
        A :class:`Dataset` with images of shape ``(3, 32, 32)``.

    Raises:
        DataError: the directory is missing, holds no batch, or a batch is malformed.
    """
    directory = Path(directory)
    _require_dir(directory)
    present = [directory / n for n in CIFAR_BATCHES if (directory / n).is_file()]
    if not present:
        raise DataError(f"CIFAR-10 directory '{directory}' holds none of {', '.join(CIFAR_BATCHES)}")
    parts = [_read_cifar_batch(p) for p in present]
    x = np.concatenate([x for x, _ in parts])
    y = np.concatenate([y for _, y in parts])
    return _make_dataset(x, y, directory.name, f"CIFAR-10 batches in '{directory}'")


# ---------------------------------------------------------------------------------------
# npz
# ---------------------------------------------------------------------------------------

def _channels_first(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as ``(N, C, H, W)`` from ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``.

    A 4-D array is taken as channels-last when its last axis is 1, 3 or 4 and its second
    axis is either not one of those or larger than the last (``(N, 4, 5, 3)`` is a 4x5 RGB
    image); otherwise as channels-first.
    """
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim == 4:
        channel_sizes = (1, 3, 4)
        last, second = x.shape[-1], x.shape[1]
        if last in channel_sizes and (second not in channel_sizes or last < second):
            return x.transpose(0, 3, 1, 2)
        return x
    raise DataError(f"{what} array 'x' has shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)")


def load_npz(path: Path) -> Dataset:
    """Load images ``x`` and integer labels ``y`` from a ``.npz`` file.

    ``x`` may be ``(N, H, W)`` (a channel axis is added), ``(N, H, W, C)`` with C in
    {1, 3, 4} (converted to channels-first) or ``(N, C, H, W)``; uint8 is scaled by 1/255.
    ``y`` holds one integer label per image (shape ``(N,)`` or ``(N, 1)``).

    Args:
        path: the ``.npz`` file.

    Returns:
        A :class:`Dataset` named after the file's stem.

    Raises:
        DataError: the file is missing or unreadable, lacks ``x`` or ``y``, or they have
            wrong shapes or types.
    """
    path = Path(path)
    _require_file(path)
    what = f"npz file '{path}'"
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in ("x", "y"):
                if key not in archive.files:
                    held = ", ".join(archive.files) or "nothing"
                    raise DataError(f"{what} has no array '{key}' (it holds: {held})")
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {what}: {exc}") from None
    x = _channels_first(x, what)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what} array 'y' has shape {y.shape}; expected one integer label per image (N,)")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{what}: 'x' and 'y' disagree in length: {x.shape[0]} vs {y.shape[0]}")
    return _make_dataset(x, y, path.stem, what)


# ---------------------------------------------------------------------------------------
# Image folder
# ---------------------------------------------------------------------------------------

def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _class_images(directory: Path) -> list[tuple[Path, list[Path]]]:
    """``(class folder, its images)`` for every non-hidden subfolder that holds images, sorted by name."""
    out = []
    for sub in sorted(p for p in _listdir(directory) if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in _listdir(sub) if _is_image(p))
        if images:
            out.append((sub, images))
    return out


def _open_image(path: Path):
    """A lazily opened PIL image; unreadable files raise :class:`DataError`."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image '{path}': {exc}") from None


def _image_modes(paths: list[Path]) -> set[str]:
    """The PIL modes of the images at ``paths`` (read from their headers only)."""
    modes = set()
    for path in paths:
        with _open_image(path) as img:
            modes.add(img.mode)
    return modes


def _image_array(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """The image at ``path`` converted to ``mode`` and resized to ``size`` (W, H), as uint8 HxWxC."""
    from PIL import Image

    try:
        with _open_image(path) as img:
            img = img.convert(mode)
            if img.size != size:
                img = img.resize(size, Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image '{path}': {exc}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_image_folder(directory: Path) -> Dataset:
    """Load a directory holding one subfolder of images per class.

    Class ids follow the sorted subfolder names; subfolders without images are ignored.
    Every image is resized to the size of the first one; the result is grayscale when all
    images are mode ``'L'`` and RGB otherwise.

    Args:
        directory: the parent directory of the class subfolders.

    Returns:
        A :class:`Dataset` named after the directory.

    Raises:
        DataError: the directory is missing, holds no images, or an image is unreadable.
    """
    directory = Path(directory)
    _require_dir(directory)
    classes = _class_images(directory)
    files = [(path, label) for label, (_, images) in enumerate(classes) for path in images]
    if not files:
        raise DataError(f"image folder '{directory}' holds no images "
                        "(expected one subfolder of images per class)")
    mode = "L" if _image_modes([path for path, _ in files]) == {"L"} else "RGB"
    with _open_image(files[0][0]) as first:
        size = first.size
    x = np.empty((len(files), size[1], size[0], 1 if mode == "L" else 3), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        x[i] = _image_array(path, mode, size)
    y = np.array([label for _, label in files], dtype=np.int64)
    names = tuple(sub.name for sub, _ in classes)
    return _make_dataset(x.transpose(0, 3, 1, 2), y, directory.name, f"image folder '{directory}'", names)


# ---------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------

def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data path '{path}' does not exist")
    if not path.is_file():
        raise DataError(f"data path '{path}' is not a file")


def _require_dir(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data path '{path}' does not exist")
    if not path.is_dir():
        raise DataError(f"data path '{path}' is not a directory")


def _listdir(directory: Path) -> list[Path]:
    """The entries of ``directory``; an unreadable directory raises :class:`DataError`."""
    try:
        return list(directory.iterdir())
    except OSError as exc:
        raise DataError(f"cannot read directory '{directory}': {exc}") from None


def _load_directory(directory: Path) -> Dataset:
    """Detect the format of a data directory and load it."""
    pairs = _idx_pairs(directory)
    if pairs:
        return _load_idx_directory(directory, pairs)
    if any((directory / n).is_file() for n in CIFAR_BATCHES):
        return load_cifar10(directory)
    if _class_images(directory):
        return load_image_folder(directory)
    raise DataError(f"data directory '{directory}' holds no recognised dataset; {ACCEPTED}")


def load_dataset(path: str | Path | None) -> Dataset:
    """None -> embedded_default(). A .npz file -> load_npz. A directory: holding '*-images-idx3-ubyte' / '*-images-idx3-ubyte.gz' files (pair each images file with the matching '*-labels-idx1-ubyte[.gz]'; if several pairs e.g. train and t10k exist, concatenate them) -> IDX; holding 'data_batch_1' or 'test_batch' -> CIFAR-10; holding subdirectories with images -> image folder. Anything else -> DataError naming the path and saying which formats are accepted.

    Args:
        path: a file or directory, or None for the embedded digits dataset.

    Returns:
        The loaded, normalised :class:`Dataset`.

    Raises:
        DataError: the path is missing, unreadable, or not in an accepted format.
    """
    if path is None:
        return embedded_default()
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data path '{path}' does not exist")
    if path.is_dir():
        return _load_directory(path)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path)
    raise DataError(f"data path '{path}' is not a recognised dataset; {ACCEPTED}")
