"""Rows <-> float32 vectors, fixed by the public schema alone (nothing is fitted to the data).

Per feature column, in schema order (the label is not encoded: it is the condition y):
  categorical  one-hot over its categories, plus one slot "missing" when the column is nullable   ("cat" block)
  numeric      v clipped to [min, max], then the one-hot of its bin among the column's `bins` equal-width bins of the
               public bounds, plus a slot "missing" when nullable                                  ("cat" block)
               and its position within the bin, in [-1, 1] (0 when the cell is empty)            ("num" block)
  datetime     as numeric, v = days since 1970-01-01 (each cell parsed on its own as an ISO date or date-time);
               decoded as ISO dates
The generator emits the same layout: a (straight-through) softmax per "cat" block, tanh per "num" block. Bins
make a numeric's distribution a categorical one, which a GAN matches far more easily than a single tanh output
(measured on credit_data: a single scaled value collapsed onto a narrow range); the offset keeps the resolution.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal

import numpy as np
import pandas as pd

from ..errors import DataError
from .schema import CATEGORICAL, DATETIME, Column, TableSchema, _text, date_days, format_date

CAT, NUM = "cat", "num"


def layout(schema: TableSchema) -> list[tuple[str, int, str]]:
    """(kind, width, column) per block, in the order of the encoded vector."""
    blocks = []
    for c in schema.features:
        if c.type == CATEGORICAL:
            blocks.append((CAT, len(c.categories) + int(c.missing), c.name))
        else:
            blocks.append((CAT, c.numeric_bins + int(c.missing), c.name))
            blocks.append((NUM, 1, c.name))
    return blocks


def width(schema: TableSchema) -> int:
    return sum(w for _, w, _ in layout(schema))


def cell_text(v) -> str:
    """One present cell as text, from that cell alone: a str as it is; 1, 1.0 and np.int64(1) -> '1', True -> 'true'."""
    if isinstance(v, str):
        return v
    if isinstance(v, np.generic):  # numpy scalars (np.bool_ is not a bool, np.float32 not a float)
        v = v.item()
    return _text(v)


def _as_text(values: pd.Series, na: np.ndarray) -> np.ndarray:
    """(n,) object: each cell as text (None where empty). Each cell is converted on its own, never through the
    column's distinct values or dtype guesses: a row's encoding must not depend on the other rows (deciding from the
    first distinct values, or mapping through unique(), where 1 == 1.0 == True, made one row's encoding flip when
    another was added)."""
    cells = values.to_numpy(dtype=object)
    if isinstance(values.dtype, pd.StringDtype):  # every present cell is a str (a CSV, read as text)
        out = cells.copy()
    else:
        out = np.array([None if m else cell_text(v) for v, m in zip(cells, na)], dtype=object)
    out[na] = None
    return out


def category_codes(c: Column, values: pd.Series, source: str) -> np.ndarray:
    """Index of each cell's category (len(categories) for an empty cell of a nullable column)."""
    na = values.isna().to_numpy()
    if na.any() and not c.missing:
        raise DataError(f"{source}: column {c.name!r} has empty cells but the schema does not allow them; add "
                        "missing = true to its schema entry")
    codes = pd.Index(list(c.categories), dtype=object).get_indexer(_as_text(values, na))
    unknown = (codes < 0) & ~na
    if unknown.any():
        if c.other is None:
            examples = sorted({str(v) for v in values[unknown].unique()[:3]})
            raise DataError(f"{source}: column {c.name!r} has value(s) {examples} outside its categories "
                            f"{list(c.categories)}; add them to the schema, or declare other = \"NAME\" to map "
                            "unknown values to one category")
        codes[unknown] = c.categories.index(c.other)
    codes[na] = len(c.categories)
    return codes


def _cell_number(v) -> float:
    """One cell as a float, from that cell alone (nan: empty, or not a number)."""
    if isinstance(v, str):
        if "_" in v:  # Python's float() would take '1_000'; a table cell with it is text
            return math.nan
        try:
            return float(v)
        except ValueError:
            return math.nan
    if isinstance(v, (bool, np.bool_, numbers.Real, Decimal)):
        try:
            return float(v)
        except OverflowError:  # an int beyond float range: clipped to the bounds anyway
            return math.inf if v > 0 else -math.inf
    return math.nan


