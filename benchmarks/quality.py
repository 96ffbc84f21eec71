"""Utility of a preset: train it, sample 60k labeled images, evaluate them, append a row to results/quality.md.

    python benchmarks/quality.py PRESET [--threads 2] [--seed 0] [--steps N] [--reuse]

The run trains from scratch with the preset as `dpcgan train --preset PRESET` would (seeded here so that it can
be re-run; a release run uses OS entropy), samples 60,000 images with the run's own label prior
(`dpcgan sample --labels trained`), and scores them with `dpcgan evaluate`'s code on the real test set: CNN
accuracy, the paper's LR/MLP AUROC and the FID-like distance. The evaluation looks at real test data and is not
part of the run's privacy guarantee; the presets were tuned on MNIST and Fashion-MNIST as public benchmarks.

--steps shortens the run (smoke test; the row is then marked as not the preset). --reuse keeps a finished run in
runs/quality/PRESET whose config matches (its recorded wall time is used).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import torch

from _common import start_training_benchmark, parse_sets, train_or_reuse, DEFAULT_DATA, REPO, RESULTS, command, machine, write_result
from dpcgan.config import PRESETS, preset
from dpcgan.data import load_dataset
from dpcgan.evaluate import evaluate_synthetic
from dpcgan.io import write_json_atomic
from dpcgan.sample import load_generator, sample_synthetic

TARGETS = {  # CNN accuracy targets (issue #11), percent
    "mnist-eps10": 93.0, "mnist-eps1": 90.0, "fashion-mnist-eps10": 76.0, "fashion-mnist-eps1": 72.0}
ROWS_END = "<!-- quality.py inserts rows above this line -->"
HEADER = ("# Utility of the presets: CNN accuracy on the real test set of a classifier trained on 60k synthetic\n\n"
          "Each row: `benchmarks/quality.py PRESET` trained the preset from scratch, sampled 60,000 labeled images "
          "with the run's label prior and evaluated them with `dpcgan evaluate`'s code (CNN: 4 epochs, model "
          "selection on a synthetic hold-out; LR/MLP: the paper's protocol, micro AUROC; FID-like: a small CNN "
          "trained on real train data, 10k samples; the real train/test floor is in brackets). delta = 1e-5. "
          "Epsilon is the run's headline (its privacy.json), computed from the ledger of steps that ran. "
          "The evaluation is outside the privacy guarantee; presets were tuned on these public benchmarks. "
          "P/R: precision and recall (Kynkäänniemi et al. 2019, k = 5) in the FID-like feature space against the "
          "real test set (recall is low when classes collapse to a few images).\n\n"
          "| preset | dataset | seed | epsilon (conversion) | sigma | B | D steps | n_D | G steps | CNN acc % (target) "
          "| LR AUROC % | MLP AUROC % | FID-like (floor) | precision / recall | train wall time | machine | commit "
          "| date | command |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
          + ROWS_END + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=sorted(PRESETS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="shorter run (smoke test): sigma is re-calibrated for these steps")
    ap.add_argument("--n-synthetic", type=int, default=60000)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--runs", default=str(REPO / "runs" / "quality"))
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="key=JSON change to the preset (a candidate recipe: "
                    "the row says it is NOT the preset)")
    ap.add_argument("--out", default="quality.md", help="file name under results/")
    args = ap.parse_args()
    code_commit = start_training_benchmark(args.threads)

    changes = parse_sets(args.set)
    cfg = preset(args.preset).replace(seed=args.seed, **changes)
    if args.steps is not None:
        cfg = cfg.replace(steps=args.steps, noise_multiplier=None)
    train_data = load_dataset(cfg.dataset, "train", args.data_dir)
    test_data = load_dataset(cfg.dataset, "test", args.data_dir)
    out = Path(args.runs) / (args.preset + ("" if args.steps is None else f"-steps{args.steps}")
                             + ("" if not changes else "-candidate"))
    wall = train_or_reuse(cfg, train_data, out, args.reuse)
    report = json.loads((out / "privacy.json").read_text())

    G, ckpt = load_generator(out)
    x, y = sample_synthetic(G, args.n_synthetic, list(ckpt["label_prior"]), torch.Generator().manual_seed(args.seed))
    result = evaluate_synthetic(x, y, train_data, test_data, num_classes=train_data.num_classes, seed=args.seed,
                                progress=True)
    write_json_atomic(out / "evaluation.json", result)

    cnn = 100 * result["cnn"]["accuracy"]
    lr = 100 * result["paper"]["logistic_regression"]["auroc"]
    mlp = 100 * result["paper"]["mlp"]["auroc"]
    fid = result["fidelity"]
    name = args.preset if args.steps is None else f"{args.preset} (--steps {args.steps}: NOT the preset)"
    if changes:
        name += f" + `{json.dumps(changes)}` (NOT the preset)"
    target = TARGETS.get(args.preset)
    pr = fid.get("precision_recall") or {}
    n_d = "adaptive from %d" % cfg.d_steps_per_g if cfg.adaptive_d_steps else str(cfg.d_steps_per_g)
    row = (f"| {name} | {cfg.dataset} | {args.seed} | {report['epsilon']:.3f} ({report['headline_conversion']}) "
           f"| {report['noise_multiplier']:.4g} | {cfg.batch_size} | {report['d_steps']} | {n_d} "
           f"| {report.get('g_steps', '-')} | **{cnn:.2f}** ({'≥ %.0f' % target if target else '-'}) "
           f"| {lr:.2f} | {mlp:.2f} | {fid['fid_like']:.2f} ({fid['fid_like_real_train_vs_test']:.2f}) "
           f"| {100 * pr.get('precision', float('nan')):.1f} / {100 * pr.get('recall', float('nan')):.1f} "
           f"| {wall / 60:.1f} min | {machine()} | {code_commit} "
           f"| {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC | `{command()}` |\n")
    path = RESULTS / args.out
    existing = path.read_text() if path.is_file() else HEADER
    if ROWS_END in existing:  # the current table; older tables below it stay as they are
        existing = existing.replace(ROWS_END, row.rstrip("\n") + "\n" + ROWS_END, 1)
    else:
        existing += row
    write_result(args.out, existing)
    print(row)


if __name__ == "__main__":
    main()
