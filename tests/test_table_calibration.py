"""Calibrated sampling of a marginal-fitted table run (tables/calibrate.py): G's draws raked to the released tables.

Raking is post-processing only if it reads nothing but G and the released tables: the tests check that the stored
tables are the ones G was fitted to (the noisy releases, not the rows), that the samples follow whatever tables are
stored, and that raking does what iterative proportional fitting should (a single table matched exactly, several
converge), against independent computations.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dpcgan.cli import main
from dpcgan.sample import load_generator
from dpcgan.tables.calibrate import POOL, calibrated_draws, rake_weights
from dpcgan.tables.encode import encode_frame
from dpcgan.tables.marginal_fit import block_codes
from dpcgan.tables.schema import TableSchema
from dpcgan.tables.synth import sample_rows

from test_table_marginals import train_marginal_run


def weighted_table(codes, w, cols, shape):
    t = np.zeros(shape)
    np.add.at(t, tuple(codes[:, c] for c in cols), w)
    return t / t.sum()


def test_raking_matches_one_table_exactly_and_several_together():
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 3, 5000), rng.integers(0, 4, 5000), rng.integers(0, 2, 5000)], 1)
    p0 = np.array([0.6, 0.3, 0.1])
    w = rake_weights(codes, [([0], p0)])
    np.testing.assert_allclose(weighted_table(codes, w, [0], (3,)), p0, atol=1e-12)
    assert w.mean() == pytest.approx(1.0)
    # three tables, one of them a pair: consistent targets (from one joint) are reached together
    joint = rng.dirichlet(np.ones(24)).reshape(3, 4, 2)
    tables = [([0], joint.sum((1, 2))), ([2], joint.sum((0, 1))), ([0, 1], joint.sum(2))]
    w = rake_weights(codes, tables, sweeps=50)
    for cols, p in tables:
        np.testing.assert_allclose(weighted_table(codes, w, cols, p.shape), p, atol=1e-6)
    # a cell the target leaves empty gets no weight; a pool with nothing the target allows keeps its weights
    w = rake_weights(codes, [([0], np.array([0.5, 0.5, 0.0]))])
    assert w[codes[:, 0] == 2].sum() == 0
    w = rake_weights(codes[codes[:, 0] == 2], [([0], np.array([0.5, 0.5, 0.0]))])
    assert np.all(w == 1.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # a deliberately short fit: G misses the tables, so raking has something to correct
    return train_marginal_run(tmp_path_factory.mktemp("calibration"), 5, 5)


def test_the_stored_tables_are_the_released_ones_and_only_the_column_tables_are_raked(run):
    _, out = run
    G, ckpt = load_generator(out)
    tables = ckpt["marginal_tables"]
    report = json.loads((out / "privacy.json").read_text())
    schema = TableSchema.from_dict(ckpt["spec"]["schema"])
    names = [" x ".join(["label"] + [schema.features[c].name for c in cols]) for cols in tables["cols"]]
    assert names == report["marginals"]["tables_measured"]   # exactly what the ledger's releases measured
    assert tables["rake"] == [len(c) == 1 for c in tables["cols"]] and sum(tables["rake"]) == len(schema.features)
    # each stored table is a per-class distribution (the projected noisy counts), never raw counts of the rows
    for cols, dist in zip(tables["cols"], tables["dists"]):
        assert dist.shape[0] == 2 and dist.dtype == torch.float32
        np.testing.assert_allclose(dist.flatten(1).sum(1).numpy(), 1.0, atol=1e-5)
    assert "raked" in report["marginals"]["sampling"]


def test_calibrated_samples_follow_the_stored_tables_whatever_they_say(run):
    """The column shares of the sampled rows are those of the stored tables under the label shares used (the sum
    over classes of share x table), closer than G's own draws; replace a stored table by an arbitrary one and the
    samples follow the replacement: the rows come from G and the tables only."""
    _, out = run
    G, ckpt = load_generator(out)
    schema = TableSchema.from_dict(ckpt["spec"]["schema"])
    cal = ckpt["marginal_tables"]
    n = 20000

    def shares(df, j):
        x, y = encode_frame(df, schema)
        codes, widths = block_codes(x, schema)
        return np.bincount(codes[:, j], minlength=widths[j]) / len(codes), np.bincount(y, minlength=2) / len(y)

    for prior in (list(ckpt["label_prior"]), [0.5, 0.5]):   # the trained shares, and a user's prior
        raked = sample_rows(G, schema, n, prior, torch.Generator().manual_seed(1), calibration=cal)
        plain = sample_rows(G, schema, n, prior, torch.Generator().manual_seed(1))
        errs_raked, errs_plain = [], []
        for j, (cols, dist) in enumerate((c, d) for c, d in zip(cal["cols"], cal["dists"]) if len(c) == 1):
            target = np.asarray(prior) @ dist.numpy()
            got, label_shares = shares(raked, j)
            np.testing.assert_allclose(label_shares, prior, atol=1 / n)   # the labels asked for, exactly
            errs_raked.append(np.abs(got - target).max())
            errs_plain.append(np.abs(shares(plain, j)[0] - target).max())
        assert max(errs_raked) < 0.01 and max(errs_raked) < max(errs_plain)
    # an arbitrary stored table for column a (first feature): the samples follow it
    forced = dict(cal, dists=list(cal["dists"]))
    forced["dists"][0] = torch.tensor([[0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    df = sample_rows(G, schema, n, [0.5, 0.5], torch.Generator().manual_seed(2), calibration=forced)
    np.testing.assert_allclose(shares(df, 0)[0], [0.4, 0.15, 0.45], atol=0.01)
    # seeded: the same rows again
    again = sample_rows(G, schema, n, [0.5, 0.5], torch.Generator().manual_seed(2), calibration=forced)
    pd.testing.assert_frame_equal(df, again)


def test_the_cli_and_the_api_sample_calibrated_rows(run):
    from dpcgan.api import DPCGAN

    tmp, out = run
    assert main(["sample", str(out), "-n", "500", "--seed", "3", "--out", str(tmp / "a.csv")]) == 0
    cli = pd.read_csv(tmp / "a.csv", keep_default_na=False, na_values=[""], dtype=str)
    api = DPCGAN.load(out).sample(500, seed=3).astype(str).replace({"<NA>": np.nan, "nan": np.nan})
    G, ckpt = load_generator(out)
    direct = sample_rows(G, TableSchema.from_dict(ckpt["spec"]["schema"]), 500, list(ckpt["label_prior"]),
                         torch.Generator().manual_seed(3), calibration=ckpt["marginal_tables"])
    assert cli["a"].tolist() == direct["a"].astype(str).tolist() == api["a"].tolist()


def test_a_pool_is_drawn_per_class_with_the_requested_labels(run):
    _, out = run
    G, ckpt = load_generator(out)
    y = torch.tensor([1] * 7 + [0] * 3)
    schema = TableSchema.from_dict(ckpt["spec"]["schema"])
    x = calibrated_draws(G, schema, y, ckpt["marginal_tables"], torch.Generator().manual_seed(0))
    assert x.shape == (10, *G.image_shape) and POOL >= 4


@pytest.mark.parametrize("lo, hi, bins", [(0, 48, 20), (17, 90, 20), (0.5, 99.5, 7), (0, 5, 20), (-3, 1_000, 20)])
def test_decoded_integers_encode_back_to_the_bin_they_were_drawn_in(lo, hi, bins):
    from dpcgan.tables.encode import decode, encode_frame
    from dpcgan.tables.schema import parse_schema

    schema = parse_schema({"label": "y", "columns": {
        "y": {"type": "categorical", "categories": ["a", "b"]},
        "v": {"type": "numeric", "min": lo, "max": hi, "integer": True, "bins": bins}}})
    rng = np.random.default_rng(0)
    n = 20000
    b = rng.integers(0, bins, n)
    x = np.zeros((n, bins + 1), np.float32)
    x[np.arange(n), b] = 1.0
    x[:, bins] = rng.uniform(-1, 1, n)
    df = decode(x, rng.integers(0, 2, n), schema)
    back, _ = encode_frame(df, schema)
    got = back[:, :bins].argmax(1)
    values = np.arange(np.ceil(lo), np.floor(hi) + 1)
    edges = np.minimum(np.floor((values - lo) / (hi - lo) * bins), bins - 1)
    has_integer = np.isin(b, edges)
    assert (got[has_integer] == b[has_integer]).all()               # every bin that holds an integer keeps its rows
    assert df["v"].between(np.ceil(lo), np.floor(hi)).all()
    # within a bin the integers are equally likely (offsets uniform): bin 1's values
    in_bin = df["v"].to_numpy()[b == 1].astype(int)
    counts = np.bincount(in_bin - in_bin.min())
    counts = counts[counts > 0]
    if len(counts) > 1 and counts.mean() >= 100:   # enough draws per value to compare them
        assert counts.min() > 0.7 * counts.max()
