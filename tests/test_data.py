"""Readers, validation and download: every bad input gives a DataError that says what is wrong."""

import gzip
import http.server
import shutil
import threading
from functools import partial

import numpy as np
import pytest

from dpcgan.data import load_dataset, load_npz
from dpcgan.data.download import BENCHMARKS, download_dataset, ensure_dataset, sha256_uncompressed
from dpcgan.data.idx import parse_idx, read_idx
from dpcgan.errors import DataError


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_idx_roundtrip_gz_and_raw(tmp_path):
    arr = np.arange(2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6)
    (tmp_path / "a").write_bytes(idx_bytes(arr))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)


def test_real_mnist_shapes_and_checksums(shared_data):
    train = load_dataset("mnist", "train", shared_data, download=False)
    test = load_dataset("fashion-mnist", "test", shared_data, download=False)
    assert train.x.shape == (60000, 1, 28, 28) and len(test) == 10000 and train.num_classes == 10
    for stem, sha in BENCHMARKS["mnist"].sha256.items():
        assert sha256_uncompressed(shared_data / "mnist" / f"{stem}.gz") == sha


@pytest.mark.parametrize("data,match", [
    (b"\x00\x00\x08", "not an IDX file"),
    (b"\x12\x34\x08\x01" + b"\x00" * 8, "bad magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00", "not supported"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5]) + b"\x01\x02", "truncated or corrupt"),
])
def test_bad_idx_files(data, match):
    with pytest.raises(DataError, match=match):
        parse_idx(data, "f")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    blob = gzip.compress(idx_bytes(np.zeros((100, 28, 28), np.uint8)))
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "x.gz")


def test_image_and_label_counts_must_agree(tmp_path, shared_data):
    d = tmp_path / "mnist"
    d.mkdir()
    for f in (shared_data / "mnist").iterdir():
        shutil.copy(f, d / f.name)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(59999, np.uint8))))
    with pytest.raises(DataError, match="60000 images but 59999 labels"):
        load_dataset("mnist", "train", tmp_path, download=False)


def save(tmp_path, x, y, name="d.npz"):
    p = tmp_path / name
    np.savez(p, x=x, y=y)
    return p


def good_x(n=40):
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def good_y(n=40):
    return np.arange(n) % 10


@pytest.mark.parametrize("make,match", [
    (lambda: (good_x()[:, 0], good_y()), "must be \\(N, H, W\\) or \\(N, C, H, W\\)"),
    (lambda: (good_x(), good_y(39)), "40 images but 39 labels"),
    (lambda: (np.full((40, 28, 28), np.nan), good_y()), "NaN or infinite"),
    (lambda: (np.full((40, 28, 28), 3.0), good_y()), "must lie in \\[0, 1\\]"),
    (lambda: (good_x().astype(np.int32), good_y()), "dtype int32"),
    (lambda: (good_x(), good_y() - 1), "labels must lie in"),
    (lambda: (good_x(), good_y() + 0.5), "labels must be integers"),
    (lambda: (np.zeros((40, 5, 28, 28), np.uint8), good_y()), "5 channels"),
])
def test_bad_npz_inputs(tmp_path, make, match):
    x, y = make()
    with pytest.raises(DataError, match=match):
        load_npz(save(tmp_path, x, y))


def test_an_empty_class_of_the_public_label_set_is_a_warning_not_an_error(tmp_path):
    # Refusing it would reveal whether a class's only record is in the data (issue #10, item 2).
    from dpcgan.data.datasets import EmptyClassWarning

    with pytest.warns(EmptyClassWarning, match="1 of the 10 classes have no record: 3 "):
        data = load_npz(save(tmp_path, good_x(), np.where(good_y() == 3, 4, good_y())), num_classes=10)
    assert data.num_classes == 10 and not data.label_set_inferred


def test_npz_missing_arrays_and_garbage(tmp_path):
    p = tmp_path / "a.npz"
    np.savez(p, images=good_x())
    with pytest.raises(DataError, match="missing array"):
        load_npz(p)
    (tmp_path / "g.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read"):
        load_npz(tmp_path / "g.npz")


def test_good_npz_float_and_channels(tmp_path):
    x = np.random.default_rng(0).random((40, 3, 16, 16)).astype(np.float32)
    d = load_npz(save(tmp_path, x, good_y()), num_classes=12 - 2)
    assert d.image_shape == (3, 16, 16) and d.num_classes == 10
    assert float(d.float_images().max()) <= 1.0


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_mirror(tmp_path):
    """An HTTP server on 127.0.0.1 serving a directory: stands in for the public mirrors."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_checksums(local_mirror, shared_data, tmp_path):
    root, url = local_mirror
    for f in (shared_data / "mnist").iterdir():
        shutil.copy(f, root / f.name)
    dest = download_dataset("mnist", tmp_path / "dl", mirrors=(url,))
    assert load_dataset("mnist", "test", tmp_path / "dl").x.shape == (10000, 1, 28, 28)
    # a tampered file on the mirror is rejected and nothing is left behind under its name
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc"))
    (dest / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="checksum mismatch"):
        download_dataset("mnist", dest, mirrors=(url,))
    assert not (dest / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(dest.glob(".*part"))


def test_offline_error_says_which_files_to_put_where(tmp_path):
    with pytest.raises(DataError) as err:
        ensure_dataset("fashion-mnist", tmp_path / "data", mirrors=("http://127.0.0.1:9/",))
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "data" / "fashion-mnist") in msg


def test_lookup_order_data_dir_then_env(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("DPCGAN_DATA", str(shared_data))
    assert ensure_dataset("mnist", None, download=False) == shared_data / "mnist"
    assert ensure_dataset("mnist", tmp_path, download=False) == shared_data / "mnist"  # empty --data-dir: falls through
    with pytest.raises(DataError, match="not found"):
        monkeypatch.delenv("DPCGAN_DATA")
        ensure_dataset("mnist", tmp_path, download=False)


def test_on_disk_dataset_reads_only_sampled_rows(tmp_path, mnist_small):
    from dpcgan.data import OnDiskImages, PoissonSampler, load_npy_dir

    d = tmp_path / "big"
    d.mkdir()
    np.save(d / "x.npy", mnist_small.x[:, 0].numpy())
    np.save(d / "y.npy", mnist_small.y.numpy())
    data = load_dataset(str(d), "train")
    assert isinstance(data.x, OnDiskImages) and data.image_shape == (1, 28, 28) and len(data) == 2000
    import torch

    idx = torch.tensor([3, 17, 1999])
    assert torch.equal(data.float_images(idx), mnist_small.float_images(idx))
    x, y = PoissonSampler(data, 0.01, torch.Generator().manual_seed(0)).sample()
    assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32 and len(x) == len(y)
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "x.npy", np.full((10, 28, 28), 2.0, np.float32))
    np.save(bad / "y.npy", np.arange(10))
    with pytest.raises(DataError, match="must lie in \\[0, 1\\]"):
        load_npy_dir(bad)
    assert torch.equal(data.x[5:9], mnist_small.x[5:9])
