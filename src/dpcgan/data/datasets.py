"""Labeled image datasets: the public benchmarks (IDX) and a user's own records (.npz), validated."""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .download import BENCHMARKS, SPLIT_FILES, ensure_dataset, find_file
from .idx import read_idx


class OnDiskImages:
    """Images in an .npy file, read row by row on demand with pread: a dataset far larger than RAM trains in
    constant memory. (Fancy-indexing an np.memmap instead makes the kernel map about 1 MB around every
    sampled row: 256 random rows of MNIST cost ~290 MB of resident memory.) Indexing returns torch tensors."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise DataError(f"{self.path}: store x as a C-ordered uint8 (or float32) array")
        if len(shape) == 3:
            shape = (shape[0], 1, *shape[1:])
        self.np_dtype = dtype
        self.shape = torch.Size(shape)
        self.dtype = torch.uint8 if dtype == np.uint8 else torch.float32
        self.row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def _rows(self, start: int, count: int) -> np.ndarray:
        buf = os.pread(self._fd, count * self.row_bytes, self.offset + start * self.row_bytes)
        return np.frombuffer(buf, dtype=self.np_dtype).reshape(count, *self.shape[1:])

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise IndexError("only contiguous slices")
            rows = self._rows(start, max(stop - start, 0))
        else:
            idx = np.asarray(index.numpy() if isinstance(index, torch.Tensor) else index, dtype=np.int64).reshape(-1)
            rows = np.empty((len(idx), *self.shape[1:]), dtype=self.np_dtype)
            for k, i in enumerate(idx):
                rows[k] = self._rows(int(i), 1)[0]
        return torch.from_numpy(rows.copy() if not rows.flags.writeable else rows)

    def raw_bytes(self, block: int = 1 << 24):
        """The file's bytes in blocks (for fingerprinting), by ordinary reads."""
        with open(self.path, "rb") as f:
            while chunk := f.read(block):
                yield chunk


class EmptyClassWarning(UserWarning):
    """A class of the public label set has no record in the data (printed on the terminal, never released)."""


@dataclass(frozen=True)
class LabeledImages:
    """Images (N, C, H, W) as uint8 in [0, 255] (or float32 in [0, 1]) and int64 labels in [0, num_classes).

    label_set_inferred: num_classes was read off the labels (max + 1) instead of given. That reads the private
    data, so private training refuses such data (the label set must be a public input)."""

    x: torch.Tensor | OnDiskImages
    y: torch.Tensor
    num_classes: int
    name: str
    label_set_inferred: bool = False

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def float_images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Pixels in [0, 1]. The scaling is fixed (/255), never fitted to the data, so it leaks nothing."""
        x = self.x if index is None else self.x[index]
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def subset(self, index: torch.Tensor) -> "LabeledImages":
        return LabeledImages(self.x[index], self.y[index], self.num_classes, self.name, self.label_set_inferred)

    def random_subset(self, n: int, generator: torch.Generator) -> "LabeledImages":
        """min(n, len) records drawn uniformly without replacement, kept in their original order."""
        return self.subset(torch.randperm(len(self), generator=generator)[:n].sort().values)


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
    from .arrays import labels_to_indices, stderr_note, to_nchw

    x = to_nchw(x, source=str(path), announce=stderr_note)
    if y.ndim == 1:
        y, num_classes = labels_to_indices(y, label_names, num_classes, source=str(path))
    return validated(x, y, num_classes, source=str(path), name=path.stem)


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


def check_image_shape(x: np.ndarray, y: np.ndarray, *, source: str) -> None:
    if x.ndim != 4:
        raise DataError(f"{source}: x must be (N, H, W) or (N, C, H, W), got shape {x.shape}")
    if x.shape[1] not in (1, 3):
        raise DataError(f"{source}: x has {x.shape[1]} channels; expected 1 or 3 (layout N×C×H×W)")
    if min(x.shape[2:]) < 4:
        raise DataError(f"{source}: images of size {x.shape[2:]} are too small")
    if y.ndim != 1:
        raise DataError(f"{source}: y must be a 1-D array of integer labels, got shape {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{source}: {x.shape[0]} images but {y.shape[0]} labels")
    if x.shape[0] == 0:
        raise DataError(f"{source}: the dataset is empty")


def pixels_to_tensor(x: np.ndarray, *, source: str) -> torch.Tensor:
    """uint8 pixels as they are, float pixels checked to be finite and in [0, 1]."""
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{source}: x contains NaN or infinite pixels")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{source}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]; "
                            "divide 0-255 images by 255 or save them as uint8")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    raise DataError(f"{source}: x has dtype {x.dtype}; use uint8 (0-255) or float (0-1)")


def checked_labels(y: np.ndarray, num_classes: int | None, *, source: str) -> tuple[np.ndarray, int]:
    """Integer labels in [0, K); K from num_classes (public) or, for non-private uses, max + 1.

    A class with no record is allowed, with a warning on the terminal: refusing it would tell the datasets with
    and without a class's only record apart with certainty."""
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0))):
        raise DataError(f"{source}: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    lo, hi = int(y.min()), int(y.max())
    if num_classes is None:
        num_classes = hi + 1
    if num_classes < 2:
        raise DataError(f"{source}: need at least 2 classes, got {num_classes}")
    if lo < 0 or hi >= num_classes:
        raise DataError(f"{source}: labels must lie in [0, {num_classes - 1}], found [{lo}, {hi}]")
    counts = np.bincount(y, minlength=num_classes)
    if (counts == 0).any():
        absent = np.flatnonzero(counts == 0).tolist()
        warnings.warn(f"{source}: class(es) {absent} of the {num_classes} classes have no records (training goes on: "
                      "the label set is public; this message is not written to the run)", EmptyClassWarning,
                      stacklevel=2)
    return y, int(num_classes)


def validated(x: np.ndarray, y: np.ndarray, num_classes: int | None, *, source: str, name: str) -> LabeledImages:
    """Check shapes, dtypes, value ranges and labels; return tensors. Every failure names the problem."""
    check_image_shape(x, y, source=source)
    xt = pixels_to_tensor(x, source=source)
    inferred = num_classes is None
    y, num_classes = checked_labels(y, num_classes, source=source)
    return LabeledImages(xt, torch.from_numpy(y), num_classes, name, inferred)


def load_dataset(spec: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 *, num_classes: int | None = None, label_names: list[str] | None = None,
                 image_size: int | None = None, channels: int | None = None, download: bool = True) -> LabeledImages:
    """`spec` is a benchmark name ('mnist', 'fashion-mnist'), a .npz file, a directory with x.npy and y.npy, or an
    image folder (one subfolder per class; its public image shape `image_size` and `channels` is required, every
    image is converted to it). Arrays keep their shape (one for all records). A user's files are one split: `split`
    must be 'train' (pass the test records as their own file)."""
    if spec in BENCHMARKS:
        return load_benchmark(spec, split, data_dir, download=download)
    path = Path(spec)
    if path.is_dir() or path.is_file() or spec.endswith(".npz"):
        if split != "train":
            raise DataError(f"{spec}: your own dataset is one split; pass the {split} records as their own file")
    if path.is_dir() and (path / "x.npy").is_file():
        return load_npy_dir(spec, num_classes)
    if path.is_dir():
        from .arrays import load_image_folder

        if label_names is None and num_classes is not None:
            raise DataError(f"{spec}: an image folder's classes are named by its subfolders: give --label-names")
        return load_image_folder(spec, label_names=label_names, image_size=image_size, channels=channels)
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
            from .arrays import class_folders, folder_image_files

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
