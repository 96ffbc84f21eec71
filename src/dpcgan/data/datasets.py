"""Labeled image datasets: the public benchmarks (IDX) and a user's own records (.npz), validated."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .download import BENCHMARKS, SPLIT_FILES, ensure_dataset, find_file
from .idx import read_idx


@dataclass(frozen=True)
class LabeledImages:
    """Images (N, C, H, W) as uint8 in [0, 255] (or float32 in [0, 1]) and int64 labels in [0, num_classes)."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str

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
        return LabeledImages(self.x[index], self.y[index], self.num_classes, self.name)


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


def load_npz(path: str | os.PathLike, num_classes: int | None = None) -> LabeledImages:
    """A user's labeled images: x (N, H, W) or (N, C, H, W), uint8 in [0, 255] or float in [0, 1]; y (N,)
    integers. The label set {0..K-1} is treated as public; K is taken from `num_classes` if given."""
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
    if x.ndim == 3:
        x = x[:, None]
    return validated(x, y, num_classes, source=str(path), name=path.stem)


def validated(x: np.ndarray, y: np.ndarray, num_classes: int | None, *, source: str, name: str) -> LabeledImages:
    """Check shapes, dtypes, value ranges and labels; return tensors. Every failure names the problem."""
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
    if x.dtype == np.uint8:
        xt = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{source}: x contains NaN or infinite pixels")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{source}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]; "
                            "divide 0-255 images by 255 or save them as uint8")
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    else:
        raise DataError(f"{source}: x has dtype {x.dtype}; use uint8 (0-255) or float (0-1)")
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
        raise DataError(f"{source}: class(es) {absent} have no records; labels must be 0..K-1 with every class present")
    return LabeledImages(xt, torch.from_numpy(y), int(num_classes), name)


def load_dataset(spec: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 *, num_classes: int | None = None, download: bool = True) -> LabeledImages:
    """`spec` is a benchmark name ('mnist', 'fashion-mnist') or a path to a .npz file."""
    if spec in BENCHMARKS:
        return load_benchmark(spec, split, data_dir, download=download)
    if spec.endswith(".npz") or Path(spec).is_file():
        if split != "train":
            raise DataError(f"{spec}: a .npz file has no '{split}' split; pass the test records as their own .npz")
        if not Path(spec).is_file():
            raise DataError(f"{spec}: no such file")
        return load_npz(spec, num_classes)
    raise DataError(f"unknown dataset {spec!r}: choose one of {sorted(BENCHMARKS)} or pass a path to a .npz file")
