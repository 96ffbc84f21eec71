"""Labeled image datasets: the public benchmarks (IDX) and a user's own records (.npz), validated."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .arrays import class_folders, folder_image_files, labels_to_indices, load_image_folder, stderr_note, to_nchw
from .download import BENCHMARKS, SPLIT_FILES, ensure_dataset, find_file
from .idx import read_idx
# the record types and checks, re-exported: `from dpcgan.data.datasets import LabeledImages` keeps working
from .records import (EmptyClassWarning, LabeledImages, OnDiskImages, check_image_shape, checked_labels,  # noqa: F401
                      pixels_to_tensor, validated)


def load_benchmark(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                   *, download: bool = True) -> LabeledImages:
    if name not in BENCHMARKS:
        raise DataError(f"unknown dataset {name!r}: choose one of {sorted(BENCHMARKS)} or pass a .npz file")
    if split not in SPLIT_FILES:
        raise DataError(f"unknown split {split!r}: choose 'train' or 'test'")
    directory = ensure_dataset(name, data_dir, download=download)
    image_stem, label_stem = SPLIT_FILES[split]
    images = read_idx(find_file(directory, image_stem))
    labels = read_idx(find_file(directory, label_stem))
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{directory}: expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{directory}: {images.shape[0]} images but {labels.shape[0]} labels in the {split} split; "
            "the files do not belong together: download them again"
        )
    num_classes = BENCHMARKS[name].num_classes
    return validated(images[:, None], labels, num_classes, source=f"{name}/{split}", name=name)


def load_npz(path: str | os.PathLike, num_classes: int | None = None,
             label_names: list[str] | None = None) -> LabeledImages:
    """A user's labeled images: x (N, H, W), (N, C, H, W) or (N, H, W, C), uint8 in [0, 255] or float in [0, 1];
    y (N,) integers in [0, K), or names among `label_names`. The label set is public: K from `num_classes` or the
    number of label names (inferred from the labels only if neither is given, and then marked so)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"x", "y"} - set(f.files)
            if missing:
                raise DataError(f"{path}: missing array(s) {sorted(missing)}; save with np.savez(path, x=images, y=labels)")
            x, y = f["x"], f["y"]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"cannot read {path} as .npz: {e}") from e
    x = to_nchw(x, source=str(path), announce=stderr_note)
    if y.ndim == 1:
        y, num_classes = labels_to_indices(y, label_names, num_classes, source=str(path))
    return validated(x, y, num_classes, source=str(path), name=path.stem, label_names=label_names)


