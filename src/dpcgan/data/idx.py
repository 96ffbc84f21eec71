"""Reader for the IDX format of MNIST-style datasets (gzip-compressed or raw)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

# IDX magic: two zero bytes, a type code, the number of dimensions. We only need unsigned bytes (0x08).
_UBYTE = 0x08


def read_idx_bytes(path: str | Path) -> bytes:
    """The uncompressed contents of an IDX file; .gz files are decompressed. Corruption is a DataError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(
                f"{path} is a corrupt or truncated gzip file ({e}); delete it and download it again"
            ) from e
    return raw


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a uint8 array of the shape the header declares."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{source} is not an IDX file (bad magic number {data[:4].hex()!r})")
    if data[2] != _UBYTE:
        raise DataError(f"{source}: IDX element type 0x{data[2]:02x} is not supported (expected 0x08, unsigned byte)")
    ndim = data[3]
    if ndim not in (1, 3):
        raise DataError(f"{source}: IDX file has {ndim} dimensions; expected 1 (labels) or 3 (images)")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    body = len(data) - header_len
    if body != expected:
        raise DataError(
            f"{source}: header declares shape {shape} ({expected} bytes) but the file holds {body} bytes; "
            "the file is truncated or corrupt: download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape).copy()  # writable


def read_idx(path: str | Path) -> np.ndarray:
    return parse_idx(read_idx_bytes(path), str(path))
