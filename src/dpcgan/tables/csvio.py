"""Reading a labeled table (CSV, gzip ok; Parquet with pyarrow; a pandas DataFrame) against its public schema,
and writing synthetic tables. Bad input is a DataError naming the file, the column and what to do."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.records import LabeledImages, OnDiskImages
from ..errors import ConfigError, DataError
from .encode import describe_cell_notes, encode_frame, width
from .schema import TableSchema

TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")
CHUNK_ROWS = 65536   # rows parsed at a time: pandas' memory stays bounded, only the encoded float32 rows grow


def is_table(spec) -> bool:
    return isinstance(spec, pd.DataFrame) or str(spec).lower().endswith(TABLE_SUFFIXES)


@dataclass(frozen=True)
class LabeledTable(LabeledImages):
    """A table encoded as float32 'images' of shape (1, 1, d) so that the image training loop (Poisson sampler,
    split clipping, ledger, checkpoints) runs on it unchanged; `schema` (public) travels with it into the run."""

    schema: dict | None = None


def check_columns(columns, schema: TableSchema, source: str, label_column: str | None) -> None:
    if label_column is not None and label_column != schema.label:
        raise ConfigError(f"--label-column {label_column!r} differs from the schema's label {schema.label!r}")
    columns = [str(c) for c in columns]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise DataError(f"{source}: duplicate column name(s) {dup}")
    unknown = [c for c in columns if c not in schema.names and c not in schema.dropped]
    if unknown:
        raise DataError(f"{source}: column(s) {unknown} are not in the schema; describe them in the schema, list them "
                        "in its drop = [...], or remove them from the file")
    absent = [c for c in schema.names if c not in columns]
    if absent:
        raise DataError(f"{source}: the schema's column(s) {absent} are missing from the file")


def without_dropped(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The frame without the schema's dropped columns (drop = [...], type = "ignore"): nothing after reading sees
    them."""
    gone = [c for c in frame.columns if str(c) in schema.dropped]
    return frame.drop(columns=gone) if gone else frame


def _csv_chunks(path: Path, chunk_rows: int):
    sep = "\t" if ".tsv" in path.name.lower() else ","
    try:
        # Every cell as text, whatever the other cells of its chunk hold (no dtype inference); only an empty cell is
        # missing (the text 'NA' is a category like any other). index_col=False: else a first row with one cell
        # more than the header would make the first column the index and shift every row's cells.
        with pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], index_col=False,
                         chunksize=chunk_rows, compression="infer") as reader:
            while True:
                with warnings.catch_warnings():
                    # the first row's extra cells would be dropped with a warning, a later row's are an error
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    try:
                        chunk = next(reader)
                    except StopIteration:
                        return
                yield chunk
    except pd.errors.ParserWarning as e:
        raise DataError(f"{path}: a row has more cells than the header; fix the file (a trailing separator?)") from e
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path}: the file is empty (no header, no rows)") from e
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise DataError(f"{path}: no such file") from e
        raise DataError(f"{path}: cannot read it as CSV ({' '.join(str(e).split())[:200]})") from e


def iter_frames(spec, chunk_rows: int = CHUNK_ROWS):
    """The table in chunks of rows (a DataFrame: itself)."""
    if isinstance(spec, pd.DataFrame):
        yield spec
        return
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            # nullable dtypes: an integer column with empty cells stays integer (not float64, which would round
            # large values and so make a cell's value depend on whether other rows are empty)
            yield pd.read_parquet(path, dtype_backend="numpy_nullable")
        except ImportError as e:
            raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow), or convert it to CSV") from e
        except Exception as e:
            raise DataError(f"{path}: cannot read it as Parquet ({' '.join(str(e).split())[:200]})") from e
        return
    yield from _csv_chunks(path, chunk_rows)


def read_frame(spec, schema: TableSchema, label_column: str | None = None) -> pd.DataFrame:
    """The whole table as a DataFrame, columns checked against the schema (for evaluation, not training)."""
    frames = list(iter_frames(spec))
    source = "DataFrame" if isinstance(spec, pd.DataFrame) else str(spec)
    check_columns(frames[0].columns, schema, source, label_column)
    frames = [without_dropped(f, schema) for f in frames]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(df) == 0:
        raise DataError(f"{source}: the table has a header but no rows")
    return df