def load_npy_dir(directory: str | os.PathLike, num_classes: int | None = None) -> LabeledImages:
    """A directory with x.npy ((N, H, W) or (N, C, H, W), uint8 or float32 in [0, 1]) and y.npy (N,).
    Pixels are validated chunk by chunk and afterwards read from disk only when a batch samples them."""
    d = Path(directory)
    try:
        x = OnDiskImages(d / "x.npy")
        y = np.load(d / "y.npy", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{d}: an on-disk dataset needs readable x.npy and y.npy ({e})") from e
    shape_only = np.broadcast_to(np.zeros((), np.uint8), tuple(x.shape))  # a zero-stride stand-in: no I/O
    check_image_shape(shape_only, y, source=str(d))
    for start in range(0, len(x), 65536):
        pixels_to_tensor(x[start : start + 65536].numpy(), source=f"{d}/x.npy rows {start}..")
    inferred = num_classes is None
    y, num_classes = checked_labels(y, num_classes, source=f"{d}/y.npy")
    return LabeledImages(x, torch.from_numpy(y), num_classes, d.name, inferred)


def load_dataset(spec: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 *, num_classes: int | None = None, label_names: list[str] | None = None,
                 image_size: int | None = None, channels: int | None = None, download: bool = True,
                 progress: bool = True) -> LabeledImages:
    """`spec` is a benchmark name ('mnist', 'fashion-mnist'), a .npz file, a directory with x.npy and y.npy, or an
    image folder (one subfolder per class; its public image shape `image_size` and `channels` is required, every
    image is converted to it). Arrays keep their shape (one for all records). A user's files are one split: `split`
    must be 'train' (pass the test records as their own file). progress: an image folder says on stderr what it
    reads and how long it took (`dpcgan train --no-progress` turns it off)."""
    if spec in BENCHMARKS:
        return load_benchmark(spec, split, data_dir, download=download)
    path = Path(spec)
    if path.is_dir() or path.is_file() or spec.endswith(".npz"):
        if split != "train":
            raise DataError(f"{spec}: your own dataset is one split; pass the {split} records as their own file")
    if path.is_dir() and (path / "x.npy").is_file():
        return load_npy_dir(spec, num_classes)
    if path.is_dir():
        if label_names is None and num_classes is not None:
            raise DataError(f"{spec}: an image folder's classes are named by its subfolders: give --label-names")
        return load_image_folder(spec, label_names=label_names, image_size=image_size, channels=channels,
                                 progress=progress)
    if spec.endswith(".npz") or path.is_file():
        if not path.is_file():
            raise DataError(f"{spec}: no such file")
        return load_npz(spec, num_classes, label_names)
    raise DataError(not_a_dataset(spec))


def not_a_dataset(spec: str) -> str:
    """The error for a --dataset that is neither a benchmark nor an existing path: a path-like name (a separator or
    a file suffix) is a missing file, a bare word an unknown benchmark name."""
    where = f"choose one of {sorted(BENCHMARKS)}, or pass a .npz file, a folder with x.npy and y.npy, or an image folder"
    if os.sep in spec or "/" in spec or Path(spec).suffix or spec.startswith("."):
        return f"{spec}: no such file or directory ({where})"
    return f"unknown dataset {spec!r}: {where}"


def dataset_size(spec: str) -> int:
    """The number of records n of a training dataset, read from headers only (no record is read): the benchmarks'
    published size, the shape of y in a .npz or an on-disk dataset, the number of image files in an image folder
    (listed, not opened). Used by `dpcgan train --dry-run`."""
    if spec in BENCHMARKS:
        return BENCHMARKS[spec].train_size
    path = Path(spec)
    try:
        if path.is_dir() and not (path / "x.npy").is_file():
            return len(folder_image_files(path, [p.name for p in class_folders(path)]))
        if path.is_dir() and (path / "y.npy").is_file():
            return int(np.load(path / "y.npy", mmap_mode="r", allow_pickle=False).shape[0])
        if path.is_file():
            with zipfile.ZipFile(path) as z, z.open("y.npy") as f:
                version = np.lib.format.read_magic(f)
                header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape = header(f)[0]
                return int(shape[0])
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as e:
        raise DataError(f"{spec}: cannot read the number of records from its header ({e})") from e
    raise DataError(not_a_dataset(spec))


def dataset_image_shape(spec: str) -> tuple[int, int, int]:
    """(C, H, W) of a .npz or on-disk dataset from its header (no record read); N×H×W×C is read as training will."""
    path = Path(spec)
    try:
        if path.is_dir():
            shape = np.load(path / "x.npy", mmap_mode="r", allow_pickle=False).shape
        else:
            with zipfile.ZipFile(path) as z, z.open("x.npy") as f:
                version = np.lib.format.read_magic(f)
                header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape = header(f)[0]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"{spec}: cannot read the image shape from its header ({e})") from e
    if len(shape) == 3:
        return (1, *shape[1:])
    if len(shape) == 4 and shape[1] not in (1, 3) and shape[-1] in (1, 3):
        return (shape[3], shape[1], shape[2])
    if len(shape) == 4:
        return tuple(shape[1:])
    raise DataError(f"{spec}: x must be (N, H, W), (N, C, H, W) or (N, H, W, C), got shape {shape}")


def is_benchmark(spec: str) -> bool:
    return spec in BENCHMARKS
