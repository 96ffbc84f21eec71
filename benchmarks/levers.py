"""Lever ablation: train one configuration (a preset plus overrides), sample, evaluate, append a row.

    python benchmarks/levers.py NAME --preset mnist-eps10 [--set key=JSON ...] [--proxy-batch 256]
                                [--n-synthetic 20000] [--threads 1] [--out levers.md]

--proxy-batch B' runs a short proxy of the preset's recipe: the same D steps, batch B' and sigma scaled so that the
noise per averaged coordinate (sigma / B) equals the full recipe's (its epsilon is then larger: the row says so).
The synthetic data is scored twice when G has BatchNorm: as released (eval mode: running statistics) and with
batch statistics (train-mode normalisation over each sampling batch of 4096), to measure any mismatch between
the two. Metrics: CNN accuracy on the real test set, FID-like, and precision/recall in the FID-like feature space.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from _common import start_training_benchmark, parse_sets, train_or_reuse, DEFAULT_DATA, REPO, RESULTS, write_result
from dpcgan.config import PRESETS, TrainConfig, preset, resolve_plan
from dpcgan.data import load_dataset
from dpcgan.evaluate import evaluate_synthetic
from dpcgan.io import write_json_atomic
from dpcgan.sample import balanced_labels, load_generator

HEADER = ("# Lever ablation (benchmarks/levers.py)\n\n"
          "One run each (seed 0), MNIST unless stated; the train wall column names the torch threads used. "
          "`proxy` rows use a smaller batch with sigma scaled so that sigma/B equals the full recipe's, and the "
          "same D steps: their own epsilon is larger (given). CNN accuracy: `dpcgan evaluate`'s CNN trained on N "
          "synthetic images, tested on the real test set; `eval BN` samples G as released (running statistics), "
          "`batch BN` with batch statistics. P/R: precision/recall (k=5) in the FID-like feature space.\n\n"
          "| name | overrides | epsilon | sigma | B | D steps | n_D | G steps | train wall | N synth "
          "| CNN % (eval BN) | CNN % (batch BN) | FID-like | precision | recall | commit | date |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")


@torch.no_grad()
def sample(G, n: int, prior, seed: int, batch_stats: bool) -> tuple[np.ndarray, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    y = balanced_labels(n, prior, gen)
    G.train(batch_stats)
    saved = {k: v.clone() for k, v in G.state_dict().items()}
    out = []
    for i in range(0, n, 4096):
        yb = y[i : i + 4096]
        out.append(G(G.sample_latent(len(yb), gen), yb).mul(255).round_().clamp_(0, 255).to(torch.uint8))
    G.load_state_dict(saved)  # train-mode forward passes update running statistics: undo
    G.eval()
    return torch.cat(out).numpy()[:, 0], y.numpy()


def evaluate(x, y, train_data, test_data, seed: int) -> dict:
    return evaluate_synthetic(x, y, train_data, test_data, num_classes=train_data.num_classes, seed=seed,
                              metrics=("cnn", "fid"), progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--preset", default="mnist-eps10", choices=sorted(PRESETS))
    ap.add_argument("--set", action="append", default=[], help="key=JSON override of a TrainConfig field")
    ap.add_argument("--proxy-batch", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-synthetic", type=int, default=20000)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--runs", default=str(REPO / "runs" / "levers"))
    ap.add_argument("--out", default="levers.md")
    ap.add_argument("--reuse", action="store_true", help="evaluate an existing run directory again")
    ap.add_argument("--batch-bn", action="store_true", help="also score samples drawn with batch-statistics BN")
    args = ap.parse_args()
    code_commit = start_training_benchmark(args.threads)

    overrides = parse_sets(args.set)
    cfg: TrainConfig = preset(args.preset).replace(seed=args.seed, **overrides)
    train_data = load_dataset(cfg.dataset, "train", args.data_dir)
    test_data = load_dataset(cfg.dataset, "test", args.data_dir)
    label = "full"
    if args.proxy_batch:
        full = resolve_plan(cfg.replace(mode="split"), len(train_data), train_data.num_classes)
        sigma = full.noise_multiplier * args.proxy_batch / cfg.batch_size
        cfg = cfg.replace(batch_size=args.proxy_batch, noise_multiplier=sigma, steps=full.steps, target_epsilon=None)
        if cfg.mode == "off":
            cfg = cfg.replace(noise_multiplier=None)
        label = f"proxy of B={full.sample_rate * full.n:.0f}, sigma={full.noise_multiplier:.3f}"
    out = Path(args.runs) / args.name
    wall_s = train_or_reuse(cfg, train_data, out, args.reuse, progress=False)
    report = json.loads((out / "privacy.json").read_text())
    G, ckpt = load_generator(out)
    prior = list(ckpt["label_prior"])
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in G.modules())
    results = {}
    for mode in (("eval", "batch") if has_bn and args.batch_bn else ("eval",)):
        x, y = sample(G, args.n_synthetic, prior, args.seed, batch_stats=mode == "batch")
        results[mode] = evaluate(x, y, train_data, test_data, args.seed)
    write_json_atomic(out / "lever_evaluation.json", results)
    ev = results["eval"]
    fid = ev["fidelity"]
    pr = fid.get("precision_recall", {})
    fmt = lambda v: f"{100 * v:.2f}" if v is not None else "-"
    g_steps = report.get("g_steps", report["d_steps"] // cfg.d_steps_per_g)
    n_d = "adaptive" if getattr(cfg, "adaptive_d_steps", False) else cfg.d_steps_per_g
    eps = "inf (off)" if report["epsilon"] is None else f"{report['epsilon']:.3g}"
    row = (f"| {args.name} | {label}; `{json.dumps(overrides)}` | {eps} "
           f"| {report.get('noise_multiplier', cfg.noise_multiplier) or 0:.4g} | {cfg.batch_size} | {report['d_steps']} "
           f"| {n_d} | {g_steps} | {wall_s / 60:.1f} min ({args.threads} thr) | {args.n_synthetic} "
           f"| **{fmt(ev['cnn']['accuracy'])}** | {fmt(results['batch']['cnn']['accuracy']) if 'batch' in results else '-'} "
           f"| {fid['fid_like']:.2f} | {fmt(pr.get('precision'))} | {fmt(pr.get('recall'))} | {code_commit} "
           f"| {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC |\n")
    path = RESULTS / args.out
    write_result(args.out, (path.read_text() if path.is_file() else HEADER) + row)
    print(row)


if __name__ == "__main__":
    main()
