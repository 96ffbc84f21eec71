"""Issue 24 items 9 and 10: the schema draft types every column it can and skips the others with a reason (written
as comments, listed in drop = [...]); drop / type = "ignore" columns are never seen by a run; datetime columns;
the DP draft's linear grid on a public range (--numeric-range), --integer, and its wide-range warning."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest
import torch

from dpcgan.cli import main
from dpcgan.errors import ConfigError
from dpcgan.tables import dp_draft
from dpcgan.tables.csvio import encode_table, read_frame
from dpcgan.tables.encode import decode, encode_frame, width
from dpcgan.tables.schema import date_days, parse_schema, read_schema_file


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def messy(n=3000, seed=0) -> pd.DataFrame:
    """An id, a numeric id, a date, an 87-category column, a narrow coordinate, an hour, a real 'other' category."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "record_id": [f"R{i:05d}" for i in range(n)],
        "num_id": np.arange(n),
        "Status": rng.choice(["good", "bad"], n),
        "visit": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")).strftime("%Y-%m-%d"),
        "city": rng.choice([f"city{i}" for i in range(87)], n),
        "lat": np.round(40 + rng.uniform(0, 0.16, n), 4),
        "hour": rng.integers(0, 24, n),
        "Home": rng.choice(["rent", "owner", "other"], n),
    })


@pytest.fixture()
def csv(tmp_path):
    p = tmp_path / "t.csv"
    messy().to_csv(p, index=False)
    return p


def draft(args, capsys):
    rc = main(["schema", "draft", *map(str, args)])
    return rc, capsys.readouterr()


# --- the non-DP draft ----------------------------------------------------------------------------------------------

def test_draft_types_every_column_it_can_and_comments_the_skipped_ones(tmp_path, csv, capsys):
    out = tmp_path / "s.toml"
    rc, cap = draft([csv, "--label-column", "Status", "--out", out], capsys)
    assert rc == 0, cap.err
    text = out.read_text()
    assert "# skipped: record_id — identifier-like: nearly every value is distinct (3000 of 3000)" in text
    assert "# skipped: num_id — identifier-like" in text
    assert "# skipped: city — too many categories: 87 distinct values > --max-categories 50" in text
    s = read_schema_file(out)
    assert s.dropped == ("record_id", "num_id", "city")
    assert s.column("visit").type == "datetime" and s.column("visit").to_dict()["min"] == "2020-01-01"
    assert s.column("hour").integer and (s.column("hour").min, s.column("hour").max) == (0, 23)
    x, y = encode_table(csv, s)   # the table reads against its own draft, the skipped columns left out
    assert x.shape == (3000, width(s)) and len(y) == 3000
    assert "skipped: city" in cap.err


def test_max_categories_keeps_an_87_category_column(tmp_path, csv, capsys):
    out = tmp_path / "s.toml"
    rc, cap = draft([csv, "--label-column", "Status", "--max-categories", "100", "--ignore", "num_id", "--out", out],
                    capsys)
    assert rc == 0, cap.err
    s = read_schema_file(out)
    assert len(s.column("city").categories) == 87 and s.dropped == ("record_id", "num_id")
    assert "# skipped: num_id — ignored (--ignore)" in out.read_text()


# --- the DP draft --------------------------------------------------------------------------------------------------

def test_dp_draft_skips_what_it_cannot_type_from_the_noisy_counts(tmp_path, csv, capsys):
    out = tmp_path / "s.toml"
    rc, cap = draft([csv, "--label-column", "Status", "--epsilon", "1", "--numeric", "lat,hour", "--out", out], capsys)
    assert rc == 0, cap.err
    text = out.read_text()
    for name in ("record_id", "num_id", "visit"):   # every value held by a few rows: below the noisy threshold
        assert f"# skipped: {name} — no category passed the noisy threshold" in text
    # 87 cities of about 34 rows each: none, or a few by the noise, pass the threshold (about 59)
    assert ("# skipped: city — no category passed" in text or "# skipped: city — mostly rare values" in text)
    s = read_schema_file(out)
    assert set(s.dropped) == {"record_id", "num_id", "visit", "city"} and s.names == ["Status", "lat", "hour", "Home"]
    # the log grid puts 40.00 .. 40.16 in one bin 33% wide: the file warns, and names the way out
    assert (s.column("lat").min, s.column("lat").max) == (31.6, 42.2)
    assert "# warning: lat: the values fall in 1 bin(s) of the log grid" in text and "--numeric-range lat=" in text
    encode_table(csv, s)


