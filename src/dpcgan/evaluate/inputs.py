"""Validation of the arrays handed to the evaluation, and the one pixel scale every model sees.

Every image, synthetic or real, train or test, is turned into float32 in [0, 1] here and nowhere else.
The original DP-CGAN evaluation trained on [0, 1] and tested on 0-255 pixels; routing all inputs
through `unit_pixels` makes that mismatch impossible.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data import LabeledImages
from ..errors import DataError

ArrayLike = np.ndarray | torch.Tensor


def _numpy(a: ArrayLike) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def unit_pixels(x: ArrayLike, *, source: str) -> torch.Tensor:
    """float32 pixels in [0, 1]: uint8 is divided by 255 (a fixed scale, never fitted), float is checked."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.uint8:
            return x.float().div_(255.0)
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return torch.from_numpy(x).float().div_(255.0)
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{source}: pixels have dtype {x.dtype}; use uint8 (0-255) or float (0-1)")
    if x.size and not np.isfinite(x).all():
        raise DataError(f"{source}: images contain NaN or infinite pixels")
    if x.size:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{source}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]; "
                            "divide 0-255 images by 255 or pass them as uint8")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def check_labels(y: ArrayLike, n: int, num_classes: int, *, source: str) -> np.ndarray:
    """int64 labels (n,) in [0, num_classes)."""
    y = _numpy(y)
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be a 1-D array, got shape {y.shape}")
    if y.shape[0] != n:
        raise DataError(f"{source}: {n} images but {y.shape[0]} labels")
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and bool(np.isfinite(y).all()) and bool(np.all(np.mod(y, 1) == 0)))
    if not integral or y.dtype == np.bool_:
        raise DataError(f"{source}: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"{source}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
                        f"found [{int(y.min())}, {int(y.max())}]")
    return y


def check_synthetic(x: ArrayLike, y: ArrayLike, *, image_shape: Sequence[int], num_classes: int,
                    need_two_classes: bool = True, source: str = "synthetic data") -> tuple[torch.Tensor, np.ndarray]:
    """Pixels (N, C, H, W) float32 in [0, 1] and labels int64 (N,), or a DataError that says what is wrong.

    `image_shape` is the real test images' (C, H, W); (N, H, W) input is accepted for one channel.
    """
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
    image_shape = tuple(int(s) for s in image_shape)
    shape = tuple(x.shape)
    if len(shape) == 3 and image_shape[0] == 1:
        shape = (shape[0], 1, *shape[1:])
    if len(shape) != 4 or shape[1:] != image_shape:
        c, h, w = image_shape
        expected = f"(N, {c}, {h}, {w})" + (f" or (N, {h}, {w})" if c == 1 else "")
        raise DataError(f"{source}: images have shape {tuple(x.shape)}, but the real test images need {expected}; "
                        "the synthetic data must come from a model trained on the same dataset")
    if shape[0] == 0:
        raise DataError(f"{source}: no images")
    labels = check_labels(y, shape[0], num_classes, source=source)
    pixels = unit_pixels(x, source=source).reshape(shape)
    if need_two_classes and np.unique(labels).size < 2:
        raise DataError(f"{source}: all labels are {int(labels[0])}; the classifiers need at least 2 classes "
                        "present in the synthetic labels")
    return pixels, labels


def check_real(real_train: LabeledImages, real_test: LabeledImages, num_classes: int) -> None:
    """The real splits must describe the same task as the synthetic data."""
    if tuple(real_train.x.shape[1:]) != tuple(real_test.x.shape[1:]):
        raise DataError(f"real train images {tuple(real_train.x.shape[1:])} and real test images "
                        f"{tuple(real_test.x.shape[1:])} differ in shape")
    if num_classes < 2:
        raise DataError(f"num_classes must be at least 2, got {num_classes}")
    for split, data in (("real train", real_train), ("real test", real_test)):
        if data.num_classes != num_classes:
            raise DataError(f"{split} data ({data.name}) has {data.num_classes} classes but num_classes={num_classes}")
        if len(data) == 0:
            raise DataError(f"{split} data ({data.name}) is empty")
