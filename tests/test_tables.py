"""Labeled tables (issue #13): the public schema, encoding, bad input, a private run through the CLI, sampling,
evaluation, the independent-marginals baseline, and the DP invariant of the table discriminator."""

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from dpcgan.cli import main
from dpcgan.errors import ConfigError
from dpcgan.models import ModelSpec, build_models
from dpcgan.tables.csvio import encode_table, load_table, read_frame
from dpcgan.tables.encode import decode, encode_frame, layout, width
from dpcgan.tables.schema import parse_schema, read_schema_file
from dpcgan.train import d_gradient_sum

SCHEMA = """
label = "Status"
[columns.Status]
type = "categorical"
categories = ["good", "bad"]
[columns.Age]
type = "numeric"
min = 18
max = 75
integer = true
[columns.Home]
type = "categorical"
categories = ["rent", "owner"]
missing = true
[columns.Income]
type = "numeric"
min = 0
max = 1000
missing = true
"""


def table(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    status = rng.choice(["good", "bad"], n, p=[0.7, 0.3])
    age = np.where(status == "good", rng.integers(30, 70, n), rng.integers(18, 40, n))
    home = rng.choice(["rent", "owner", ""], n, p=[0.45, 0.45, 0.1])
    income = np.round(rng.uniform(0, 900, n), 1).astype(object)
    income[rng.random(n) < 0.1] = ""
    return pd.DataFrame({"Status": status, "Age": age, "Home": home, "Income": income})


@pytest.fixture()
def files(tmp_path):
    schema = tmp_path / "schema.toml"
    schema.write_text(SCHEMA)
    csv = tmp_path / "t.csv"
    table().to_csv(csv, index=False)
    return tmp_path, schema, csv


def run_cli(args, capsys):
    rc = main(args)
    return rc, capsys.readouterr()


# --- schema -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, match", [
    ('[columns.A]\ntype = "numeric"\nmin = 0\nmax = 1\n', "no label"),
    ('label = "A"\n[columns.A]\ntype = "numeric"\nmin = 0\nmax = 1\n[columns.B]\ntype = "numeric"\nmin = 0\nmax = 1\n',
     "must be categorical"),
    ('label = "Z"\n[columns.A]\ntype = "categorical"\ncategories = ["x", "y"]\n', "not among"),
    ('label = "A"\n[columns.A]\ntype = "categorical"\ncategories = ["x", "y"]\n[columns.B]\ntype = "numeric"\nmin = 2\n'
     'max = 1\n', "min must be < max"),
    ('label = "A"\n[columns.A]\ntype = "categorical"\ncategories = ["x", "y"]\n[columns.B]\ntype = "numeric"\nmin = 0\n'
     'max = 1\nbinz = 3\n', "unknown key"),
    ('label = "A"\n[columns.A]\ntype = "categorical"\ncategories = ["x", "y"]\n[columns.B]\ntype = "numeric"\nmin = 0\n'
     'max = 1\nbins = 1\n', "bins must be a whole number from 2"),
    ('label = "A"\n[columns.A]\ntype = "categorical"\ncategories = ["x", "x"]\n', "distinct"),
])
def test_bad_schemas_are_refused_with_the_column_named(tmp_path, text, match):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_schema_file(p)


def test_schema_json_and_toml_agree(tmp_path, files):
    _, schema_file, _ = files
    s = read_schema_file(schema_file)
    j = tmp_path / "s.json"
    j.write_text(json.dumps(s.to_dict()))
    assert read_schema_file(j) == s and s.label_names == ["good", "bad"]
    assert [b[:2] for b in layout(s)] == [("cat", 10), ("num", 1), ("cat", 3), ("cat", 11), ("num", 1)]
    assert width(s) == 26


# --- encoding ---------------------------------------------------------------------------------------------------

def test_round_trip_encode_decode(files):
    _, schema_file, csv = files
    s = read_schema_file(schema_file)
    df = read_frame(csv, s)
    x, y = encode_frame(df, s)
    assert x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1
    back = decode(x, y, s)
    assert list(back.columns) == list(df.columns)
    assert (back["Status"].astype(str) == df["Status"]).all()
    assert (back["Age"].astype(int) == df["Age"].astype(int)).all()
    assert (back["Home"].isna() == df["Home"].isna()).all()
    assert (back["Home"].dropna().astype(str) == df["Home"].dropna()).all()
    income = pd.to_numeric(df["Income"])
    assert (back["Income"].isna().to_numpy() == income.isna().to_numpy()).all()
    np.testing.assert_allclose(back["Income"].dropna().astype(float), income.dropna(), atol=1e-3)