def test_numeric_range_integer_and_datetime_give_bounds_inside_the_public_ranges(tmp_path, csv, capsys):
    for seed in range(3):
        out = tmp_path / f"s{seed}.toml"
        d = dp_draft.dp_draft_schema(csv, "Status", epsilon=1.0, noise=seeded(seed), max_categories=100,
                                     ranges={"lat": (39.0, 41.0), "hour": (0.0, 23.0)}, integer=["hour"],
                                     dates={"visit": (date_days("2015-01-01"), date_days("2024-12-31"))},
                                     ignore=["num_id"])
        s = d.schema
        lat, hour, visit = s.column("lat"), s.column("hour"), s.column("visit")
        assert 39.0 <= lat.min <= 40.0 and 40.16 <= lat.max <= 41.0 and lat.max - lat.min <= 0.25, (lat.min, lat.max)
        assert (hour.min, hour.max) == (0, 23) and hour.integer
        assert visit.type == "datetime" and date_days("2015-01-01") <= visit.min <= date_days("2020-01-01")
        assert date_days("2022-09-26") <= visit.max <= date_days("2024-12-31")
        assert not d.warnings and "num_id" in s.dropped
        assert s.provenance["sensitivity"] == pytest.approx(math.sqrt(7))   # --ignore: not counted, not in J
        from dpcgan.tables.draft import write_draft

        write_draft(s, out, header=dp_draft.dp_header(d))
        assert read_schema_file(out) == s


def test_a_range_much_wider_than_its_central_quantiles_is_warned_about():
    edges = dp_draft.linear_grid(0.0, 1000.0)            # 50 bins of 20
    bins = {i: 0 for i in range(len(edges) + 1)}
    bins[2] = 5000                                       # the bulk in [20, 40)
    bins[50] = 100                                       # a tail up to 1000 (2% of the mass)
    bounds = dp_draft.numeric_bounds(bins, 10.0, (0.01, 0.99), edges)
    assert bounds == (20.0, 1000.0)
    (w,) = dp_draft.range_warnings("X", bins, 10.0, edges, bounds, linear=True)
    assert "49x wider than its central noisy quantiles" in w
    bins[50] = 0
    bins[3] = 4000
    bounds = dp_draft.numeric_bounds(bins, 10.0, (0.01, 0.99), edges)
    assert bounds == (20.0, 60.0) and not dp_draft.range_warnings("X", bins, 10.0, edges, bounds, linear=True)


def test_a_real_other_category_and_the_catch_all_never_share_a_name():
    """The catch-all is named from the released categories alone; a real 'other' stays a category of its own."""
    for kept in ([], ["other"], ["other", "other (rare)"], ["a", "other (rare)"]):
        assert dp_draft.catch_all_name(kept) not in kept
    d = dp_draft.dp_draft_schema(messy(), "Status", epsilon=2.0, noise=seeded(0), numeric=["lat", "hour"],
                                 ignore=["num_id"])
    home = d.schema.column("Home")
    assert "other" in home.categories and home.other == "other (rare)"
    df = pd.DataFrame({"Status": ["good", "bad"], "lat": ["40", "40"], "hour": ["1", "2"], "Home": ["other", "castle"]})
    for c in d.schema.dropped:
        df[c] = "x"
    x, y = encode_frame(df[[c for c in df.columns if c not in d.schema.dropped]], d.schema)
    assert list(decode(x, y, d.schema)["Home"]) == ["other", "other (rare)"]


