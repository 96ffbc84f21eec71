"""A table row's encoding depends on that row alone (privacy review item 3): a cell is converted on its own, never
through the other rows of its column or its chunk (which value came first, the column's dtype, pandas' guesses).
Otherwise adding one record changes another record's encoded vector, and the D step's sensitivity is unbounded.
Each row's encoding is compared with that of a table holding the row alone, after adding and reordering rows, for
DataFrame, CSV (chunk boundaries anywhere) and Parquet input."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from dpcgan.errors import DataError
from dpcgan.tables.csvio import encode_table
from dpcgan.tables.encode import encode_frame
from dpcgan.tables.schema import parse_schema

SCHEMA = parse_schema({
    "label": "y",
    "columns": {
        "y": {"type": "categorical", "categories": ["p", "q"]},
        "c": {"type": "categorical", "categories": ["1", "a", "true", "9007199254740993"], "other": "other",
              "missing": True},
        "v": {"type": "numeric", "min": 0, "max": 10, "missing": True},
    },
})

# a DataFrame column mixing strings, ints, floats, bools, numpy scalars and empty cells (object dtype)
MIXED_C = [1, "1", 1.0, "a", True, None, np.int64(1), np.float32(1.0), np.bool_(True), "zzz", False, 2.0, float("nan"),
           "true", "True", "1.0"]
MIXED_V = [True, "2", 3.5, None, "nan", 1, "1e1", 12, np.float32(2.5), Decimal("4.5"), np.int64(7), "-3", 0.25, 8,
           float("nan"), "9"]


def frame(c, v, y=None) -> pd.DataFrame:
    y = y if y is not None else ["pq"[i % 2] for i in range(len(c))]
    return pd.DataFrame({"y": pd.Series(y, dtype=object), "c": pd.Series(c, dtype=object),
                         "v": pd.Series(v, dtype=object)})


def rows_alone(df: pd.DataFrame) -> np.ndarray:
    """(n, d): each row encoded in a frame that holds it alone."""
    return np.concatenate([encode_frame(df.iloc[[i]].reset_index(drop=True), SCHEMA)[0] for i in range(len(df))])


def test_dataframe_row_encoding_does_not_depend_on_other_rows():
    df = frame(MIXED_C, MIXED_V)
    alone = rows_alone(df)
    x, _ = encode_frame(df, SCHEMA)
    np.testing.assert_array_equal(x, alone)
    # the numbers 1, 1.0, np.int64(1), np.float32(1.0) and the text "1" are the category "1"; True is "true"
    cats = ["1", "a", "true", "9007199254740993", "other", None]
    assert [cats[k] for k in x[:, :6].argmax(1)][:9] == ["1", "1", "1", "a", "true", None, "1", "1", "true"]

    # add rows before (1,001 distinct strings: more than any "first 1,000 values" look-ahead) and after, reorder
    n_extra = 1001
    bigger = frame([f"s{k}" for k in range(n_extra)] + MIXED_C + [True, 1.0, "x"],
                   [5] * n_extra + MIXED_V + [1, 2, 3])
    xb, _ = encode_frame(bigger, SCHEMA)
    np.testing.assert_array_equal(xb[n_extra:n_extra + len(df)], alone)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(bigger))
        xp, _ = encode_frame(bigger.iloc[perm].reset_index(drop=True), SCHEMA)
        np.testing.assert_array_equal(xp[np.argsort(perm)], xb)


def test_a_column_of_one_dtype_encodes_each_cell_as_the_object_column_does():
    # a frame built from typed columns (bool, int, float with NaN) encodes each cell as the same value would alone
    typed = pd.DataFrame({"y": ["p", "q", "p"], "c": [True, False, True], "v": [1, 2, 3]})
    np.testing.assert_array_equal(encode_frame(typed, SCHEMA)[0], rows_alone(typed.astype(object)))
    typed = pd.DataFrame({"y": ["p", "q", "p"], "c": [1.0, np.nan, 2.0], "v": [1.5, np.nan, 11.0]})
    np.testing.assert_array_equal(encode_frame(typed, SCHEMA)[0], rows_alone(typed.astype(object)))


CSV_HEADER = "y,c,v"
CSV_ROWS = ["p,1,1", "q,1.0,2.5", "p,a,", "q,,nan", "p,True,1e1", "q,true,12", "p,NA,-3", "q, 1,007", "p,007,0.5",
            "q,zzz,9", "p,9007199254740993,3", "q,1,4"]


def encode_csv(path, rows, chunk_rows) -> np.ndarray:
    path.write_text("\n".join([CSV_HEADER, *rows]) + "\n")
    return encode_table(path, SCHEMA, chunk_rows=chunk_rows)[0]


def test_csv_row_encoding_does_not_depend_on_other_rows_or_chunks(tmp_path):
    alone = np.concatenate([encode_csv(tmp_path / f"r{i}.csv", [r], 1) for i, r in enumerate(CSV_ROWS)])
    extra = [f"p,s{k},{k % 10}" for k in range(40)]
    for chunk_rows in (1, 2, 3, 5, 7, 1000):
        np.testing.assert_array_equal(encode_csv(tmp_path / "t.csv", CSV_ROWS, chunk_rows), alone)
        for seed in range(2):
            rows = extra + CSV_ROWS + extra[:7]
            perm = np.random.default_rng(seed).permutation(len(rows))
            x = encode_csv(tmp_path / "t.csv", [rows[k] for k in perm], chunk_rows)[np.argsort(perm)]
            np.testing.assert_array_equal(x[len(extra):len(extra) + len(CSV_ROWS)], alone)


@pytest.mark.parametrize("where", [0, 5])
def test_a_csv_row_with_more_cells_than_the_header_is_refused_wherever_it_is(tmp_path, where):
    # a first row with an extra cell used to turn the first column into the index: every row's cells shifted
    rows = list(CSV_ROWS)
    rows[where] += ",extra"
    with pytest.raises(DataError, match="cells than the header|Expected 3 fields"):
        encode_csv(tmp_path / "t.csv", rows, 4)


def test_parquet_row_encoding_does_not_depend_on_other_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [("p", 9007199254740993, 1.0), ("q", None, None), ("p", 1, 12.0), ("q", 2, 2.5), ("p", 1, None)]

    def write(path, rs):
        pq.write_table(pa.table({"y": pa.array([r[0] for r in rs], pa.string()),
                                 "c": pa.array([r[1] for r in rs], pa.int64()),
                                 "v": pa.array([r[2] for r in rs], pa.float64())}), path)
        return encode_table(path, SCHEMA)[0]

    alone = np.concatenate([write(tmp_path / f"r{i}.parquet", [r]) for i, r in enumerate(rows)])
    # an integer column with an empty cell must not become float64 (9007199254740993 would round to ...992)
    assert alone[0, :5].argmax() == 3
    np.testing.assert_array_equal(write(tmp_path / "t.parquet", rows), alone)
    perm = [4, 2, 0, 3, 1]
    x = write(tmp_path / "t.parquet", [rows[k] for k in perm])[np.argsort(perm)]
    np.testing.assert_array_equal(x, alone)


def test_clipped_and_non_integer_cells_are_counted_in_one_terminal_line(tmp_path, capsys):
    """Issue 24 item 15: values outside the public bounds (clipped) and non-integers in an integer column are
    accepted, but counted and said in one line on the terminal (private counts: nowhere in the run directory)."""
    import json as _json

    from dpcgan.cli import main

    schema = {"label": "y", "columns": {"y": {"type": "categorical", "categories": ["a", "b"]},
                                        "age": {"type": "numeric", "min": 18, "max": 90, "integer": True},
                                        "w": {"type": "numeric", "min": 0, "max": 1}}}
    rows = [{"y": "a" if i % 2 else "b", "age": 30 + i % 40, "w": 0.5} for i in range(400)]
    rows[0]["age"], rows[1]["age"], rows[2]["age"], rows[3]["w"] = 5, 120, 33.5, 7.0
    csv, schema_file = tmp_path / "t.csv", tmp_path / "s.json"
    pd.DataFrame(rows).to_csv(csv, index=False)
    schema_file.write_text(_json.dumps(schema))
    out = tmp_path / "run"
    assert main(["--threads", "1", "train", "--dataset", str(csv), "--schema", str(schema_file), "--schema-is-public",
                 "--epsilon", "3", "--out", str(out), "--no-progress", "--set", "marginal_fit_steps=5",
                 "--set", "marginal_final_steps=5"]) == 0
    err = capsys.readouterr().err
    lines = [s for s in err.splitlines() if "clipped" in s]
    assert len(lines) == 1
    assert "3 cells outside their column's public bounds were clipped to them (age: 2, w: 1)" in lines[0]
    assert "1 non-integer values in integer columns" in lines[0] and "(age: 1)" in lines[0]
    written = " ".join(p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file() and p.suffix != ".pt")
    assert "were clipped" not in written and "non-integer values" not in written
