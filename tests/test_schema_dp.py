"""The DP schema draft (`dpcgan schema draft --epsilon`, tables/dp_draft.py) and its composition into a run."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from opacus.accountants.analysis import rdp as opacus_rdp

from dpcgan.cli import main
from dpcgan.privacy import accountant
from dpcgan.privacy.accountant import ORDERS
from dpcgan.privacy.schema_release import schema_release
from dpcgan.tables import dp_draft
from dpcgan.tables.csvio import read_frame
from dpcgan.tables.draft import write_draft
from dpcgan.tables.encode import encode_frame
from dpcgan.tables.schema import read_schema_file
from test_tables import table

TRAIN = ["--threads", "1", "train", "--preset", "table-eps1", "--label-column", "Status", "--batch-size", "64",
         "--steps", "30", "--epsilon", "3", "--seed", "0", "--checkpoint-every", "10", "--log-every", "10", "--no-progress"]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- (a) calibration: one Gaussian release spends exactly epsilon ------------------------------------------------

@pytest.mark.parametrize("eps, delta", [(1.0, 1e-5), (0.3, 1e-6), (4.0, 1e-5)])
def test_noise_multiplier_spends_exactly_epsilon(eps, delta):
    s = dp_draft.noise_multiplier_for(eps, delta, "opacus")
    pytest.importorskip("dp_accounting")
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant

    def google(sigma):  # an independent RDP accountant: the Gaussian's RDP is exact at every order
        acc = rdp_privacy_accountant.RdpAccountant(list(ORDERS))
        acc.compose(dp_event.GaussianDpEvent(sigma))
        return acc.get_epsilon(delta)

    assert google(s) == pytest.approx(eps, rel=2e-4) and google(s) <= eps + 1e-9
    assert google(s * (1 - 1e-3)) > eps  # and no smaller multiplier would do
    # the classic conversion against its closed form: min_a a / (2 s^2) + log(1/delta) / (a - 1)
    s_classic = dp_draft.noise_multiplier_for(eps, delta, "classic")
    a = np.asarray(ORDERS)
    closed = float(np.min(a / (2 * s_classic**2) + math.log(1 / delta) / (a - 1)))
    assert closed == pytest.approx(eps, rel=2e-4) and closed <= eps + 1e-9


# --- (b) the threshold's delta -----------------------------------------------------------------------------------

def discrete_gaussian_tail(m: int, std: float) -> float:
    """P[Z >= m] for Z ~ N_Z(0, std^2), summed in mpmath at 50 digits: an independent reference."""
    import mpmath

    mpmath.mp.dps = 50
    w = lambda k: mpmath.exp(-mpmath.mpf(k) ** 2 / (2 * mpmath.mpf(std) ** 2))  # noqa: E731
    reach = int(60 * std) + 10
    total = mpmath.fsum(w(k) for k in range(-reach, reach + 1))
    return float(mpmath.fsum(w(k) for k in range(m, reach + 1)) / total)


def test_threshold_delta_is_the_discrete_gaussian_tail_against_mpmath_and_monte_carlo():
    """The counts get integer (discrete Gaussian) noise: a category held by one record passes tau iff
    1 + Z > tau iff Z >= floor(tau); threshold_delta is that exact tail (not the continuous one)."""
    for tau, std, k in [(30.0, 7.0, 3), (80.5, 15.1, 5), (5.0, 2.0, 1), (4.2, 0.8, 2)]:
        assert dp_draft.threshold_delta(tau, std, k) == pytest.approx(k * discrete_gaussian_tail(math.floor(tau), std),
                                                                      rel=1e-9)
    tau = dp_draft.threshold_for(1e-6, 15.0, 4)
    assert tau == int(tau) and dp_draft.threshold_delta(tau, 15.0, 4) <= 1e-6 < dp_draft.threshold_delta(tau - 1, 15.0, 4)
    # Monte Carlo through the mechanism itself: 40,000 categories held by one record each, one release
    col = dp_draft.ColumnCounts("C", False)
    col.counts.update({f"v{i}": 1 for i in range(40_000)})
    std = 5.0
    tau = dp_draft.threshold_for(0.05, std, 1)   # per-key pass probability just below 5%
    p = dp_draft.threshold_delta(tau, std, 1)
    assert 0.03 < p <= 0.05
    noisy = dp_draft.add_noise([col], std, seeded(0))[0][0]
    assert all(isinstance(v, int) for v in noisy.values())   # integer counts: no float structure to read
    passed = np.mean([v > tau for v in noisy.values()])
    assert passed == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 40_000))


# --- (c) the mechanism on a synthetic table ------------------------------------------------------------------------

def synthetic(n=20_000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cat = np.array(["common"] * n, dtype=object)
    cat[:300] = "mid"
    cat[300] = "unique"                      # one record holds it
    return pd.DataFrame({"Y": rng.choice(["a", "b"], n), "Cat": cat,
                         "X": np.round(rng.uniform(100, 1000, n), 2).astype(str)})


def test_a_single_record_category_is_dropped_a_frequent_one_kept_and_bounds_near_the_percentiles():
    df = synthetic()
    columns, n = dp_draft.count_table(df, "Y", ("X",))
    assert n == len(df) and columns[1].counts["unique"] == 1
    s = dp_draft.noise_multiplier_for(1.0, 1e-5)
    std = s * math.sqrt(3)
    tau = dp_draft.threshold_for(1e-6, std, 2)
    edges = dp_draft.public_grid()
    step = 10 ** (1 / 8) * 1.01          # one grid bin (3 significant digits)
    x = df["X"].astype(float)
    p1, p99 = np.quantile(x, 0.01), np.quantile(x, 0.99)
    for seed in range(50):
        noisy = dp_draft.add_noise(columns, std, seeded(seed))
        drafted = dp_draft.schema_from_counts(columns, noisy, label_column="Y", tau=tau, std=std, n=n)
        cols, review = drafted.columns, drafted.review
        assert not drafted.skipped and not drafted.warnings
        cat = cols[1]
        assert "unique" not in cat.categories and {"common", "mid"} <= set(cat.categories) and cat.other == "other"
        assert set(cols[0].categories) == {"a", "b"} and not review
        lo, hi = cols[2].min, cols[2].max
        assert lo in edges and hi in edges
        assert p1 / step <= lo <= p1 and p99 <= hi <= p99 * step, (lo, hi, p1, p99)
        assert not cols[2].integer   # never read from the data


def test_label_with_fewer_than_two_categories_after_threshold_is_an_error():
    df = synthetic(2_000)
    df["Y"] = "a"
    df.loc[0, "Y"] = "b"   # one record: never passes the threshold
    with pytest.raises(Exception, match="only 1 category passed the threshold"):
        dp_draft.dp_draft_schema(df, "Y", epsilon=1.0, numeric=["X"], noise=seeded(0))


def test_text_in_a_numeric_column_is_an_error_that_does_not_show_the_value():
    df = synthetic(2_000)
    df.loc[5, "X"] = "secret-text"
    with pytest.raises(Exception, match="'X' is declared numeric") as e:
        dp_draft.dp_draft_schema(df, "Y", epsilon=1.0, numeric=["X"], noise=seeded(0))
    assert "secret-text" not in str(e.value)


# --- (d), (e) a run trained with a DP schema ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dp")
    csv = tmp / "t.csv"
    table().to_csv(csv, index=False)
    draft = dp_draft.dp_draft_schema(csv, "Status", epsilon=1.0, numeric=["Age", "Income"], noise=seeded(0))
    schema_file = tmp / "dp.toml"
    write_draft(draft.schema, schema_file, header=dp_draft.dp_header(draft))
    s = read_schema_file(schema_file)
    encode_frame(read_frame(csv, s), s)   # the table fits its DP draft (this seed keeps its missing cells)
    args = TRAIN + ["--dataset", str(csv), "--schema", str(schema_file)]
    assert main(args + ["--out", str(tmp / "ref")]) == 0
    return tmp, args, schema_file


def test_a_run_with_a_dp_schema_composes_its_release_once(dp_run):
    tmp, _, schema_file = dp_run
    release = schema_release(read_schema_file(schema_file))
    assert release.epsilon == 1.0 and release.delta == 1e-5 and 0 < release.delta_threshold <= 1e-6 * (1 + 1e-9)
    report = json.loads((tmp / "ref" / "privacy.json").read_text())
    full = [e for e in report["events"] if e["sample_rate"] == 1.0 and e.get("release") != "label-histogram"]
    assert full == [{"sample_rate": 1.0, "noise_multiplier": release.noise_multiplier, "count": 1,
                     "release": "schema-draft", "coordinates": release.coordinates}] and release.coordinates >= 2
    assert report["schema_draft"]["noise_multiplier"] == release.noise_multiplier
    # delta: the run's plus the threshold's
    assert report["delta_rdp"] == 1e-5
    assert report["delta"] == pytest.approx(1e-5 + release.delta_threshold, rel=1e-12)
    assert report["report_this"]["delta"] == report["delta"] and f"{report['delta']:g}" in report["guarantee"]
    # epsilon recomputed: Opacus' RDP of the D steps + the closed form a / (2 s^2) of the schema release and of the
    # table preset's DP label histogram (discrete Gaussian, s per count: the same RDP)
    q, sigma, steps = report["sample_rate"], report["noise_multiplier"], report["d_steps"]
    s_hist = report["label_histogram"]["noise_multiplier"]
    rdp = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(ORDERS)) + \
        np.asarray(ORDERS) / (2 * release.noise_multiplier**2) + np.asarray(ORDERS) / (2 * s_hist**2)
    eps = opacus_rdp.get_privacy_spent(orders=list(ORDERS), rdp=rdp, delta=1e-5)[0]
    assert report["epsilon"] == pytest.approx(eps, rel=1e-9)
    # ... and by Google's accountant on the same events (integer orders: identical RDP there)
    pytest.importorskip("dp_accounting")
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant

    ints = [a for a in ORDERS if float(a).is_integer()]
    acc = rdp_privacy_accountant.RdpAccountant(ints)
    acc.compose(dp_event.GaussianDpEvent(release.noise_multiplier))
    acc.compose(dp_event.GaussianDpEvent(s_hist))
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps))
    mask = np.array([float(a).is_integer() for a in ORDERS])
    ours_int = opacus_rdp.get_privacy_spent(orders=ints, rdp=rdp[mask], delta=1e-5)[0]
    assert acc.get_epsilon(1e-5) == pytest.approx(ours_int, abs=1e-6) and report["epsilon"] <= ours_int + 1e-9
    # sigma was calibrated with the schema's RDP in the budget: the cap is met, and spent, only with it included
    assert 3 - 1e-3 <= report["epsilon"] <= 3 + 1e-9
    assert sigma > accountant.calibrate_noise_multiplier(q, steps, 1e-5, 3.0, "opacus")
    assert accountant.epsilon(q, sigma, steps, 1e-5, "opacus") < 3 - 0.01   # the D steps alone spend less
    assert report["epsilon_pld"] <= report["epsilon"]


def test_resume_does_not_record_the_schema_release_twice(dp_run, monkeypatch):
    from conftest import assert_same_run, interrupt_at

    tmp, args, _ = dp_run
    interrupt_at(monkeypatch, 8, "generator_step")  # after 24 D steps (3 per G step): the checkpoint of step 20 exists
    assert main(args + ["--out", str(tmp / "cut")]) == 130
    monkeypatch.undo()
    assert main(["--threads", "1", "train", "--resume", str(tmp / "cut"), "--no-progress"]) == 0
    assert_same_run(tmp / "ref", tmp / "cut", log_every=10, steps=30)   # same events (the schema's once), same eps
    report = json.loads((tmp / "cut" / "privacy.json").read_text())
    assert sum(e["count"] for e in report["events"] if e.get("release") == "schema-draft") == 1
    assert sum(e["count"] for e in report["events"] if e.get("release") == "label-histogram") == 1
    assert len(report["resumes"]) == 1


def test_a_hand_edited_dp_schema_is_still_composed_and_a_broken_provenance_refused(dp_run, capsys):
    tmp, _, schema_file = dp_run
    text = schema_file.read_text().replace('categories = ["good", "bad"]', 'categories = ["bad", "good"]')
    edited = tmp / "edited.toml"
    edited.write_text(text)
    assert schema_release(read_schema_file(edited)) == schema_release(read_schema_file(schema_file))
    broken = tmp / "broken.toml"
    broken.write_text("\n".join(l for l in text.splitlines() if not l.startswith("provenance.noise_multiplier")))
    rc = main(["train", "--preset", "table-eps1", "--dataset", str(tmp / "t.csv"), "--label-column", "Status",
               "--schema", str(broken), "--batch-size", "64", "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2 and "provenance.noise_multiplier" in err


# --- (f) the command line ------------------------------------------------------------------------------------------

def test_cli_dp_draft_writes_a_dp_schema(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    table().to_csv(csv, index=False)
    out = tmp_path / "s.toml"
    rc = main(["schema", "draft", str(csv), "--label-column", "Status", "--epsilon", "2", "--numeric", "Age,Income",
               "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0 and "DP draft: (epsilon = 2, delta = 1e-05)-DP" in cap.err and "NOT PRIVATE" not in cap.err
    text = out.read_text()
    assert "DIFFERENTIALLY PRIVATE" in text and "integer = true" not in text
    s = read_schema_file(out)
    assert s.provenance["epsilon"] == 2 and s.provenance["delta"] == 1e-5
    assert s.provenance["sensitivity"] == pytest.approx(2.0)  # sqrt(J), J = 4 columns
    assert s.provenance["noise_multiplier"] == pytest.approx(dp_draft.noise_multiplier_for(2.0, 1e-5))
    assert s.column("Age").type == "numeric" and s.column("Home").type == "categorical"
    assert set(s.label_names) == {"good", "bad"}


@pytest.mark.parametrize("extra, match", [
    (["--label-column", "Nope", "--epsilon", "1"], "--label-column 'Nope' is not a column"),
    (["--label-column", "Status", "--epsilon", "0"], "--epsilon must be a positive finite number"),
    (["--label-column", "Status", "--epsilon", "-1"], "--epsilon must be a positive finite number"),
    (["--label-column", "Status", "--epsilon", "0.05"], "too small for the RDP accounting"),
    (["--label-column", "Status", "--epsilon", "1", "--numeric", "Status"], "is categorical"),
    (["--label-column", "Status", "--epsilon", "1", "--numeric", "Home"], "'Home' is declared numeric"),
    (["--label-column", "Status", "--epsilon", "1", "--delta", "0.5"], "--delta must be < 1/n"),
    (["--label-column", "Status", "--numeric", "Age"], "add --epsilon"),
])
def test_cli_dp_draft_bad_input_is_one_error_line_and_no_file(tmp_path, capsys, extra, match):
    csv = tmp_path / "t.csv"
    table().to_csv(csv, index=False)
    out = tmp_path / "s.toml"
    rc = main(["schema", "draft", str(csv), "--out", str(out), *extra])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and match in lines[0], lines
    assert not out.exists() and {p.name for p in tmp_path.iterdir()} == {"t.csv"}


def test_python_api_composes_a_dp_schema_with_a_dp_label_histogram(dp_run):
    """Both full-data releases in one budget: the plan calibrates around both, the ledger holds each once."""
    from dpcgan import DPCGAN
    from dpcgan.config import preset, resolve_plan

    tmp, _, schema_file = dp_run
    release = schema_release(read_schema_file(schema_file))
    cfg = preset("table-eps1").replace(dataset="t.csv", batch_size=64, steps=20, target_epsilon=3.0,
                                       label_prior="dp-histogram", label_histogram_noise=20.0)
    plan = resolve_plan(cfg, 400, 2, schema_release=release)
    base = accountant.gaussian_rdp(20.0) + accountant.gaussian_rdp(release.noise_multiplier)
    assert plan.planned_epsilon == pytest.approx(accountant.epsilon(plan.sample_rate, plan.noise_multiplier, 20, 1e-5,
                                                                    "opacus", base_rdp=base), rel=1e-12)
    assert 3 - 1e-3 <= plan.planned_epsilon <= 3
    m = DPCGAN("table-eps1", epsilon=3.0, batch_size=64, steps=20, seed=0, log_every=10, label_prior="dp-histogram",
               label_histogram_noise=20.0)
    m.fit(pd.read_csv(tmp / "t.csv", dtype=str, keep_default_na=False, na_values=[""]), schema=schema_file,
          label_column="Status", progress=False)
    report = m.privacy_report()
    full = sorted(e["noise_multiplier"] for e in report["events"] if e["sample_rate"] == 1.0)
    assert full == sorted([20.0, release.noise_multiplier]) and report["label_histogram"] and report["schema_draft"]
    assert report["epsilon"] == pytest.approx(plan.planned_epsilon, rel=1e-6)
    assert report["delta"] == pytest.approx(1e-5 + release.delta_threshold, rel=1e-12)


def test_a_real_other_category_does_not_swallow_the_rare_ones():
    """Issue 24 item 10: a category really named 'other' stays itself; the catch-all gets another name."""
    n = 4000
    df = pd.DataFrame({"Y": np.where(np.arange(n) % 2 == 0, "a", "b"),
                       "C": np.where(np.arange(n) % 3 == 0, "other", np.where(np.arange(n) % 3 == 1, "x", "y"))})
    df.loc[:2, "C"] = "rare"
    draft = dp_draft.dp_draft_schema(df, "Y", epsilon=5.0, noise=seeded(0))
    col = next(c for c in draft.schema.columns if c.name == "C")
    assert "other" in col.categories and col.other == "other (rare)" and "other (rare)" in col.categories
    assert "rare" not in col.categories
    assert dp_draft.catch_all_name(["other", "other (rare)"]) == "other (rare 2)"