def test_values_outside_the_bounds_are_clipped_and_other_bucket_maps_unknowns():
    s = parse_schema({"label": "y", "columns": {
        "y": {"type": "categorical", "categories": ["a", "b"]},
        "v": {"type": "numeric", "min": 0, "max": 10},
        "c": {"type": "categorical", "categories": ["p", "q"], "other": "other"}}})
    df = pd.DataFrame({"y": ["a", "b", "a"], "v": ["-5", "20", "5"], "c": ["p", "zzz", "q"]})
    x, y = encode_frame(df, s)
    back = decode(x, y, s)
    assert back["v"].tolist() == [0.0, 10.0, 5.0]
    assert back["c"].tolist() == ["p", "other", "q"]


def test_on_disk_encoding_equals_in_memory(files, tmp_path):
    _, schema_file, csv = files
    s = read_schema_file(schema_file)
    x, y = encode_table(csv, s, chunk_rows=37)
    disk, y2 = encode_table(csv, s, chunk_rows=50, on_disk=tmp_path / "x.npy")
    assert len(disk) == len(x) and (y2 == y).all()
    np.testing.assert_array_equal(disk[torch.arange(len(x))].numpy().reshape(len(x), -1), x)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy").reshape(len(x), -1), x)


# --- bad input through the CLI: one line, exit status 2, no run directory --------------------------------------

def _bad(df_text: str):
    return df_text


@pytest.mark.parametrize("content, match", [
    ("Status,Age,Home,Income,Extra\ngood,30,rent,10,1\n", "not in the schema"),
    ("Status,Age,Home\ngood,30,rent\n", "missing from the file"),
    ("Status,Age,Home,Income\ngood,30,castle,10\n", "'Home' has value"),
    ("Status,Age,Home,Income\ngood,thirty,rent,10\n", "'Age' is numeric in the schema but holds text"),
    ("Status,Age,Home,Income\nmaybe,30,rent,10\n", "'Status' has value"),
    ("Status,Age,Home,Income\ngood,,rent,10\n", "'Age' has empty cells"),
    ("", "empty"),
    ("Status,Age,Home,Income\n", "no rows"),
])
def test_bad_tables_give_one_error_line_and_leave_nothing(tmp_path, files, capsys, content, match):
    _, schema_file, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "run"
    rc, cap = run_cli(["train", "--dataset", str(bad), "--label-column", "Status", "--schema", str(schema_file),
                       "--out", str(out), "--no-progress"], capsys)
    assert rc == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], cap.err
    assert not out.exists() and not (tmp_path / "run.partial").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"schema.toml", "t.csv", "bad.csv"}  # no encoded rows left


