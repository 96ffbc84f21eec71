"""Locating and downloading the public benchmark datasets (MNIST, Fashion-MNIST), with checksums."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..errors import DataError
from .idx import read_idx_bytes


@dataclass(frozen=True)
class BenchmarkDataset:
    name: str
    mirrors: tuple[str, ...]
    # SHA-256 of the *uncompressed* IDX contents: gzip headers differ between mirrors, the data must not.
    sha256: dict[str, str]
    num_classes: int = 10
    train_size: int = 60000     # public: the plan (q = B/n) can be printed before any file is read


SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

BENCHMARKS: dict[str, BenchmarkDataset] = {
    "mnist": BenchmarkDataset(
        name="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
    "fashion-mnist": BenchmarkDataset(
        name="fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    ),
}


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dpcgan"


def candidate_dirs(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Where to look for `name`, in order: --data-dir, $DPCGAN_DATA, the user cache. Each root is tried as
    <root>/<name>/ and as <root>/ itself."""
    roots = [Path(p) for p in (data_dir, os.environ.get("DPCGAN_DATA")) if p]
    roots.append(user_cache_dir())
    out: list[Path] = []
    for root in roots:
        for d in (root / name, root):
            if d not in out:
                out.append(d)
    return out


def find_file(directory: Path, stem: str) -> Path | None:
    for suffix in (".gz", ""):
        p = directory / (stem + suffix)
        if p.is_file():
            return p
    return None


def find_dataset_dir(name: str, data_dir: str | os.PathLike | None, splits=("train", "test")) -> Path | None:
    stems = [s for split in splits for s in SPLIT_FILES[split]]
    for d in candidate_dirs(name, data_dir):
        if all(find_file(d, s) for s in stems):
            return d
    return None


def sha256_uncompressed(path: Path) -> str:
    return hashlib.sha256(read_idx_bytes(path)).hexdigest()


def _download_one(url: str, dest: Path, expected_sha: str, timeout: float) -> None:
    """Download `url` to `dest` atomically, verifying the SHA-256 of the uncompressed contents."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        try:
            digest = hashlib.sha256(gzip.decompress(tmp_path.read_bytes())).hexdigest()
        except (OSError, EOFError) as e:
            raise DataError(f"{url}: the downloaded file is not valid gzip ({e})") from e
        if digest != expected_sha:
            raise DataError(f"{url}: checksum mismatch (got sha256 {digest}, expected {expected_sha})")
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def download_dataset(
    name: str, dest_dir: str | os.PathLike, *, mirrors: tuple[str, ...] | None = None, timeout: float = 30.0
) -> Path:
    """Download the four IDX .gz files of benchmark `name` into dest_dir, trying each mirror in turn."""
    spec = BENCHMARKS[name]
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    mirrors = mirrors or spec.mirrors
    for stem, sha in spec.sha256.items():
        target = dest / f"{stem}.gz"
        if target.is_file() and sha256_uncompressed(target) == sha:
            continue
        errors = []
        for mirror in mirrors:
            try:
                _download_one(mirror.rstrip("/") + f"/{stem}.gz", target, sha, timeout)
                break
            except (urllib.error.URLError, OSError, DataError) as e:
                errors.append(f"{mirror}: {e}")
        else:
            raise DataError(
                f"could not download {stem}.gz for {name}:\n  " + "\n  ".join(errors) + "\n"
                + offline_help(name, dest)
            )
    return dest


def offline_help(name: str, dest: Path) -> str:
    files = ", ".join(f"{s}.gz" for s in BENCHMARKS[name].sha256)
    return (
        f"If this machine is offline, copy the {name} IDX files ({files}) into {dest} "
        f"(or into any directory passed as --data-dir DIR or DPCGAN_DATA=DIR, as DIR/{name}/)."
    )


def ensure_dataset(name: str, data_dir: str | os.PathLike | None, *, download: bool = True,
                   mirrors: tuple[str, ...] | None = None) -> Path:
    """The directory holding benchmark `name`, downloading it into the first configured root if missing."""
    found = find_dataset_dir(name, data_dir)
    if found is not None:
        return found
    roots = [p for p in (data_dir, os.environ.get("DPCGAN_DATA")) if p]
    dest = Path(roots[0]) / name if roots else user_cache_dir() / name
    if not download:
        raise DataError(f"{name} not found in {[str(d) for d in candidate_dirs(name, data_dir)]}. " + offline_help(name, dest))
    try:
        return download_dataset(name, dest, mirrors=mirrors)
    except PermissionError as e:
        raise DataError(f"cannot write to {dest} ({e.strerror}): pass a writable --data-dir") from e