# --- drop = [...], type = "ignore", datetime: never seen by a run --------------------------------------------------

SCHEMA = """
label = "Status"
drop = ["record_id"]
[columns.Status]
type = "categorical"
categories = ["good", "bad"]
[columns.city]
type = "ignore"
[columns.visit]
type = "datetime"
min = 2019-06-01
max = "2023-01-01"
[columns.hour]
type = "numeric"
min = 0
max = 23
integer = true
[columns.Home]
type = "categorical"
categories = ["rent", "owner", "other"]
"""


def test_dropped_columns_are_absent_from_training_encoding_and_sampled_output(tmp_path, capsys):
    df = messy(600).drop(columns=["num_id", "lat"])
    df.loc[0, "record_id"] = ""   # an empty cell in a dropped column is nobody's business
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    schema_file = tmp_path / "s.toml"
    schema_file.write_text(SCHEMA)
    s = read_schema_file(schema_file)
    assert s.dropped == ("record_id", "city") and s.names == ["Status", "visit", "hour", "Home"]
    assert list(read_frame(csv, s).columns) == ["Status", "visit", "hour", "Home"]
    x, _ = encode_table(csv, s)
    same = df.drop(columns=["record_id", "city"])   # the same rows without the dropped columns: the same encoding
    same.to_csv(tmp_path / "same.csv", index=False)
    assert np.array_equal(x, encode_table(tmp_path / "same.csv", s)[0])
    run = tmp_path / "runs" / "x"
    rc = main(["--threads", "1", "train", "--dataset", str(csv), "--schema", str(schema_file), "--epsilon", "3",
               "--out", str(run), "--no-progress", "--set", "marginal_fit_steps=20", "--set",
               "marginal_final_steps=50"])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "synth.csv"
    rc = main(["sample", str(run), "-n", "100", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    synth = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(synth.columns) == ["Status", "visit", "hour", "Home"] and len(synth) == 100
    days = synth["visit"].map(date_days)
    assert synth["visit"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert days.between(date_days("2019-06-01"), date_days("2023-01-01")).all()
    assert synth["hour"].astype(int).between(0, 23).all()


def test_datetime_cells_are_parsed_one_by_one_and_round_trip_as_dates():
    s = parse_schema(tomllib.loads(SCHEMA))
    df = pd.DataFrame({"Status": ["good", "bad", "good"], "visit": ["2020-03-04", "2021-07-08T13:30:00", "1999-01-01"],
                       "hour": ["1", "2", "3"], "Home": ["rent", "owner", "other"]})
    x, y = encode_frame(df, s)
    back = decode(x, y, s)
    assert list(back["visit"]) == ["2020-03-04", "2021-07-08", "2019-06-01"]   # clipped to the public min
    one = encode_frame(df.iloc[[1]], s)[0]
    assert np.array_equal(one[0], x[1])   # a row's encoding depends on that row alone
    df.loc[2, "visit"] = "04/03/2020"
    with pytest.raises(Exception, match="'visit' is a datetime in the schema but holds"):
        encode_frame(df, s)


# --- bad input: one line, exit 2, nothing written ------------------------------------------------------------------

@pytest.mark.parametrize("extra, match", [
    (["--max-categories", "0"], "--max-categories must be a whole number >= 1"),
    (["--ignore", "Status"], "the label column 'Status' cannot be ignored"),
    (["--ignore", "nope"], "--ignore ['nope']: not column(s)"),
    (["--numeric-range", "lat=0:1"], "--numeric-range: option(s) of a DP draft: add --epsilon"),
    (["--datetime", "visit=2015-01-01:2024-12-31"], "--datetime is for a DP draft"),
    (["--epsilon", "1", "--numeric-range", "lat=0-1"], "--numeric-range 'lat=0-1': expected COL=0:23"),
    (["--epsilon", "1", "--numeric-range", "lat=2:1"], "--numeric-range lat: the public range needs LO < HI"),
    (["--epsilon", "1", "--numeric-range", "lat=0:1", "--numeric-range", "lat=0:2"], "names 'lat' twice"),
    (["--epsilon", "1", "--integer", "hour"], "--integer ['hour']: only a numeric column can be integer"),
    (["--epsilon", "1", "--datetime", "visit=2015-13-01:2024-12-31"], "--datetime 'visit=2015-13-01:2024-12-31'"),
    (["--epsilon", "1", "--datetime", "visit=2015-01-01:2024-12-31", "--numeric", "visit"], "choose one"),
    (["--epsilon", "1", "--ignore", "hour", "--numeric", "hour"], "--numeric and --ignore both name ['hour']"),
    (["--epsilon", "1", "--datetime", "city=2015-01-01:2024-12-31"], "'city' is declared a datetime"),
])
def test_bad_draft_flags_are_one_line_exit_2_and_write_nothing(tmp_path, csv, capsys, extra, match):
    out = tmp_path / "s.toml"
    rc, cap = draft([csv, "--label-column", "Status", *extra, "--out", out], capsys)
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and match in lines[0], cap.err
    assert not out.exists()


BASE = 'label = "A"\n[columns.A]\ntype = "categorical"\ncategories = ["x", "y"]\n[columns.B]\ntype = "numeric"\n' \
       'min = 0\nmax = 1\n'


@pytest.mark.parametrize("text, match", [
    (BASE.replace('label = "A"\n', 'label = "A"\ndrop = ["A"]\n'), "label column 'A' cannot be dropped"),
    (BASE.replace('label = "A"\n', 'label = "A"\ndrop = ["B"]\n'), "both in drop = [...] and described"),
    (BASE.replace('label = "A"\n', 'label = "A"\ndrop = "C"\n'), "drop must be a list of column names"),
    (BASE.replace('label = "A"\n', 'label = "A"\ndrop = ["C", "C"]\n'), "drop names a column twice"),
    (BASE + '[columns.C]\ntype = "ignore"\nmin = 0\n', "unknown key(s) ['min'] for a ignore column"),
    (BASE + '[columns.C]\ntype = "datetime"\nmin = "yesterday"\nmax = "2020-01-01"\n', "needs public bounds min"),
    (BASE + '[columns.C]\ntype = "datetime"\nmin = "2020-01-01"\nmax = "2020-01-01"\n', "min must be < max"),
    (BASE + '[columns.C]\ntype = "datetime"\nmin = "2020-01-01"\nmax = "2021-01-01"\ninteger = true\n', "unknown key"),
    (BASE + '[columns.C]\ntype = "date"\n', 'type must be "categorical", "numeric", "datetime" or "ignore"'),
    (BASE.replace('[columns.B]\ntype = "numeric"\nmin = 0\nmax = 1\n', '[columns.B]\ntype = "ignore"\n'),
     "at least one column besides the label"),
])
def test_bad_drop_ignore_and_datetime_entries_are_refused(tmp_path, text, match):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=None) as e:
        read_schema_file(p)
    assert match in str(e.value) and "\n" not in str(e.value)


def test_a_file_without_a_dropped_column_still_reads_and_an_undeclared_one_is_an_error(tmp_path):
    s = parse_schema(tomllib.loads(BASE.replace('label = "A"\n', 'label = "A"\ndrop = ["C"]\n')))
    assert list(read_frame(pd.DataFrame({"A": ["x"], "B": ["0.5"]}), s).columns) == ["A", "B"]
    assert list(read_frame(pd.DataFrame({"A": ["x"], "B": ["0.5"], "C": ["?"]}), s).columns) == ["A", "B"]
    with pytest.raises(Exception, match=r"list them in its drop = \[...\]"):
        read_frame(pd.DataFrame({"A": ["x"], "B": ["0.5"], "D": ["?"]}), s)
    assert parse_schema(s.to_dict()) == s and s.to_dict()["drop"] == ["C"]
