"""A user's labeled images from memory (numpy or torch), an image folder, or a label-names file.

The label set is public input: given as label names or K, never read off the labels. Images may come as N×H×W,
N×C×H×W or N×H×W×C (the last is transposed, and said so), uint8 in [0, 255] or float in [0, 1].
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import DataError
from .records import LabeledImages, validated

PROGRESS_EVERY_S = 10.0  # a line while a large image folder is read, at most this often
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
    return validated(x, y, k, source=name, name=name, label_names=label_names)


def read_label_names(path: str | os.PathLike) -> list[str]:
    """A file with one name per line, or a JSON list of strings; or the names themselves, comma separated
    ('shirt,sneaker,bag', when no such file exists). Names must be unique and non-empty."""
    p = Path(path)
    if "," in str(path) and not p.exists():
        return check_label_names([n.strip() for n in str(path).split(",")], source=f"--label-names {path}")
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


def missing_shape_message(directory) -> str:
    """The one line that stops an image-folder run without its public image shape."""
    return (f"--image-size S and --channels 1|3 are required for an image folder ({directory}): the image shape is a "
            "public input and every image is converted to it (reading it off the private images is not covered by "
            "the guarantee); Python: image_size=S, channels=1 or 3")


def class_folders(root: Path) -> list[Path]:
    """The class subfolders of an image folder, sorted; hidden ones (.ipynb_checkpoints, .git, ...) are not classes."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_image_files(root: Path, names: list[str]) -> list[tuple[Path, int]]:
    """(file, label index) of every image file in the class subfolders, in sorted order; no file is opened. Hidden
    folders and files (names starting with '.', e.g. macOS's '._x.png') are skipped."""
    folders = class_folders(root)
    if not folders:
        raise DataError(f"{root}: no class subfolders (expected DIR/<class name>/<image files>)")
    index = {n: i for i, n in enumerate(names)}
    unknown = [p.name for p in folders if p.name not in index]
    if unknown:
        raise DataError(f"{root}: class folder(s) {unknown[:5]} are not among the label names {names}")
    files = [(f, index[folder.name]) for folder in folders for f in sorted(folder.iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
    if not files:
        raise DataError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the class folders")
    return files


def image_as_array(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file as (channels, S, S) uint8: converted to grey ('L') or 'RGB', then resized to S×S (bilinear)
    if its size differs. A function of this file and the public (S, channels) alone, never of the other images."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.BILINEAR)
            a = np.asarray(im)
    except Exception as e:
        raise DataError(f"{path}: not a readable image ({e})") from e
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def load_image_folder(directory: str | os.PathLike, *, label_names: list[str] | None = None,
                      image_size: int | None = None, channels: int | None = None,
                      progress: bool = True) -> LabeledImages:
    """The ImageFolder layout: one subfolder per class (class = folder name), PNG/JPEG/... images read with Pillow.

    The image shape (channels, S, S) is a public input: each image is converted to grey (channels=1) or RGB
    (channels=3) and resized to S×S on its own, so that one image's row depends on that file alone (a colour or
    odd-sized image among the others changes only its own row, never the shape). Without both, nothing is read.

    With label_names, every subfolder must be one of them (a name without a folder is an empty class); without,
    the sorted folder names are the labels and the data is marked as having an inferred label set (private
    training then refuses it: pass the names as public input).

    progress: say on stderr how many files are read, every PROGRESS_EVERY_S seconds how far it got, and how long it
    took (file counts only: the number of files is public by assumption, per-class counts are not)."""
    root = Path(directory)
    if image_size is None or channels is None:
        raise DataError(missing_shape_message(root))
    if channels not in (1, 3) or image_size < 4:
        raise DataError(f"{root}: channels must be 1 or 3 and image_size >= 4 (got {channels}, {image_size})")
    inferred = label_names is None
    names = [p.name for p in class_folders(root)] if inferred else list(label_names)
    files = folder_image_files(root, names)
    x = np.empty((len(files), channels, image_size, image_size), dtype=np.uint8)  # (N, C, S, S)
    # reading thousands of PNGs takes a while: say so (counts only, on the terminal)
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
    say(f"reading {len(files):,} images from {root.name}/ ({len(names)} classes), each converted to "
        f"{channels} x {image_size} x {image_size} ...")
    t0 = last = time.perf_counter()
    for i, (f, _) in enumerate(files):
        x[i] = image_as_array(f, image_size, channels)
        if time.perf_counter() - last >= PROGRESS_EVERY_S:
            last = time.perf_counter()
            say(f"  {i + 1:,} of {len(files):,} images read ({last - t0:.0f} s)")
    say(f"read {len(files):,} images from {root.name}/ in {time.perf_counter() - t0:.1f} s")
    y = np.asarray([label for _, label in files], dtype=np.int64)
    data = validated(x, y, len(names), source=str(root), name=root.name, label_names=names)
    return LabeledImages(data.x, data.y, data.num_classes, data.name, inferred)