def test_schema_without_label_and_label_column_mismatch_are_errors(tmp_path, files, capsys):
    _, schema_file, csv = files
    nolabel = tmp_path / "nolabel.toml"
    nolabel.write_text(SCHEMA.replace('label = "Status"', ""))
    for schema, col, match in ((nolabel, "Status", "no label"), (schema_file, "Age", "differs from the schema")):
        rc, cap = run_cli(["train", "--dataset", str(csv), "--label-column", col, "--schema", str(schema),
                           "--out", str(tmp_path / "r")], capsys)
        assert rc == 2 and match in cap.err and len(cap.err.strip().splitlines()) == 1
    rc, cap = run_cli(["train", "--dataset", str(csv), "--label-column", "Status", "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and "--schema" in cap.err
    assert not (tmp_path / "r").exists()


# --- a tiny private run through the CLI, sampling, evaluation --------------------------------------------------

@pytest.fixture()
def table_run(files, capsys):
    tmp, schema_file, csv = files
    gz = tmp / "t.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    out = tmp / "run"
    rc, cap = run_cli(["--threads", "1", "train", "--preset", "table-eps1", "--dataset", str(gz), "--label-column",
                       "Status", "--schema",
                       str(schema_file), "--batch-size", "64", "--steps", "30", "--epsilon", "3", "--seed", "0",
                       "--out", str(out), "--no-progress", "--log-every", "10"], capsys)
    assert rc == 0, cap.err
    return tmp, out, csv


def test_private_table_run_writes_config_and_privacy_report(table_run):
    tmp, out, _ = table_run
    assert not list(tmp.glob(".run.rows-*"))  # the temporary encoded rows are removed
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "privacy.json", "generator.pt", "discriminator.pt", "private"} <= files
    assert "samples.png" not in files
    report = json.loads((out / "privacy.json").read_text())
    assert report["epsilon"] <= 3 + 1e-9 and report["d_steps"] == 30 and report["mode"] == "split"
    assert report["assumed_public"]["label_set"] == ["good", "bad"]
    assert report["assumed_public"]["table_schema"]["label"] == "Status"
    assert "public schema" in report["assumed_public"]["preprocessing"]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["arch"] == "table-mlp" and config["model"]["schema"]["columns"]["Age"]["max"] == 75
    assert config["config"]["dataset"] == "t.csv.gz"  # by name only; the location is in private/run.json
    record = json.loads((out / "private" / "run.json").read_text())
    assert record["schema"].endswith("schema.toml") and record["label_column"] == "Status"


def test_sample_writes_a_csv_with_the_original_columns_and_a_sidecar(table_run, capsys):
    tmp, out, _ = table_run
    synth = tmp / "synth.csv"
    rc, cap = run_cli(["sample", str(out), "-n", "300", "--out", str(synth), "--seed", "1"], capsys)
    assert rc == 0, cap.err
    df = pd.read_csv(synth, dtype=str, keep_default_na=False)
    assert list(df.columns) == ["Status", "Age", "Home", "Income"] and len(df) == 300
    assert set(df["Status"]) <= {"good", "bad"} and set(df["Home"]) <= {"rent", "owner", ""}
    ages = df["Age"].astype(int)  # integers written as integers
    assert ages.between(18, 75).all() and not df["Age"].str.contains(r"\.").any()
    income = pd.to_numeric(df["Income"].replace("", np.nan))
    assert income.dropna().between(0, 1000).all()
    meta = json.loads((tmp / "synth.json").read_text())
    assert meta["report_this"]["epsilon"] <= 3 and meta["label_column"] == "Status" and meta["n"] == 300
    rc, cap = run_cli(["sample", str(out), "-n", "10", "--out", str(tmp / "x.npz")], capsys)
    assert rc == 2 and "*.csv" in cap.err


def test_evaluate_a_table_run(table_run, capsys):
    tmp, out, csv = table_run
    test = tmp / "test.csv"
    table(200, seed=1).to_csv(test, index=False)
    rc, cap = run_cli(["evaluate", str(out), "--test", str(test)], capsys)
    assert rc == 0, cap.err
    result = json.loads((out / "private" / "evaluation.json").read_text())  # the user's rows: private
    assert not (out / "evaluation.json").exists() and result["data_sources"]["test"]["kind"] == "private"
    for name in ("logistic_regression", "hist_gradient_boosting"):
        assert 0 <= result["tstr"][name]["auroc"] <= 1 and 0 <= result["tstr"][name]["accuracy"] <= 1
        assert result["real_reference"][name]["auroc"] > 0.8  # Age separates the classes in the real rows
    f = result["fidelity"]
    assert 0 <= f["tv_1way"] <= 1 and 0 <= f["tv_2way"] <= 1 and 0 <= f["correlation_diff"] <= 2


def test_fidelity_of_the_real_table_against_itself_is_perfect(files):
    from dpcgan.tables.evaluate import fidelity

    _, schema_file, csv = files
    s = read_schema_file(schema_file)
    df = read_frame(csv, s)
    f = fidelity(df, df, s)
    assert f["tv_1way"] == 0 and f["tv_2way"] == 0 and f["correlation_diff"] == pytest.approx(0, abs=1e-12)


# --- privacy ----------------------------------------------------------------------------------------------------

def test_table_discriminator_passes_the_private_checks_and_spec_round_trips(files):
    _, schema_file, _ = files
    s = read_schema_file(schema_file)
    spec = ModelSpec("table-mlp", (1, 1, width(s)), 2, 8, 32, 16, schema=s.to_dict())
    G, D = build_models(spec, private=True)  # runs check_private_discriminator's self-test
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert not list(D.buffers())
    z = G.sample_latent(5, torch.Generator().manual_seed(0))
    rows = G(z, torch.tensor([0, 1, 0, 1, 0])).reshape(5, -1)
    pos = 0
    for kind, w, _ in layout(s):  # a one-hot per categorical block, numerics in [-1, 1]
        block = rows[:, pos : pos + w]
        if kind == "cat":
            torch.testing.assert_close(block.sum(1), torch.ones(5))
            assert ((block - block.round()).abs() < 1e-6).all()  # hard (straight-through) one-hots
        else:
            assert block.abs().max() <= 1
        pos += w
    torch.testing.assert_close(G(z, torch.tensor([0, 1, 0, 1, 0])).reshape(5, -1), rows)  # a function of (z, y)


def test_adding_one_row_moves_the_pre_noise_sum_by_at_most_C(files):
    _, schema_file, csv = files
    s = read_schema_file(schema_file)
    data = load_table(csv, s)
    spec = ModelSpec("table-mlp", data.image_shape, 2, 8, 32, 16, schema=s.to_dict())
    torch.manual_seed(0)
    G, D = build_models(spec)
    D, G = D.double(), G.double()
    C, m = 1e-3, 20
    real_x, real_y = data.x[:m].double(), data.y[:m]
    with torch.no_grad():
        fake_y = torch.randint(0, 2, (m,))
        fake_x = G(G.sample_latent(m).double(), fake_y)
    base, _, _ = d_gradient_sum(D, real_x, real_y, fake_x, fake_y, mode="split", max_grad_norm=C)
    flat = lambda g: torch.cat([v.flatten() for v in g.values()])  # noqa: E731
    diffs = []
    for i in range(m, m + 10):  # add one more row (the fake half, a public constant count, fixed)
        x2, y2 = data.x[: m + 1].double().clone(), data.y[: m + 1].clone()
        x2[m], y2[m] = data.x[i].double(), data.y[i]
        more, _, _ = d_gradient_sum(D, x2, y2, fake_x, fake_y, mode="split", max_grad_norm=C)
        diffs.append(float((flat(more) - flat(base)).norm()))
    assert max(diffs) <= C * (1 + 1e-9) and max(diffs) >= 0.99 * C


def test_independent_marginals_baseline_spends_its_epsilon(files):
    from dpcgan.tables.baselines import IndependentMarginals

    _, schema_file, csv = files
    s = read_schema_file(schema_file)
    df = read_frame(csv, s)
    m = IndependentMarginals(s, epsilon=1.0, delta=1e-6).fit(df, np.random.default_rng(0))
    assert 0.99 <= m.epsilon <= 1.0
    synth = m.sample(500, np.random.default_rng(1))
    assert list(synth.columns) == s.names and synth["Age"].between(18, 75).all()
    encode_frame(synth, s)  # a valid table under the schema (non-nullable columns never empty)


def test_schema_draft_is_marked_not_private_and_trains(files, capsys):
    tmp, _, csv = files
    out = tmp / "draft.toml"
    rc, cap = run_cli(["schema", "draft", str(csv), "--label-column", "Status", "--out", str(out)], capsys)
    assert rc == 0 and "NOT PRIVATE" in cap.err and "NOT PRIVATE" in out.read_text()
    s = read_schema_file(out)
    assert s.label == "Status" and s.column("Age").type == "numeric" and s.column("Age").integer
    assert s.column("Home").missing and s.column("Income").missing and s.provenance["epsilon"] == 0
    encode_frame(read_frame(csv, s), s)  # the table fits its own draft (a DP draft, --epsilon: test_schema_dp.py)


def test_python_api_fits_a_dataframe_and_samples_a_dataframe(files):
    from dpcgan import DPCGAN

    _, schema_file, csv = files
    df = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    m = DPCGAN("table-eps1", epsilon=2.0, batch_size=64, steps=20, seed=0, log_every=10)
    m.fit(df, schema=schema_file, label_column="Status", progress=False)
    assert m.epsilon <= 2.0
    synth = m.sample(50, seed=0)
    assert list(synth.columns) == ["Status", "Age", "Home", "Income"] and len(synth) == 50
    with pytest.raises(Exception, match="table preset"):
        DPCGAN("mnist-eps10").fit(df, schema=schema_file, label_column="Status")


def test_dry_run_prints_the_plan_and_a_table_preset_needs_a_table(files, capsys):
    tmp, schema_file, csv = files
    rc, cap = run_cli(["train", "--preset", "table-eps1", "--dataset", str(csv), "--label-column", "Status", "--schema",
                       str(schema_file), "--batch-size", "64", "--dry-run", "--out", str(tmp / "r")], capsys)
    assert rc == 0 and "plan: q = " in cap.out and "n = 400" in cap.out and not (tmp / "r").exists()
    rc, cap = run_cli(["train", "--preset", "table-eps10"], capsys)
    assert rc == 2 and "--dataset FILE.csv" in cap.err


def test_an_interrupted_table_run_resumes_to_the_same_run(files, capsys, monkeypatch):
    from conftest import assert_same_run, interrupt_at

    tmp, schema_file, csv = files
    args = ["--threads", "1", "train", "--preset", "table-eps1", "--dataset", str(csv), "--label-column", "Status",
            "--schema", str(schema_file), "--batch-size", "64", "--steps", "40", "--epsilon", "3", "--seed", "3", "--checkpoint-every", "10",
            "--log-every", "10", "--no-progress"]
    rc, cap = run_cli(args + ["--out", str(tmp / "ref")], capsys)
    assert rc == 0, cap.err
    interrupt_at(monkeypatch, 8, "generator_step")  # after 24 D steps (3 per G step): the checkpoint of step 20 exists
    rc, cap = run_cli(args + ["--out", str(tmp / "cut")], capsys)
    assert rc == 130 and "--resume" in cap.err
    monkeypatch.undo()
    rc, cap = run_cli(["--threads", "1", "train", "--resume", str(tmp / "cut"), "--no-progress"], capsys)
    assert rc == 0, cap.err
    assert_same_run(tmp / "ref", tmp / "cut", log_every=10, steps=40)


def test_table_presets_learn_label_shares_and_sample_with_them(tmp_path, capsys):
    """Issue 23 item 2: the table presets release the DP label histogram, and sampling (CLI and API) uses the
    trained prior by default, so a 10 % class is not rebalanced to 50 %."""
    import json as _json

    from dpcgan.cli import main as cli_main
    from dpcgan.config import PRESETS

    assert PRESETS["table-eps1"].label_prior == PRESETS["table-eps10"].label_prior == "dp-histogram"
    n = 3000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=n).round(3), "y": np.where(np.arange(n) % 10 == 0, "pos", "neg")})
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    schema = tmp_path / "s.toml"
    schema.write_text('label = "y"\n[columns.a]\ntype = "numeric"\nmin = -5\nmax = 5\n'
                      '[columns.y]\ntype = "categorical"\ncategories = ["neg", "pos"]\n')
    out = tmp_path / "run"
    assert cli_main(["--threads", "1", "train", "--preset", "table-eps1", "--dataset", str(csv), "--label-column", "y",
                     "--schema", str(schema), "--schema-is-public", "--steps", "5", "--out", str(out), "--no-progress"]) == 0
    prior = _json.loads((out / "privacy.json").read_text())
    assert any(e.get("release") == "label-histogram" for e in prior["events"])
    capsys.readouterr()
    assert cli_main(["sample", str(out), "-n", "4000", "--out", str(tmp_path / "syn.csv")]) == 0
    assert "labels drawn from the run's DP label histogram" in capsys.readouterr().out   # says which prior
    share = (pd.read_csv(tmp_path / "syn.csv")["y"] == "pos").mean()
    # the samples follow the run's DP histogram (its noise, s = 100 on counts of 300 and 2,700, is unseeded: bounds on
    # the share itself failed about 1 run in 20), within 4 standard errors of 4,000 draws, and it is not 50 %
    trained = torch.load(out / "generator.pt", weights_only=True)["label_prior"][1]   # categories: neg, pos
    assert abs(share - trained) <= 4 * math.sqrt(trained * (1 - trained) / 4000) + 1e-3
    assert share < 0.3


def test_the_image_only_embedding_release_is_refused_for_a_table_before_any_release(files, capsys, monkeypatch):
    from dpcgan.train import loop as loop_module

    released = []
    monkeypatch.setattr(loop_module, "noisy_class_release", lambda *a, **k: released.append(1))
    tmp, schema_file, csv = files
    rc, cap = run_cli(["--threads", "1", "train", "--preset", "table-eps1", "--dataset", str(csv), "--label-column",
                       "Status", "--schema", str(schema_file), "--batch-size", "64", "--steps", "3", "--epsilon", "3",
                       "--seed", "0", "--out", str(tmp / "run"), "--no-progress", "--set", "warm_start_noise=20",
                       "--set", "warm_start_rff_noise=10"], capsys)
    assert rc != 0 and "warm_start_rff_noise" in cap.err and released == []
    assert not (tmp / "run").exists() and not (tmp / "run.partial").exists()