def encode_table(spec, schema: TableSchema, label_column: str | None = None,
                 chunk_rows: int = CHUNK_ROWS, on_disk: str | os.PathLike | None = None,
                 notes: dict | None = None) -> tuple:
    """x (n, d) float32, y (n,) int64, parsed and encoded chunk by chunk. With `on_disk` (a .npy path) the rows
    are appended to that file instead of memory and x is an OnDiskImages over it (memory flat in n)."""
    source = "DataFrame" if isinstance(spec, pd.DataFrame) else str(spec)
    xs, ys, n, checked = [], [], 0, False
    sink = open(on_disk, "wb") if on_disk is not None else None
    d = width(schema)
    try:
        if sink is not None:  # header rewritten with the final n at the end; reserve a v1 header's room
            _write_npy_header(sink, 0, d)
        for frame in iter_frames(spec, chunk_rows):
            if not checked:
                check_columns(frame.columns, schema, source, label_column)
                checked = True
            x, y = encode_frame(without_dropped(frame, schema), schema, source=source, notes=notes)
            ys.append(y)
            n += len(y)
            if sink is not None:
                sink.write(x.tobytes())
            else:
                xs.append(x)
        if n == 0:
            raise DataError(f"{source}: the table has a header but no rows")
        if sink is not None:
            sink.seek(0)
            _write_npy_header(sink, n, d)
    except BaseException:
        if sink is not None:
            sink.close()
            Path(on_disk).unlink(missing_ok=True)
        raise
    if sink is not None:
        sink.close()
        return OnDiskRows(on_disk), np.concatenate(ys)
    return np.concatenate(xs), np.concatenate(ys)


class OnDiskRows(OnDiskImages):
    """Encoded rows in a .npy, read as batches sample them. Its raw bytes (the training data's fingerprint for
    --resume) are the rows' alone, without the file header: the same fingerprint as the rows held in memory."""

    def raw_bytes(self, block: int = 1 << 24):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            while chunk := f.read(block):
                yield chunk


def _write_npy_header(f, n: int, d: int) -> None:
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, 1, 1, d)}
    text = repr(header).encode("latin1")
    # a fixed 256-byte header so that rewriting it with the final n never moves the data
    pad = 256 - 10 - len(text) - 1
    f.write(b"\x93NUMPY\x01\x00" + (256 - 10).to_bytes(2, "little") + text + b" " * pad + b"\n")


def load_table(spec, schema: TableSchema, label_column: str | None = None, *, name: str | None = None,
               on_disk: str | os.PathLike | None = None, say=None) -> LabeledTable:
    """The training table as a LabeledTable (x (n, 1, 1, d) float32 in [-1, 1], y int64). say(line), when given,
    gets one line on the cells the encoding clipped or found non-integer in an integer column (issue 24 item 15)."""
    notes: dict = {}
    x, y = encode_table(spec, schema, label_column, on_disk=on_disk, notes=notes)
    if say is not None and (line := describe_cell_notes(notes)):
        say(line)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x.reshape(len(x), 1, 1, -1))
    name = name or ("DataFrame" if isinstance(spec, pd.DataFrame) else Path(spec).name)
    return LabeledTable(x, torch.from_numpy(y), len(schema.label_names), name, False, schema.to_dict())


def table_size(spec) -> int:
    """Rows of a table file (n, public by assumption), for --dry-run: counted chunk by chunk."""
    return sum(len(f) for f in iter_frames(spec))


def write_table(df: pd.DataFrame, out: Path) -> None:
    """CSV (gzip for .gz) with empty cells for missing values; Parquet for .parquet."""
    from ..io import write_bytes_atomic

    if out.suffix.lower() in (".parquet", ".pq"):
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        write_bytes_atomic(out, buf.getvalue())
        return
    text = df.to_csv(index=False, na_rep="", sep="\t" if ".tsv" in out.name.lower() else ",")
    data = text.encode()
    if out.name.lower().endswith(".gz"):
        import gzip

        data = gzip.compress(data, mtime=0)
    write_bytes_atomic(out, data)
