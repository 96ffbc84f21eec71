"""Labeled image records: the in-memory and on-disk image types every loader returns, and the checks a loader's
arrays pass through (shape, pixel range, labels). The loaders themselves are in datasets.py (benchmarks, .npz,
on-disk arrays) and arrays.py (in-memory arrays, image folders)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError


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


def checked_labels(y: np.ndarray, num_classes: int | None, *, source: str,
                   label_names: list[str] | None = None) -> tuple[np.ndarray, int]:
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
        named = ", ".join(repr(label_names[k]) if label_names and k < len(label_names) else str(k) for k in absent)
        warnings.warn(f"{source}: {len(absent)} of the {num_classes} classes have no record: {named} (training goes "
                      "on: the label set is public; this message is not written to the run)", EmptyClassWarning,
                      stacklevel=2)
    return y, int(num_classes)


def validated(x: np.ndarray, y: np.ndarray, num_classes: int | None, *, source: str, name: str,
              label_names: list[str] | None = None) -> LabeledImages:
    """Check shapes, dtypes, value ranges and labels; return tensors. Every failure names the problem."""
    check_image_shape(x, y, source=source)
    xt = pixels_to_tensor(x, source=source)
    inferred = num_classes is None
    y, num_classes = checked_labels(y, num_classes, source=source, label_names=label_names)
    return LabeledImages(xt, torch.from_numpy(y), num_classes, name, inferred)
