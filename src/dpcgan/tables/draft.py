"""`dpcgan schema draft table.csv --label-column C`: a schema to review, read from the data.

Reading the schema off the rows is NOT private: fine for public data, not for private data (the categories and
the bounds would reveal rows). The file and the terminal say so, and the file's provenance records it, so that
`dpcgan train` can warn. With --epsilon the draft is differentially private instead: tables/dp_draft.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..privacy.schema_release import NOT_PRIVATE, SCHEMA_IS_PUBLIC
from .csvio import iter_frames
from .encode import cell_text
from .schema import CATEGORICAL, NUMERIC, Column, TableSchema, schema_to_toml

MAX_CATEGORIES = 50   # a text column with more distinct values is refused (a free-text or identifier column)


def draft_schema(spec, label_column: str) -> TableSchema:
    frames = list(iter_frames(spec))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(df) == 0:
        raise DataError(f"{spec}: the table has a header but no rows")
    if label_column not in df.columns:
        raise ConfigError(f"--label-column {label_column!r} is not a column of {spec} (columns: {list(df.columns)})")
    columns = []
    for name in df.columns:
        values = df[name]
        present = values.dropna()
        missing = bool(values.isna().any())
        nums = pd.to_numeric(present, errors="coerce")
        numeric = name != label_column and len(present) > 0 and not nums.isna().any() and present.nunique() > 10
        if numeric:
            v = nums.to_numpy(dtype=float)
            integer = bool(np.all(np.mod(v, 1) == 0))
            lo, hi = float(v.min()), float(v.max())
            if lo == hi:
                hi = lo + 1
            columns.append(Column(str(name), NUMERIC, min=int(lo) if integer else lo, max=int(hi) if integer else hi,
                                  integer=integer, missing=missing))
            continue
        counts = pd.Series([cell_text(v) for v in present], dtype=object).value_counts()  # as the encoder reads them
        if len(counts) > MAX_CATEGORIES:
            raise DataError(f"column {name!r} has {len(counts)} distinct text values: an identifier or free text? "
                            "drop it from the table, or write its schema entry by hand")
        if name == label_column and missing:
            raise DataError(f"the label column {name!r} has empty cells; every row needs a class")
        columns.append(Column(str(name), CATEGORICAL, tuple(counts.index), missing=missing))
    provenance = {"source": NOT_PRIVATE, "epsilon": 0.0,
                  "note": "categories and bounds were read from the rows: fine for public data; for private data "
                          "replace them with public knowledge before training"}
    return TableSchema(label_column, tuple(columns), provenance)


def write_draft(schema: TableSchema, out, header: str | None = None) -> str:
    """The schema as TOML with `header` (default: the NOT PRIVATE warning) as comments; written to `out` if given."""
    header = header if header is not None else ("Schema drafted by `dpcgan schema draft`: " + NOT_PRIVATE + ".\n"
              "Its categories and bounds were read from the rows. That is fine for a public table; for a private\n"
              "one, review every category list and bound and replace them with public knowledge (rounded, wider\n"
              "ranges) before training: values outside the bounds are clipped, unknown categories are errors\n"
              "unless the column declares other = \"NAME\".")
    text = schema_to_toml(schema, header)
    if out is not None:
        from ..io import write_bytes_atomic

        write_bytes_atomic(out, text.encode())
    return text


def is_not_private(schema: TableSchema) -> bool:
    return schema.provenance.get("source") == NOT_PRIVATE


def declare_public(schema: TableSchema) -> TableSchema:
    """The schema with the user's declaration that it is public knowledge (--schema-is-public) in its provenance,
    which travels with it into config.json, privacy.json and generator.pt."""
    return replace(schema, provenance=dict(schema.provenance, **{SCHEMA_IS_PUBLIC: True}))
