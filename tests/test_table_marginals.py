"""The marginal-fitted table generator (arch table-marginals, the default table preset; issue 23 item 1).

Privacy: every release is in the ledger with the noise that was drawn; one row moves each count table by one count and
each score by at most 1; nothing but the noisy releases reaches G or the label shares; the epsilon printed is
dp_accounting's own PLD of those mechanisms (and the RDP cross-check the Gaussian's closed form).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from dpcgan.cli import main
from dpcgan.config import PRESETS, marginal_releases, resolve_plan
from dpcgan.models.tabular import MarginalTableGenerator
from dpcgan.privacy.marginal_budget import plan_marginal_releases
from dpcgan.tables.encode import encode_frame, layout
from dpcgan.tables.marginal_fit import FitSchedule, block_codes, count_table, fit_marginals, pair_scores
from dpcgan.tables.schema import parse_schema

SCHEMA = {"label": "y", "columns": {
    "y": {"type": "categorical", "categories": ["neg", "pos"]},
    "a": {"type": "categorical", "categories": ["p", "q", "r"]},
    "b": {"type": "categorical", "categories": ["u", "v"], "missing": True},
    "x": {"type": "numeric", "min": 0, "max": 10, "bins": 5},
}}


def frame(n=600, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.choice(["neg", "pos"], n, p=[0.8, 0.2])
    a = np.where(y == "pos", rng.choice(["p", "q"], n), rng.choice(["q", "r"], n))
    b = np.where(a == "p", "u", rng.choice(["u", "v", None], n, p=[0.3, 0.5, 0.2]))
    x = np.where(a == "r", rng.uniform(0, 3, n), rng.uniform(5, 10, n)).round(2)
    return pd.DataFrame({"y": y, "a": a, "b": b, "x": x})


def generator(schema, seed=0) -> MarginalTableGenerator:
    torch.manual_seed(seed)
    return MarginalTableGenerator([(k, w) for k, w, _ in layout(schema)], 2, latent_dim=8, hidden=32)


def test_release_shares_have_the_rdp_of_one_gaussian_at_the_overall_scale():
    for j, rounds, per in [(12, 5, 4), (3, 5, 4), (1, 5, 4), (30, 2, 10)]:
        releases = plan_marginal_releases(j, rounds, per, scale=3.0)
        assert sum(1 / (2 * r.noise_multiplier**2) for r in releases) == pytest.approx(1 / (2 * 3.0**2))
        pairs = j * (j - 1) // 2
        assert releases[0].coordinates == j
        assert all(r.coordinates == pairs for r in releases if r.release == "marginal-selection")
        assert all(r.coordinates == min(per, pairs) for r in releases[1:] if r.release == "marginals")
        assert len(releases) == 1 + 2 * min(rounds, math.ceil(pairs / per))   # no round with nothing to measure


def test_one_row_moves_each_count_table_by_one_count_and_each_score_by_at_most_one():
    schema = parse_schema(SCHEMA)
    df = frame()
    x, y = encode_frame(df, schema)
    x2, y2 = encode_frame(df.iloc[1:], schema)   # the neighbour: row 0 removed
    codes, widths = block_codes(x, schema)
    codes2, _ = block_codes(x2, schema)
    for cols in [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]:
        diff = count_table(codes, y, cols, widths, 2) - count_table(codes2, y2, cols, widths, 2)
        assert np.abs(diff).sum() == 1 and diff.max() == 1
    G = generator(schema)
    totals = np.array([400.0, 200.0])   # public (released earlier): the same for both neighbours
    pairs = [(0, 1), (0, 2), (1, 2)]
    s1 = pair_scores(G, codes, y, pairs, widths, totals, torch.Generator().manual_seed(1))
    s2 = pair_scores(G, codes2, y2, pairs, widths, totals, torch.Generator().manual_seed(1))
    assert np.abs(s1 - s2).max() <= 1 + 1e-9


def _fit(df, schema, *, count_noise, score_noise, seed=0):
    """fit_marginals with the given noise; returns G, its state, the planned releases and the log of what happened,
    in order: ("event", release) when recorded, ("counts", std) / ("scores", std, m) when noise is drawn."""
    x, y = encode_frame(df, schema)
    G = generator(schema, seed)
    releases = marginal_releases(PRESETS["table-marginals"].replace(marginal_rounds=5), len(schema.features), 5.0)
    log = []

    def counts(c, std):
        log.append(("counts", std))
        return count_noise(c, std)

    def scores(m, std):
        log.append(("scores", std, m))
        return score_noise(m, std)

    state = fit_marginals(G, x, y, schema, releases, FitSchedule(20, 20, 64), count_noise=counts, score_noise=scores,
                          generator=torch.Generator().manual_seed(seed), record=lambda r: log.append(("event", r)))
    return G, state, releases, log


def test_the_noise_drawn_is_the_noise_each_recorded_release_names():
    schema = parse_schema(SCHEMA)
    rng = np.random.default_rng(0)
    _, _, releases, log = _fit(
        frame(), schema, count_noise=lambda c, s: np.round(c + rng.normal(0, s, c.shape)).astype(np.int64),
        score_noise=lambda m, s: rng.normal(0, s, m))
    events = [item[1] for item in log if item[0] == "event"]
    assert [r.release for r in events] == [r.release for r in releases][: len(events)] and len(events) >= 3
    current, draws = None, []
    for item in log + [("event", None)]:
        if item[0] == "event":
            if current is not None:   # round 0 draws all J tables; a later round at most `coordinates`
                assert 1 <= len(draws) <= current.coordinates
                assert current is not events[0] or len(draws) == current.coordinates == 3
            current, draws = item[1], []
            continue
        assert current is not None, "noise drawn before its release was recorded"
        want = current.noise_multiplier * math.sqrt(current.coordinates)
        assert item[0] == ("scores" if current.release == "marginal-selection" else "counts")
        assert item[1] == pytest.approx(want)
        if item[0] == "scores":
            assert item[2] == current.coordinates
        draws.append(item)


def test_nothing_but_the_noisy_releases_reaches_the_generator_or_the_label_shares():
    """With data-independent 'noise' that drowns every count and score, two different tables give the same G and
    the same label shares: no path from the rows to the output bypasses the releases."""
    schema = parse_schema(SCHEMA)

    def constant_counts(c, s):
        return np.full(c.shape, 7, dtype=np.int64)

    def drowning_scores(m, s):
        return np.random.default_rng(42).normal(0, 1e12, m)

    G1, st1, *_ = _fit(frame(seed=0), schema, count_noise=constant_counts, score_noise=drowning_scores)
    G2, st2, *_ = _fit(frame(n=900, seed=5), schema, count_noise=constant_counts, score_noise=drowning_scores)
    np.testing.assert_array_equal(st1.prior, st2.prior)
    for p1, p2 in zip(G1.parameters(), G2.parameters()):
        assert torch.equal(p1, p2)


def train_marginal_run(tmp, fit_steps: int, final_steps: int):
    """A seeded table-marginals run on 3,000 rows of frame() at epsilon 2 (large enough for the rule to measure pair
    tables); returns (tmp, run directory)."""
    csv, schema_file = tmp / "t.csv", tmp / "s.json"
    frame(n=3000).to_csv(csv, index=False)
    schema_file.write_text(json.dumps(SCHEMA))
    out = tmp / "run"
    rc = main(["--threads", "1", "train", "--dataset", str(csv), "--schema", str(schema_file), "--schema-is-public",
               "--epsilon", "2", "--seed", "0", "--out", str(out), "--no-progress",
               "--set", f"marginal_fit_steps={fit_steps}", "--set", f"marginal_final_steps={final_steps}"])
    assert rc == 0
    return tmp, out


@pytest.fixture()
def marginal_run(tmp_path):
    return train_marginal_run(tmp_path, 30, 100)


def test_the_default_table_run_spends_exactly_what_dp_accounting_says(marginal_run):
    from dp_accounting.pld import privacy_loss_distribution as pld

    _, out = marginal_run
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["arch"] == "table-marginals"   # the default for tables (no --preset)
    report = json.loads((out / "privacy.json").read_text())
    assert report["d_steps"] == 0 and report["epsilon"] <= 2 + 1e-9 and report["headline_conversion"] == "pld"
    total = None
    for e in report["events"]:
        s, j = e["noise_multiplier"], e["coordinates"]
        if e["release"] == "marginals":   # J tables, N_Z(0, J s^2) per count, one count of each moves by 1
            one = pld.from_discrete_gaussian_mechanism(s * math.sqrt(j), value_discretization_interval=1e-3)
            one = one.self_compose(j)
        else:
            assert e["release"] == "marginal-selection"
            one = pld.from_gaussian_mechanism(s, value_discretization_interval=1e-3)
        one = one.self_compose(e["count"]) if e["count"] > 1 else one
        total = one if total is None else total.compose(one)
    assert report["epsilon"] == pytest.approx(total.get_epsilon_for_delta(report["delta"]), rel=1e-6)
    assert report["epsilon"] == pytest.approx(2.0, rel=0.01)   # calibrated to spend the cap
    # RDP cross-check: the releases' RDP is that of one Gaussian with the overall scale s
    s = config["plan"]["noise_multiplier"]
    orders = np.asarray(report["rdp_orders"])
    classic = np.min(orders / (2 * s**2) + math.log(1 / report["delta"]) / (orders - 1))
    assert report["epsilon_by_conversion"]["classic"] == pytest.approx(classic, rel=1e-6)
    assert len(report["marginals"]["tables_measured"]) >= 4 and config["config"]["marginal_rounds"] == 1
    assert "metrics.jsonl" not in report["not_covered"][0] and "run.json" in report["not_covered"][0]   # no D steps


def test_the_default_table_run_samples_reports_and_refuses_gan_settings(marginal_run, capsys):
    tmp, out = marginal_run
    assert main(["sample", str(out), "-n", "3000", "--out", str(tmp / "syn.csv")]) == 0
    syn = pd.read_csv(tmp / "syn.csv", keep_default_na=False, na_values=[""])
    assert list(syn.columns) == ["y", "a", "b", "x"]
    assert 0.1 < (syn["y"] == "pos").mean() < 0.3          # the real 20 %, from the count tables
    assert syn["b"].isna().mean() > 0.03                    # missing cells are generated
    assert syn["x"].between(0, 10).all()
    assert main(["report", str(out)]) == 0
    card = (out / "MODEL_CARD.md").read_text()
    assert "DP count tables" in card and "None" not in card.split("## Privacy")[1].split("##")[0]
    capsys.readouterr()
    rc = main(["train", "--dataset", str(tmp / "t.csv"), "--schema", str(tmp / "s.json"), "--steps", "100",
               "--out", str(tmp / "r2")])
    err = capsys.readouterr().err
    assert rc == 2 and "--steps" in err and "--preset table-eps1" in err and not (tmp / "r2").exists()


def test_resolve_plan_needs_the_column_count_and_dry_run_prints_the_releases(tmp_path, capsys):
    cfg = PRESETS["table-marginals"].replace(target_epsilon=1.0, marginal_rounds=5)
    with pytest.raises(Exception, match="for tables"):
        resolve_plan(cfg, 1000, 2)
    plan = resolve_plan(cfg, 1000, 2, num_features=3)
    assert plan.steps == 0 and plan.planned_epsilon <= 1.0 and plan.table_features == 3
    csv, schema_file = tmp_path / "t.csv", tmp_path / "s.json"
    frame(n=300).to_csv(csv, index=False)
    schema_file.write_text(json.dumps(SCHEMA))
    assert main(["train", "--dataset", str(csv), "--schema", str(schema_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "marginal-fitted table" in out and "no D steps" in out and "epsilon = 0.99" in out


# --- how many rounds of pair tables: a rule from public facts (tables/marginal_recipe.py) ---------------------------

def test_the_pair_rounds_rule_counts_tables_whose_expected_noise_is_small():
    from dpcgan.tables.marginal_recipe import MAX_PAIR_ROUNDS, ONE_WAY_NOISE, PAIR_NOISE, choose_rounds, noise_share

    assert noise_share(10.0, 50, 1000) == pytest.approx(math.sqrt(2 / math.pi) * 10 * 50 / 1000)
    # per-table std 2 x rounds: at 3 rounds (std 6) two of the three tables pass (8 cells: 0.038 <= 0.1, 400 cells:
    # 1.9 do not), fewer than the 3 the rounds would measure; at 2 rounds (std 4) two pass: enough
    assert PAIR_NOISE == 0.10
    rounds, why = choose_rounds([8, 8, 400], 1000, 1, lambda r: 2.0 * r)
    assert rounds == 2 and "2 of the 3" in why
    assert choose_rounds([400, 400], 1000, 1, lambda r: 2.0 * r)[0] == 0          # none passes at any rounds
    assert choose_rounds([8] * 100, 10**6, 4, lambda r: 1.0)[0] == MAX_PAIR_ROUNDS == 15   # capped
    assert choose_rounds([8] * 6, 10**6, 4, lambda r: 1.0)[0] == 2              # no round once every pair is measured
    assert choose_rounds([], 10**6, 4, lambda r: 1.0)[0] == 0                   # one feature column: no pairs
    # the (label, column) tables keep their precision: no round that would leave them noisier than ONE_WAY_NOISE
    assert ONE_WAY_NOISE == 0.05
    rounds, why = choose_rounds([8] * 100, 10**6, 4, lambda r: 1.0, one_way_share=lambda r: 0.01 * r)
    assert rounds == 5
    rounds, why = choose_rounds([8] * 100, 10**6, 4, lambda r: 1.0, one_way_share=lambda r: 0.04 + 0.04 * r)
    assert rounds == 0 and "(label, column) tables" in why and "8.0%" in why


def test_the_pair_rounds_come_from_n_epsilon_and_the_schema_never_the_rows(tmp_path, capsys):
    from dpcgan.tables.marginal_recipe import with_pair_rounds

    schema = parse_schema(SCHEMA)
    cfg = PRESETS["table-marginals"].replace(target_epsilon=1.0, delta=1e-6)
    small, why_small = with_pair_rounds(cfg, schema, 300, None)
    large, why_large = with_pair_rounds(cfg, schema, 100_000, None)
    assert small.marginal_rounds == 0 and "no pair tables" in why_small
    assert large.marginal_rounds == 1 and "1 round of pair tables" in why_large   # 3 pairs, 4 per round
    assert with_pair_rounds(cfg.replace(marginal_rounds=3), schema, 300, None)[0].marginal_rounds == 3   # given: kept
    # two different tables of the same size: the same plan, to the digit (the plan reads n and the schema only)
    schema_file = tmp_path / "s.json"
    schema_file.write_text(json.dumps(SCHEMA))
    lines = []
    for seed in (0, 1):
        csv = tmp_path / f"t{seed}.csv"
        frame(n=4000, seed=seed).to_csv(csv, index=False)
        assert main(["train", "--dataset", str(csv), "--schema", str(schema_file), "--epsilon", "3", "--dry-run"]) == 0
        lines.append([s for s in capsys.readouterr().out.splitlines() if s.startswith(("plan:", "table:"))])
    assert lines[0] == lines[1] and any("of pair tables" in s for s in lines[0])


@pytest.mark.parametrize("name, n, delta, expected", [
    ("adult", 30162, 1e-5, {1: 5, 3: 10, 10: 13}),
    ("credit_data", 3563, 1 / 3563**2, {1: 0, 3: 0, 10: 3}),
    ("fertility", 203723, 1 / 203723**2, {1: 5, 10: 6}),   # 21 pairs: at most 6 rounds of 4
])
def test_the_rule_on_the_benchmark_schemas_is_what_the_docs_say(name, n, delta, expected):
    """docs/tables.md quotes these round counts (the benchmark schemas and training-split sizes are public)."""
    from pathlib import Path

    from dpcgan.tables.marginal_recipe import with_pair_rounds
    from dpcgan.tables.schema import read_schema_file
    from dpcgan.tables.train_cli import schema_for

    root = Path(__file__).resolve().parents[1]
    for eps, rounds in expected.items():
        cfg = PRESETS["table-marginals"].replace(target_epsilon=float(eps), delta=delta)
        schema = schema_for(cfg, read_schema_file(root / "benchmarks" / "schemas" / f"{name}.toml"))
        assert with_pair_rounds(cfg, schema, n)[0].marginal_rounds == rounds, (name, eps)
