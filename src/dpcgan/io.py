"""Atomic file writes and PNG encoding (Pillow).

Every file dpcgan writes goes to a temporary name in the same directory and is renamed into place, so a
crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The permissions a plain open()/mkdir() would give (mkstemp/mkdtemp use 0600/0700)."""
    return (0o777 if directory else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on failure delete it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, default_mode())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_torch_atomic(path: str | os.PathLike, obj: Any) -> None:
    """torch.save to a temporary file and rename. Only tensors, containers and primitives: loadable with
    weights_only=True, so loading never executes code."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line and flush it: a crash loses at most the line being written (readers skip a torn
    last line)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image, (H, W) grayscale or (H, W, 3) RGB, as PNG (with Pillow)."""
    from PIL import Image

    if image.dtype != np.uint8:
        raise ValueError(f"png_bytes expects uint8, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"png_bytes expects (H, W) or (H, W, 3), got {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def image_grid(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """Tile uint8 images (N, C, H, W) with C in {1, 3} into one (H', W') or (H', W', 3) image, row-major."""
    n, c, h, w = images.shape
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for k in range(min(n, rows * cols)):
        r, col = divmod(k, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = images[k].transpose(1, 2, 0)
    return grid[:, :, 0] if c == 1 else grid


def read_toml_or_json(path: str | os.PathLike, *, flag: str, default_format: str = "json") -> Any:
    """A settings file: TOML for a .toml suffix, JSON for .json, else `default_format`. Errors name the flag."""
    from .errors import ConfigError

    p = Path(path)
    kind = {".toml": "toml", ".json": "json"}.get(p.suffix.lower(), default_format)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{flag} {p}: cannot read it ({e.strerror})") from e
    try:
        if kind == "toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib
            return tomllib.loads(text)
        return json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{flag} {p}: not valid {kind.upper()} ({' '.join(str(e).split())})") from e
