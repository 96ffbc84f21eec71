"""A user's labeled images from memory (numpy or torch), an image folder, or a label-names file.

The label set is public input: given as label names or K, never read off the labels. Images may come as N×H×W,
N×C×H×W or N×H×W×C (the last is transposed, and said so), uint8 in [0, 255] or float in [0, 1].
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import LabeledImages, validated

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def as_numpy(a, what: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except Exception as e:
        raise DataError(f"{what}: cannot be read as an array ({e})") from e


def to_nchw(x: np.ndarray, *, source: str, announce=None) -> np.ndarray:
    """N×H×W -> N×1×H×W; N×H×W×C (C in 1, 3 and not already N×C×H×W) -> N×C×H×W, announced."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        if announce is not None:
            announce(f"{source}: images are N×H×W×C {tuple(x.shape)}; transposed to N×C×H×W")
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def stderr_note(message: str) -> None:
    print(message, file=sys.stderr)


def labels_to_indices(y: np.ndarray, label_names: list[str] | None, num_classes: int | None, *,
                      source: str) -> tuple[np.ndarray, int]:
    """Integer labels in [0, K) and K, from label values that are names (mapped by `label_names`) or integers."""
    if label_names is not None:
        if num_classes is not None and num_classes != len(label_names):
            raise DataError(f"{source}: {len(label_names)} label names but num_classes={num_classes}")
        num_classes = len(label_names)
        if y.dtype.kind in "USO":  # names: map each to its index in the public list
            index = {name: i for i, name in enumerate(label_names)}
            unknown = sorted({str(v) for v in y.tolist()} - set(index))
            if unknown:
                raise DataError(f"{source}: label(s) {unknown[:5]} are not among the label names {label_names}")
            return np.asarray([index[str(v)] for v in y.tolist()], dtype=np.int64), num_classes
    elif y.dtype.kind in "USO":
        raise DataError(f"{source}: labels are strings: give the label names (labels=[...] or --label-names FILE)")
    return y, num_classes


def images_from_arrays(x, y, *, label_names: list[str] | None = None, num_classes: int | None = None,
                       name: str = "array", announce=stderr_note) -> LabeledImages:
    """Validated LabeledImages from in-memory arrays. The label set (names or K) is required."""
    if label_names is None and num_classes is None:
        raise DataError("give the label set: labels=[names] or num_classes=K (it is public input; reading it off "
                        "the private labels is not covered by the guarantee)")
    x = to_nchw(as_numpy(x, "x"), source="x", announce=announce)
    y = as_numpy(y, "y")
    if y.ndim != 1:
        raise DataError(f"y must be a 1-D array of labels, got shape {y.shape}")
    y, k = labels_to_indices(y, label_names, num_classes, source="y")
    return validated(x, y, k, source=name, name=name)


def read_label_names(path: str | os.PathLike) -> list[str]:
    """One name per line, or a JSON list of strings. Names must be unique and non-empty."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise DataError(f"--label-names {p}: cannot read it ({e.strerror})") from e
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except ValueError as e:
            raise DataError(f"--label-names {p}: not a valid JSON list ({e})") from e
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    return check_label_names(names, source=f"--label-names {p}")


def check_label_names(names, *, source: str) -> list[str]:
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{source}: expected a list of non-empty strings")
    names = list(names)
    if len(names) < 2:
        raise DataError(f"{source}: need at least 2 label names, got {len(names)}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{source}: duplicate label names {dup}")
    return names


def is_image_folder(spec: str) -> bool:
    p = Path(spec)
    return p.is_dir() and not (p / "x.npy").is_file()


def load_image_folder(directory: str | os.PathLike, *, label_names: list[str] | None = None,
                      image_size: int | None = None) -> LabeledImages:
    """The ImageFolder layout: one subfolder per class (class = folder name), PNG/JPEG/... images read with Pillow,
    grayscale unless some image has colour (then RGB for all), resized to image_size×image_size only if given.

    With label_names, every subfolder must be one of them (a name without a folder is an empty class); without,
    the sorted folder names are the labels and the data is marked as having an inferred label set (private
    training then refuses it: pass the names as public input)."""
    from PIL import Image

    root = Path(directory)
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"{root}: no class subfolders (expected DIR/<class name>/<image files>)")
    inferred = label_names is None
    names = [p.name for p in folders] if inferred else list(label_names)
    index = {n: i for i, n in enumerate(names)}
    unknown = [p.name for p in folders if p.name not in index]
    if unknown:
        raise DataError(f"{root}: class folder(s) {unknown[:5]} are not among the label names {names}")
    files = [(f, index[folder.name]) for folder in folders for f in sorted(folder.iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the class folders")
    sizes, colour = set(), False
    for f, _ in files:
        try:
            with Image.open(f) as im:
                sizes.add(im.size)
                colour = colour or im.mode not in ("1", "L", "LA", "I", "I;16", "F")
        except Exception as e:
            raise DataError(f"{f}: not a readable image ({e})") from e
    if image_size is None and len(sizes) > 1:
        shown = ", ".join(f"{w}×{h}" for w, h in sorted(sizes)[:4])
        raise DataError(f"{root}: images of different sizes ({shown}, ...): pass --image-size S to resize all to S×S")
    mode = "RGB" if colour else "L"
    w, h = (image_size, image_size) if image_size else next(iter(sizes))
    x = np.empty((len(files), 3 if colour else 1, h, w), dtype=np.uint8)
    for i, (f, _) in enumerate(files):
        with Image.open(f) as im:
            im = im.convert(mode)
            if im.size != (w, h):
                im = im.resize((w, h), Image.BILINEAR)
            a = np.asarray(im)
            x[i] = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    y = np.asarray([label for _, label in files], dtype=np.int64)
    data = validated(x, y, len(names), source=str(root), name=root.name)
    return LabeledImages(data.x, data.y, data.num_classes, data.name, inferred)


def folder_image_shape(directory: str | os.PathLike, image_size: int | None) -> tuple[int, int, int]:
    """The (C, H, W) training will see, from one image's header (no pixels decoded), for early shape checks."""
    from PIL import Image

    root = Path(directory)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(f) as im:
                    channels = 1 if im.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
                    w, h = (image_size, image_size) if image_size else im.size
                    return channels, h, w
    raise DataError(f"{root}: no image files in class subfolders")