def numeric_values(c: Column, values: pd.Series, source: str,
                   notes: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(values clipped to the public bounds, with 0 for empty cells; empty-cell mask). notes, when given, counts per
    numeric column the cells clipped to the bounds ("clipped") and the non-integers of an integer column
    ("non_integer")."""
    na_in = values.isna().to_numpy()
    nums = _date_days(c, values, na_in, source) if c.type == DATETIME else _numbers(c, values, na_in, source)
    na = np.isnan(nums)
    if na.any() and not c.missing:
        raise DataError(f"{source}: column {c.name!r} has empty cells but the schema does not allow them; add "
                        "missing = true to its schema entry")
    if notes is not None and c.type != DATETIME:
        present = nums[~na]
        counts = notes.setdefault(c.name, {"clipped": 0, "non_integer": 0})
        counts["clipped"] += int(((present < c.min) | (present > c.max)).sum())
        if c.integer:
            counts["non_integer"] += int((present != np.round(present)).sum())
    return np.where(na, c.min, np.clip(nums, c.min, c.max)), na


def _numbers(c: Column, values: pd.Series, na_in: np.ndarray, source: str) -> np.ndarray:
    """A numeric column's cells as floats (NaN where empty, or a 'nan' text cell)."""
    if pd.api.types.is_numeric_dtype(values.dtype):  # int, float, bool (numpy or nullable): one number per cell
        nums = values.to_numpy(dtype=float, na_value=np.nan)
    else:  # object or text: each cell parsed on its own (pd.to_numeric picks one result dtype for the whole column)
        nums = np.fromiter((_cell_number(v) for v in values.to_numpy(dtype=object)), dtype=float, count=len(values))
    bad = np.isnan(nums) & ~na_in
    if bad.any():
        text = values[bad].astype(str)
        not_nan = text[~text.str.lower().isin(["nan"])]
        if len(not_nan):
            raise DataError(f"{source}: column {c.name!r} is numeric in the schema but holds text "
                            f"{sorted(set(not_nan.unique()[:3]))}; fix the cells or make the column categorical")
    return nums


def describe_cell_notes(notes: dict) -> str | None:
    """One line on the cells the encoding changed (clipped to the bounds, non-integers in integer columns), or None.
    Counts of private rows: for the terminal only, never written to the run."""
    parts = []
    for key, what in (("clipped", "cells outside their column's public bounds were clipped to them"),
                      ("non_integer", "non-integer values in integer columns (kept within their bin; sampled "
                                      "values are whole numbers)")):
        by_column = {name: c[key] for name, c in notes.items() if c[key]}
        if by_column:
            parts.append(f"{sum(by_column.values())} {what} ("
                         + ", ".join(f"{name}: {k}" for name, k in by_column.items()) + ")")
    if not parts:
        return None
    return "note: " + "; ".join(parts) + " -- counts of the private rows, shown here only"


def _date_days(c: Column, values: pd.Series, na_in: np.ndarray, source: str) -> np.ndarray:
    """A datetime column's cells as days since 1970-01-01 (NaN where empty). Text cells are ISO dates, each
    parsed on its own (no format guessed from the column); datetime cells (Parquet, a DataFrame) as they are;
    numeric cells (e.g. a baseline's sampled frame) are already days."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        nums = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        cells = values.to_numpy(dtype=object)
        nums = np.array([math.nan if m else date_days(v) for v, m in zip(cells, na_in)], dtype=float)
    bad = np.isnan(nums) & ~na_in
    if bad.any():
        raise DataError(f"{source}: column {c.name!r} is a datetime in the schema but holds "
                        f"{sorted(set(values[bad].astype(str).unique()[:3]))}, not ISO dates (YYYY-MM-DD); fix the "
                        "cells or change the column's type")
    return nums


def encode_frame(df: pd.DataFrame, schema: TableSchema, *, source: str = "table",
                 notes: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x (n, d) float32 and y (n,) int64 from a frame whose columns are exactly the schema's (notes: see
    numeric_values)."""
    n = len(df)
    x = np.zeros((n, width(schema)), dtype=np.float32)
    pos = 0
    for c in schema.features:
        if c.type == CATEGORICAL:
            codes = category_codes(c, df[c.name], source)
            k = len(c.categories) + int(c.missing)
            x[np.arange(n), pos + codes] = 1.0
            pos += k
        else:
            v, na = numeric_values(c, df[c.name], source, notes)
            t = (v - c.min) / (c.max - c.min) * c.numeric_bins           # in [0, bins]
            b = np.minimum(np.floor(t), c.numeric_bins - 1)
            x[np.arange(n), pos + np.where(na, c.numeric_bins, b).astype(np.int64)] = 1.0
            pos += c.numeric_bins + int(c.missing)
            x[:, pos] = np.where(na, 0.0, 2.0 * (t - b) - 1.0)
            pos += 1
    lab = schema.label_column
    if df[lab.name].isna().any():
        raise DataError(f"{source}: the label column {lab.name!r} has empty cells; every row needs a class")
    y = category_codes(lab, df[lab.name], source).astype(np.int64)
    return x, y


MAX_EXACT_INTEGERS = 1_000_000   # integer columns with at most this many values decode bin-exactly


def integers_in_bins(c, b: np.ndarray, offset: np.ndarray, v: np.ndarray, bins: int | None = None) -> np.ndarray:
    """Integer values of an integer column for bins b and within-bin positions offset in [0, 1]: the value is
    picked among the integers that encode to bin b, so a decoded row encodes back to the bin it was drawn in.
    (Rounding b's continuous value instead moved a share of each bin into its neighbours where bin edges fall
    between integers: credit_data's Seniority, 20 bins over 0-48, had a bin share off by 3.7 points after a
    decode and re-encode.) A bin holding no integer, or a column with more than MAX_EXACT_INTEGERS values, rounds
    as before, within the bounds. bins: the number of equal-width bins (default the column's)."""
    bins = c.numeric_bins if bins is None else bins
    lo, hi = np.ceil(c.min), np.floor(c.max)
    rounded = np.clip(np.round(v), lo, hi)
    if hi < lo or hi - lo + 1 > MAX_EXACT_INTEGERS:
        return rounded
    values = np.arange(lo, hi + 1)
    t = (values - c.min) / (c.max - c.min) * bins     # the encoder's own binning of every integer
    of_value = np.minimum(np.floor(t), bins - 1).astype(np.int64)
    first = np.searchsorted(of_value, np.arange(bins), side="left")   # sorted: binning is monotone in the value
    count = np.searchsorted(of_value, np.arange(bins), side="right") - first
    k = count[b]
    pick = first[b] + np.minimum(np.floor(offset * k), np.maximum(k - 1, 0)).astype(np.int64)
    return np.where(k > 0, values[np.minimum(pick, len(values) - 1)], rounded)


def decode(x: np.ndarray, y: np.ndarray, schema: TableSchema) -> pd.DataFrame:
    """Rows from encoded vectors (argmax per categorical block; numerics rescaled, integers rounded)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    out: dict[str, object] = {}
    pos = 0
    for c in schema.features:
        if c.type == CATEGORICAL:
            k = len(c.categories) + int(c.missing)
            codes = x[:, pos : pos + k].argmax(1)
            cats = np.array(list(c.categories) + [None], dtype=object)
            out[c.name] = pd.array(cats[codes], dtype="string")
            pos += k
        else:
            k = c.numeric_bins + int(c.missing)
            b = x[:, pos : pos + k].argmax(1)
            na = b == c.numeric_bins
            b = np.minimum(b, c.numeric_bins - 1)
            offset = (np.clip(x[:, pos + k], -1, 1) + 1.0) / 2.0
            v = c.min + (b + offset) / c.numeric_bins * (c.max - c.min)
            pos += k + 1
            if c.type == DATETIME:   # a calendar day within the bounds
                days = np.clip(np.floor(v), np.floor(c.min), np.floor(c.max))
                out[c.name] = pd.array([None if m else format_date(d) for d, m in zip(days, na)], dtype="string")
            elif c.integer:
                v = integers_in_bins(c, b, offset, v)
                out[c.name] = pd.array(np.where(na, None, v.astype(np.int64)).tolist(), dtype="Int64")
            else:
                # float32 encoding: keep about 6 significant digits of the column's range
                decimals = max(0, 6 - int(np.ceil(np.log10(c.max - c.min))))
                out[c.name] = pd.array(np.where(na, np.nan, np.round(v, decimals)), dtype="Float64")
    labels = np.array(schema.label_names, dtype=object)[np.asarray(y, dtype=np.int64)]
    out[schema.label] = pd.array(labels, dtype="string")
    return pd.DataFrame({name: out[name] for name in schema.names})
