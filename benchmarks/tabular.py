"""Labeled tables (issue #13): dpcgan next to a label-conditional independent-marginals DP baseline (and SmartNoise
Synth's MST / AIM / DP-CTGAN / PATE-CTGAN when its virtual environment exists), TSTR utility and fidelity.

    python benchmarks/tabular.py --datasets credit_data --eps 1,3,10 --seeds 0

Fixed 80/20 split (seed 2026), delta = min(1e-5, 1/n^2) for the training split's n. Every method gets the same
public schema (benchmarks/schemas/NAME.toml) and its synthetic table has as many rows as the training split.
Results append to results/tabular.jsonl; results/tabular.md is rebuilt from it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from _common import DEFAULT_DATA, REPO, RESULTS, commit, machine, write_result  # noqa: E402

from dpcgan.config import DEFAULT_TABLE_PRESET, preset  # noqa: E402
from dpcgan.tables.baselines import IndependentMarginals  # noqa: E402
from dpcgan.tables.csvio import load_table, read_frame  # noqa: E402
from dpcgan.tables.encode import integers_in_bins  # noqa: E402
from dpcgan.tables.evaluate import discretise, evaluate_table  # noqa: E402
from dpcgan.tables.schema import read_schema_file  # noqa: E402
from dpcgan.tables.synth import sample_rows  # noqa: E402
from dpcgan.tables.train_cli import schema_for  # noqa: E402
from dpcgan.train import train  # noqa: E402

WORK = REPO / "runs" / "tabular"
SN_PYTHON = Path(os.environ.get("SN_PYTHON", "/work/sn-venv/bin/python"))
SN_METHODS = ("mst", "aim", "dpctgan", "patectgan")
DPMM_PYTHON = Path(os.environ.get("DPMM_PYTHON", "/work/dpmm-venv/bin/python"))   # pip install dpmm==0.1.9 there
SN_TIMEOUT_S = int(os.environ.get("SN_TIMEOUT_S", "1200"))   # a SmartNoise fit longer than this is recorded as such


def split(name: str) -> tuple[Path, Path]:
    """train.csv and test.csv of the fixed 80/20 split (seed 2026; Adult: its published split, rows with an empty
    cell and the columns fnlwgt, education_num dropped), written once under runs/tabular/NAME/."""
    d = WORK / name
    tr, te = d / "train.csv", d / "test.csv"
    if not tr.is_file() and name == "adult":   # the published split, as in dpgan-recipes.md §9.2
        d.mkdir(parents=True, exist_ok=True)
        for part, path in (("train", tr), ("test", te)):
            df = pd.read_csv(DEFAULT_DATA / "tabular" / f"adult-{part}.csv.gz", dtype=str, keep_default_na=False,
                             na_values=[""])
            df.dropna().drop(columns=["fnlwgt", "education_num"]).to_csv(path, index=False)
    if not tr.is_file():
        d.mkdir(parents=True, exist_ok=True)
        df = pd.read_csv(DEFAULT_DATA / "tabular" / f"{name}.csv.gz", dtype=str, keep_default_na=False,
                         na_values=[""])
        perm = np.random.default_rng(2026).permutation(len(df))
        cut = int(0.8 * len(df))
        df.iloc[perm[:cut]].to_csv(tr, index=False)
        df.iloc[perm[cut:]].to_csv(te, index=False)
    return tr, te


def dpcgan_config(eps: float, delta: float, seed: int, overrides: dict):
    base = preset("table-eps1" if eps <= 3 else "table-eps10")  # sigma calibrated for the preset's steps at eps
    return base.replace(target_epsilon=eps, delta=delta, seed=seed, **overrides)


def run_dpcgan(schema, tr, eps, delta, seed, n, overrides, preset_name=None) -> tuple[pd.DataFrame, dict]:
    base = (preset(preset_name).replace(target_epsilon=eps, delta=delta, seed=seed, **overrides) if preset_name
            else dpcgan_config(eps, delta, seed, overrides))
    schema = schema_for(base, schema)   # the method's default numeric bins, as `dpcgan train` does
    data = load_table(tr, schema)
    cfg = base.replace(dataset=str(tr), label_names=tuple(schema.label_names),
                                                             num_classes=len(schema.label_names))
    # one folder per configuration: two runs of different overrides never share (or overwrite) a run directory
    tweak = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8] if overrides else "preset"
    out = WORK / Path(tr).parent.name / "runs" / f"{preset_name or 'gan'}-{tweak}-eps{eps:g}-seed{seed}"
    t0 = time.perf_counter()
    result = train(cfg, data, out, overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(seed)
    # the prior the fakes trained with (uniform, or the run's DP label histogram, covered by its epsilon)
    ckpt = torch.load(out / "generator.pt", weights_only=True)
    df = sample_rows(result.generator, schema, n, list(ckpt["label_prior"]), gen,
                     calibration=ckpt.get("marginal_tables"))
    info = {"epsilon_spent": result.epsilon, "steps": result.steps, "train_s": round(wall, 1),
            "sigma": result.plan.noise_multiplier, "batch_size": cfg.batch_size}
    if preset_name:
        info |= {"preset": preset_name, "conversion": cfg.conversion}
    return df, info


def run_marginals(schema, train_df, eps, delta, seed, n) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    m = IndependentMarginals(schema, epsilon=eps, delta=delta).fit(train_df, rng)
    df = m.sample(n, rng)
    return df, {"epsilon_spent": m.epsilon, "train_s": round(time.perf_counter() - t0, 1),
                "sigma": m.noise_multiplier}


BINS = 20


def run_smartnoise(method, schema, train_df, eps, delta, seed, n, tmp: Path) -> tuple[pd.DataFrame, dict]:
    """The table discretised on the public schema (categories; numerics in BINS bins of the public bounds), fed to
    SmartNoise (or dpmm, for dpmm-aim / dpmm-mst) as integer codes; its samples mapped back (numerics uniform
    within their bin)."""
    codes = discretise(train_df, schema, BINS)
    tmp.mkdir(parents=True, exist_ok=True)
    inp, out = tmp / "codes.csv", tmp / f"{method}-{eps}-{seed}.csv"
    pd.DataFrame(codes, columns=schema.names).to_csv(inp, index=False)
    t0 = time.perf_counter()
    if method.startswith("dpmm-"):
        domain = tmp / "domain.json"
        # the 'missing' code only for nullable columns (a non-nullable column must never come out empty)
        domain.write_text(json.dumps({c.name: (len(c.categories) if c.type == "categorical" else BINS) + int(c.missing)
                                      for c in schema.columns}))
        command = [str(DPMM_PYTHON), str(REPO / "benchmarks" / "_dpmm_runner.py"), method[5:], str(eps), str(delta),
                   str(inp), str(domain), str(out), str(n), str(seed)]
    else:
        command = [str(SN_PYTHON), str(REPO / "benchmarks" / "_smartnoise_runner.py"), method, str(eps), str(delta),
                   str(inp), str(out), str(n), str(seed)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=SN_TIMEOUT_S,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
    wall = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    c = pd.read_csv(out).to_numpy(dtype=int)
    cols = {}
    for j, col in enumerate(schema.columns):
        k = c[:, j]
        if col.type == "categorical":
            cats = np.array(list(col.categories) + [None], dtype=object)
            cols[col.name] = cats[np.clip(k, 0, len(cats) - 1)]
        else:
            na = k >= BINS
            b, offset = np.clip(k, 0, BINS - 1), rng.random(len(k))
            v = col.min + (b + offset) / BINS * (col.max - col.min)
            if col.integer:   # an integer that bins back to its bin, as dpcgan's decoder does
                v = integers_in_bins(col, b, offset, v, BINS)
                cols[col.name] = pd.array(np.where(na, None, v.astype(np.int64)).tolist(), dtype="Int64")
            else:
                cols[col.name] = pd.array(np.where(na, np.nan, v), dtype="Float64")
    df = pd.DataFrame(cols)
    return df, {"epsilon_spent": eps, "train_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="credit_data")
    ap.add_argument("--eps", default="1,3,10")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--methods", default="dpcgan-marginals,dpcgan,marginals",
                    help="dpcgan-marginals (the default table preset), dpcgan (the table GAN), marginals (baseline), "
                         "and SmartNoise's mst, aim, dpctgan, patectgan when their environment exists")
    ap.add_argument("--override", default="{}", help="JSON of TrainConfig fields for the dpcgan methods (tuning)")
    ap.add_argument("--tag", default="", help="label of this configuration in the results")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--delta", type=float, default=None,
                    help="default min(1e-5, 1/n^2); the Adult anchors of dpgan-recipes.md §9.2 use 1e-5")
    ap.add_argument("--no-write", action="store_true", help="print, do not append to results/tabular.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = json.loads(args.override)
    if "d_betas" in overrides:
        overrides["d_betas"] = tuple(overrides["d_betas"])
    if "g_betas" in overrides:
        overrides["g_betas"] = tuple(overrides["g_betas"])
    for name in args.datasets.split(","):
        schema = read_schema_file(REPO / "benchmarks" / "schemas" / f"{name}.toml")
        tr, te = split(name)
        train_df, test_df = read_frame(tr, schema), read_frame(te, schema)
        n = len(train_df)
        delta = args.delta if args.delta is not None else min(1e-5, 1.0 / n**2)
        reference = None
        for eps in [float(e) for e in args.eps.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                for method in args.methods.split(","):
                    try:
                        if method == "dpcgan":   # the table GAN (table-eps1 / table-eps10)
                            synth, info = run_dpcgan(schema, tr, eps, delta, seed, n, overrides)
                        elif method == "dpcgan-marginals":   # the default for tables (table-marginals)
                            synth, info = run_dpcgan(schema, tr, eps, delta, seed, n, overrides, DEFAULT_TABLE_PRESET)
                        elif method == "marginals":
                            synth, info = run_marginals(schema, train_df, eps, delta, seed, n)
                        else:
                            synth, info = run_smartnoise(method, schema, train_df, eps, delta, seed, n, WORK / name / "sn")
                    except Exception as e:  # a competitor that fails is recorded with its reason
                        row = {"dataset": name, "method": method, "epsilon": eps, "seed": seed, "delta": delta,
                               "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}
                        print(json.dumps(row), flush=True)
                        if not args.no_write:
                            with open(RESULTS / "tabular.jsonl", "a") as f:
                                f.write(json.dumps(row) + "\n")
                        continue
                    ev = evaluate_table(synth, test_df, schema, real_train=train_df if reference is None else None,
                                        seed=0)
                    if reference is None:
                        reference = ev["real_reference"]
                        ev["fidelity"] = evaluate_table(synth, test_df, schema, real_train=train_df)["fidelity"]
                    else:  # fidelity against the training rows too
                        from dpcgan.tables.evaluate import fidelity
                        ev["fidelity"] = fidelity(synth, train_df, schema)
                    row = {"dataset": name, "method": method, "tag": args.tag, "epsilon": eps, "seed": seed,
                           "delta": delta, "n_train": n, **info,
                           "lr_auroc": ev["tstr"]["logistic_regression"]["auroc"],
                           "hgb_auroc": ev["tstr"]["hist_gradient_boosting"]["auroc"],
                           "lr_acc": ev["tstr"]["logistic_regression"]["accuracy"],
                           "hgb_acc": ev["tstr"]["hist_gradient_boosting"]["accuracy"],
                           "tv_1way": ev["fidelity"]["tv_1way"], "tv_2way": ev["fidelity"]["tv_2way"],
                           "corr_diff": ev["fidelity"]["correlation_diff"],
                           "worst_category_gap": ev["fidelity"]["worst_category_gap"],
                           "worst_category": ev["fidelity"]["worst_category"],
                           "worst_missing_gap": ev["fidelity"]["worst_missing_gap"],
                           "worst_missing_column": ev["fidelity"]["worst_missing_column"],
                           "real_lr_auroc": reference["logistic_regression"]["auroc"],
                           "real_hgb_auroc": reference["hist_gradient_boosting"]["auroc"],
                           "commit": commit(), "override": overrides}
                    print(json.dumps(row), flush=True)
                    if not args.no_write:
                        with open(RESULTS / "tabular.jsonl", "a") as f:
                            f.write(json.dumps(row) + "\n")
    if not args.no_write:
        render()


def render() -> None:
    torch.set_num_threads(1)  # as the runs (machine() reports it)
    latest: dict = {}
    for line in (RESULTS / "tabular.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            latest[(r["dataset"], r["method"], r.get("tag", ""), r["epsilon"], r["seed"])] = r  # a rerun replaces
    rows = list(latest.values())
    lines = ["# Labeled tables: dpcgan vs DP baselines (issues #13, #23)", "",
             "Train on synthetic, test on real (TSTR): ROC AUC of logistic regression (LR) and HistGradientBoosting "
             "(HGB) fitted on a synthetic table as large as the training split, tested on the real test split; "
             "fidelity against the real training split: mean total-variation distance of 1-way and 2-way marginals "
             "(numerics in 10 bins of the public bounds), mean |correlation difference| of the encoded columns, the "
             "worst |share gap| over the categories held by >= 1 % of real rows (cat gap) and the worst |gap| in a "
             "column's missing rate (NA gap). Splits: credit_data and fertility a fixed 80/20 split (seed 2026); "
             "Adult its published train/test files, rows with an empty cell and the columns fnlwgt, education_num "
             "dropped (the protocol of dpgan-recipes.md §9.2). delta = min(1e-5, 1/n^2) unless a row says "
             "otherwise (Adult: 1e-5, as §9.2's anchors). Wall time: training (+ sampling for the baselines) on "
             "this machine, 1 torch thread.", "",
             "Methods: dpcgan-marginals = the default table preset (table-marginals: a generator fitted to DP count "
             "tables, tables/marginal_fit.py; from commit 1638ba3 its rounds of pair tables follow the public rule of "
             "tables/marginal_recipe.py, earlier rows used 5 rounds unless tagged); dpcgan = the table GAN "
             "(table-eps1 at epsilon <= 3, table-eps10 above); marginals = the label-conditional independent-marginals "
             "baseline (tables/baselines.py); dpmm-aim, dpmm-mst = AIM and MST of dpmm 0.1.9 (Private-PGM) in their "
             "own virtual environment (benchmarks/_dpmm_runner.py: the same public domain, numerics in 20 bins, "
             "dpmm's own DP binning off); mst, aim, dpctgan, patectgan = SmartNoise Synth, where its environment "
             "existed.", "",
             f"Machine: {machine()}. Rebuilt at commit {commit()}.", "",
             "Commands (from a clean clone, with `PYTHONPATH=src` or the package installed; the SmartNoise methods "
             "need their own virtual environment, see below; the exact invocations behind this file are listed at "
             "its end): `python benchmarks/tabular.py --datasets credit_data,fertility --eps 1,3,10 --seeds 0,1` and "
             "`python benchmarks/tabular.py --datasets adult --eps 1,3,10 --seeds 0,1 --delta 1e-5`.", ""]
    for name in sorted({r["dataset"] for r in rows}):
        ok = [r for r in rows if r["dataset"] == name and "error" not in r]
        if ok:
            lines += [f"## {name} (n_train = {ok[0]['n_train']}; real-data reference: LR AUROC "
                      f"{ok[0]['real_lr_auroc']:.3f}, HGB AUROC {ok[0]['real_hgb_auroc']:.3f})", "",
                      "Mean over seeds (number of seeds in brackets; cat gap and NA gap: the worst seed); gap = "
                      "real-data HGB AUROC minus TSTR HGB AUROC" + (f"; delta = {ok[0]['delta']:g}" if name == "adult"
                                                                     else "") + ".", "",
                      "| method | epsilon | LR AUROC | HGB AUROC | gap (HGB) | TV 1-way | TV 2-way | corr diff | cat gap "
                      "| NA gap | wall s |",
                      "|---|---|---|---|---|---|---|---|---|---|---|"]
            groups: dict = {}
            for r in ok:
                groups.setdefault((r["epsilon"], r["method"], r.get("tag", "")), []).append(r)
            for (eps, method, tag), rs in sorted(groups.items()):
                mean = lambda k: float(np.mean([r[k] for r in rs]))  # noqa: E731
                label = f"{method} ({tag})" if tag else method
                def worst(k):   # the worst over the seeds (older rows lack the column)
                    vals = [r[k] for r in rs if r.get(k) is not None]
                    return f"{max(vals):.3f}" if vals else ("–" if all(k in r for r in rs) else "")
                lines.append(f"| {label} [{len(rs)}] | {eps:g} | {mean('lr_auroc'):.3f} | {mean('hgb_auroc'):.3f} | "
                             f"{rs[0]['real_hgb_auroc'] - mean('hgb_auroc'):+.3f} | {mean('tv_1way'):.3f} | "
                             f"{mean('tv_2way'):.3f} | {mean('corr_diff'):.3f} | {worst('worst_category_gap')} | "
                             f"{worst('worst_missing_gap')} | {mean('train_s'):.0f} |")
            lines += ["", "Every run:", "",
                      "| method | tag | epsilon | seed | LR AUROC | HGB AUROC | HGB acc | TV 1-way | TV 2-way | corr diff "
                      "| wall s | D steps | sigma |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for r in sorted(ok, key=lambda r: (r["epsilon"], r["method"], r.get("tag", ""), r["seed"])):
                lines.append(f"| {r['method']} | {r.get('tag', '')} | {r['epsilon']:g} | {r['seed']} | "
                             f"{r['lr_auroc']:.3f} | {r['hgb_auroc']:.3f} | {r['hgb_acc']:.3f} | {r['tv_1way']:.3f} | "
                             f"{r['tv_2way']:.3f} | {r['corr_diff']:.3f} | {r['train_s']} | {r.get('steps', '')} | "
                             f"{r['sigma']:.3g} |" if r.get("sigma") else
                             f"| {r['method']} | {r.get('tag', '')} | {r['epsilon']:g} | {r['seed']} | "
                             f"{r['lr_auroc']:.3f} | {r['hgb_auroc']:.3f} | {r['hgb_acc']:.3f} | {r['tv_1way']:.3f} | "
                             f"{r['tv_2way']:.3f} | {r['corr_diff']:.3f} | {r['train_s']} | | |")
            lines.append("")
        errs = [r for r in rows if r["dataset"] == name and "error" in r]
        for r in errs:
            lines.append(f"- {r['method']} at epsilon {r['epsilon']:g}, seed {r['seed']}: failed: {r['error']}")
        if errs:
            lines.append("")
    notes = RESULTS / "tabular_notes.md"
    if notes.is_file():
        lines += [notes.read_text()]
    write_result("tabular.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
