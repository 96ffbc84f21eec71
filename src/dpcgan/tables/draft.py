"""`dpcgan schema draft table.csv --label-column C`: a schema to review, read from the data.

Reading the schema off the rows is NOT private: fine for public data, not for private data (the categories and
the bounds would reveal rows). The file and the terminal say so, and the file's provenance records it, so that
`dpcgan train` can warn. With --epsilon the draft is differentially private instead: tables/dp_draft.py."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..privacy.schema_release import NOT_PRIVATE, SCHEMA_IS_PUBLIC
from .csvio import iter_frames
from .encode import cell_text
from .schema import CATEGORICAL, DATETIME, NUMERIC, Column, TableSchema, date_days, schema_to_toml

MAX_CATEGORIES = 50   # default --max-categories: a text column with more distinct values is skipped, not typed
NUMERIC_MIN_DISTINCT = 10   # a column of numbers with at most this many distinct values is drafted categorical
IDENTIFIER_SHARE = 0.9      # a text column with more distinct values than this share of its cells: an identifier
_ID_NAME = (re.compile(r"(^|[^a-z])(id|uuid|guid|key|idx)$"), re.compile(r"[a-z0-9](Id|ID)$"))   # lower, as is


def looks_like_id(name: str) -> bool:
    """record_id, ID, uuid, customerId, RecordID (not 'paid')."""
    return bool(_ID_NAME[0].search(name.lower()) or _ID_NAME[1].search(name))


def draft_schema(spec, label_column: str, *, max_categories: int = MAX_CATEGORIES, ignore=()) -> TableSchema:
    """Every column it can type (numeric, datetime, categorical); the others (and `ignore`) go to the schema's
    drop list with the reason, which the written file shows as comments."""
    check_max_categories(max_categories)
    frames = list(iter_frames(spec))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(df) == 0:
        raise DataError(f"{spec}: the table has a header but no rows")
    names = [str(c) for c in df.columns]
    if label_column not in names:
        raise ConfigError(f"--label-column {label_column!r} is not a column of {spec} (columns: {names})")
    check_ignore(ignore, names, label_column)
    columns, skipped = [], {}
    for name, values in zip(names, (df[c] for c in df.columns)):
        if name in ignore:
            skipped[name] = "ignored (--ignore)"
            continue
        col = _draft_column(name, values, name == label_column, max_categories)
        if isinstance(col, str):
            skipped[name] = col
        else:
            columns.append(col)
    if len(columns) < 2:
        raise DataError(f"{spec}: no column besides the label could be drafted (skipped: "
                        f"{'; '.join(f'{k}: {v}' for k, v in skipped.items())})")
    provenance = {"source": NOT_PRIVATE, "epsilon": 0.0,
                  "note": "categories and bounds were read from the rows: fine for public data; for private data "
                          "replace them with public knowledge before training"}
    return TableSchema(label_column, tuple(columns), provenance, tuple(skipped), skipped)


def _draft_column(name: str, values: pd.Series, is_label: bool, max_categories: int) -> Column | str:
    """The column's draft, or why it is skipped (a string)."""
    present = values.dropna()
    missing = bool(values.isna().any())
    if len(present) == 0:
        if is_label:
            raise DataError(f"the label column {name!r} has no values")
        return "every cell is empty"
    texts = pd.Series([cell_text(v) for v in present], dtype=object)   # as the encoder reads them
    distinct = texts.nunique()
    nums = pd.to_numeric(present, errors="coerce")
    if not is_label and not nums.isna().any() and distinct > NUMERIC_MIN_DISTINCT:
        v = nums.to_numpy(dtype=float)
        integer = bool(np.all(np.mod(v, 1) == 0))
        if integer and distinct == len(present) and looks_like_id(name):
            return f"identifier-like: every value is a distinct integer ({distinct} of {len(present)}) and the name " \
                   "looks like an id"
        lo, hi = float(v.min()), float(v.max())
        if lo == hi:
            hi = lo + 1
        return Column(name, NUMERIC, min=int(lo) if integer else lo, max=int(hi) if integer else hi,
                      integer=integer, missing=missing)
    if not is_label and distinct > NUMERIC_MIN_DISTINCT:
        days = np.array([date_days(t) for t in texts.unique()])
        if np.isfinite(days).all():   # every cell an ISO date or date-time
            lo, hi = math.floor(days.min()), math.floor(days.max())
            return Column(name, DATETIME, min=float(lo), max=float(max(hi, lo + 1)), missing=missing)
    if distinct > max_categories:
        if is_label:
            raise DataError(f"the label column {name!r} has {distinct} distinct values (> --max-categories "
                            f"{max_categories}): is it the right column? (or raise --max-categories)")
        if distinct > IDENTIFIER_SHARE * len(present):
            return f"identifier-like: nearly every value is distinct ({distinct} of {len(present)})"
        return f"too many categories: {distinct} distinct values > --max-categories {max_categories}"
    if is_label and missing:
        raise DataError(f"the label column {name!r} has empty cells; every row needs a class")
    return Column(name, CATEGORICAL, tuple(texts.value_counts().index), missing=missing)


def check_max_categories(max_categories) -> None:
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 1:
        raise ConfigError(f"--max-categories must be a whole number >= 1 (got {max_categories!r})")


def check_ignore(ignore, names: list[str], label_column: str) -> None:
    unknown = [c for c in ignore if c not in names]
    if unknown:
        raise ConfigError(f"--ignore {unknown}: not column(s) of the table (columns: {names})")
    if label_column in ignore:
        raise ConfigError(f"--ignore: the label column {label_column!r} cannot be ignored (it is the condition)")


def write_draft(schema: TableSchema, out, header: str | None = None) -> str:
    """The schema as TOML with `header` (default: the NOT PRIVATE warning) as comments; written to `out` if given."""
    header = header if header is not None else ("Schema drafted by `dpcgan schema draft`: " + NOT_PRIVATE + ".\n"
              "Its categories and bounds were read from the rows. That is fine for a public table; for a private\n"
              "one, review every category list and bound and replace them with public knowledge (rounded, wider\n"
              "ranges) before training: values outside the bounds are clipped, unknown categories are errors\n"
              "unless the column declares other = \"NAME\". Columns in drop = [...] are never read by a run.")
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
