"""Utility on data the size users have: one cell of the own-data grid (issue: utility on data nobody tuned for).

    python benchmarks/owndata.py --dataset mnist --n 5000 --epsilon 10 [--preset mnist-eps10] [--seed 0]
                                 [--set FIELD=JSON ...] [--threads 2]

A class-balanced subset of n training records (fixed subset seed 0, the same for every row, so rows compare) is
the "private" data; the preset is trained on it at the given epsilon (sigma re-calibrated for this n, as
`dpcgan train --dataset SUBSET --preset P --epsilon E` would), 10 n synthetic images (at most 60,000) are sampled
with the run's label prior, and a CNN trained on them is tested on the real test set (`dpcgan evaluate`'s CNN).
The reference row: the same CNN trained on the real subset, for as many updates (4 epochs of 10 n = 40 epochs of n). Appends both to results/owndata.md.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import torch

from _common import (DEFAULT_DATA, REPO, RESULTS, command, machine, parse_sets, start_training_benchmark,
                     train_or_reuse, write_result)
from dpcgan.config import PRESET_NAMES, auto_config, preset
from dpcgan.data import load_dataset
from dpcgan.evaluate import evaluate_synthetic
from dpcgan.evaluate.cnn import CNNSettings
from dpcgan.evaluate.pipeline import EvalSettings
from dpcgan.io import write_json_atomic
from dpcgan.sample import load_generator, sample_synthetic

SUBSET_SEED = 0
ROWS_END = "<!-- owndata.py inserts rows above this line -->"
HEADER = ("# Own-data grid: DP-CGAN on class-balanced subsets of the public benchmarks\n\n"
          "Each row: `benchmarks/owndata.py` trained on a balanced subset of n training records (subset seed 0), "
          "sampled 10 n labeled images (at most 60,000) with the run's label prior, trained `dpcgan evaluate`'s "
          "CNN on them and tested it on the real test set (10,000). The `real subset` rows train the same CNN on "
          "the real subset itself for as many updates (40 epochs of n; the reference a DP method is compared with). delta = 1e-5. The evaluation is "
          "outside the privacy guarantee; the subsets are public benchmarks.\n\n"
          "| data | n | epsilon (conversion) | recipe | seed | sigma | B | D steps | CNN acc % | train wall | machine "
          "| commit | date | command |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + ROWS_END + "\n")


DERIVED = ("fashion-mnist-rgb32", "fashion-mnist-rgb32-anyhue", "fashion-mnist-64")   # built offline from the public
                                                                                  # Fashion-MNIST files


def derived_dataset(name: str, split: str, data_dir: str):
    """Public sets for the RGB / larger-image rows, built from Fashion-MNIST with fixed seeds:
    fashion-mnist-rgb32: padded to 32 x 32 and coloured: grey level times an RGB colour of hue k / 10 + U(-0.05,
      0.05) for class k (saturation 0.8), so colour carries label information as in many real image sets (so
      much that a CNN reads the label from the hue: 99.6 % on the real 5,000-record subset);
    fashion-mnist-rgb32-anyhue: the same with a hue drawn uniformly for each image, whatever its class: RGB whose
      label only the shapes carry;
    fashion-mnist-64: bilinearly upsampled to 64 x 64, grey."""
    import colorsys

    import numpy as np
    import torch.nn.functional as F

    from dpcgan.data.records import LabeledImages

    base = load_dataset("fashion-mnist", split, data_dir)
    x = base.x.float() / 255.0
    if name == "fashion-mnist-64":
        x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    else:
        rng = np.random.default_rng(2026 if split == "train" else 2027)
        hue = (base.y.numpy() / 10.0 + rng.uniform(-0.05, 0.05, len(base.y))) % 1.0
        if name == "fashion-mnist-rgb32-anyhue":
            hue = rng.uniform(0.0, 1.0, len(base.y))
        rgb = torch.tensor(np.array([colorsys.hsv_to_rgb(h, 0.8, 1.0) for h in hue]), dtype=torch.float32)
        x = F.pad(x, (2, 2, 2, 2)) * rgb[:, :, None, None]
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
    return LabeledImages(x, base.y, base.num_classes, name)


def procedural_shapes(split: str, side: int = 28, num_classes: int = 10):
    """A held-out domain nobody tuned for, generated offline with fixed seeds (no download): class k is one closed
    star-shaped curve r_k(t) = 1 + sum_j a_kj cos(j t + p_kj), j = 2..5, its harmonics drawn once from a public
    seed; each image draws it filled or as an outline, at a random rotation, size, position and grey level, on
    Gaussian background noise. The label is in the shape only, at any rotation: the class means are round blobs,
    so the warm start's pooled means carry little of it (unlike MNIST's). 12,000 training and 10,000 test images,
    balanced up to shuffling."""
    import numpy as np

    from dpcgan.data.records import LabeledImages

    shape_rng = np.random.default_rng(2028)
    amp = shape_rng.uniform(-0.22, 0.22, (num_classes, 4))
    phase = shape_rng.uniform(0, 2 * np.pi, (num_classes, 4))
    count = 12000 if split == "train" else 10000
    rng = np.random.default_rng(2029 if split == "train" else 2030)
    y = np.arange(count) % num_classes
    rng.shuffle(y)
    rot = rng.uniform(0, 2 * np.pi, count)
    radius = rng.uniform(0.45, 0.8, count) * side * 0.42
    cx, cy = rng.uniform(-0.1, 0.1, (2, count)) * side
    level = rng.uniform(0.55, 1.0, count)
    outline = rng.random(count) < 0.5
    g = np.arange(side) - (side - 1) / 2
    gx, gy = np.meshgrid(g, g)
    dx, dy = gx[None] - cx[:, None, None], gy[None] - cy[:, None, None]
    rho, angle = np.hypot(dx, dy), np.arctan2(dy, dx) - rot[:, None, None]
    j = np.arange(2, 6)
    r = 1 + (amp[y][:, None, None, :] * np.cos(j * angle[..., None] + phase[y][:, None, None, :])).sum(-1)
    d = rho - radius[:, None, None] * r     # radial distance (px) to the curve, < 0 inside
    fill = 1 / (1 + np.exp(np.clip(d / 0.5, -50, 50)))
    ring = np.exp(-d ** 2)
    img = np.where(outline[:, None, None], ring, fill) * level[:, None, None] + rng.normal(0, 0.06, d.shape)
    x = torch.from_numpy((np.clip(img, 0, 1) * 255).round().astype(np.uint8)[:, None])
    return LabeledImages(x, torch.from_numpy(y.astype(np.int64)), num_classes, "shapes")


def load_any(name: str, split: str, data_dir: str):
    """A public benchmark, one derived from Fashion-MNIST, or the procedural shapes."""
    if name in DERIVED:
        return derived_dataset(name, split, data_dir)
    if name == "shapes":
        return procedural_shapes(split)
    return load_dataset(name, split, data_dir)


def first_classes(data, k: int):
    """The records of classes 0 .. k-1 only, as a k-class set (few-class data: a clinic's 2 or 3 diagnoses)."""
    import dataclasses

    if not 2 <= k <= data.num_classes:
        raise SystemExit(f"--classes must be between 2 and {data.num_classes} (got {k})")
    kept = data.subset(torch.nonzero(data.y < k).flatten())
    return dataclasses.replace(kept, num_classes=k, name=f"{data.name}-{k}cls")


def class_shares(num_classes: int, imbalance: float) -> list[float]:
    """Class k's share of the records: geometric from class 0 to class K-1, the first `imbalance` times the last
    (1: balanced)."""
    w = [imbalance ** (-k / (num_classes - 1)) for k in range(num_classes)]
    return [v / sum(w) for v in w]


def balanced_subset(data, n: int, imbalance: float = 1.0):
    """n records, class k's share from class_shares (n // K each when balanced), drawn with a fixed public seed."""
    g = torch.Generator().manual_seed(SUBSET_SEED)
    counts = [n // data.num_classes] * data.num_classes if imbalance == 1 else \
        [round(n * s) for s in class_shares(data.num_classes, imbalance)]
    picks = []
    for k in range(data.num_classes):
        idx = torch.nonzero(data.y == k).flatten()
        if counts[k] > len(idx):
            raise SystemExit(f"class {k} has {len(idx)} records, fewer than the {counts[k]} asked for")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:counts[k]]])
    return data.subset(torch.cat(picks).sort().values)


def test_subset(test, imbalance: float):
    """The real test set in the training subset's class proportions (all of it when balanced): accuracy is then
    measured on the distribution the data owner has."""
    if imbalance == 1:
        return test
    per_class = min(int((test.y == k).sum()) for k in range(test.num_classes))
    return balanced_subset(test, int(per_class / max(class_shares(test.num_classes, imbalance))), imbalance)


def append_rows(rows: list[str]) -> None:
    path = RESULTS / "owndata.md"
    existing = path.read_text() if path.is_file() else HEADER
    existing = existing.replace(ROWS_END, "".join(rows) + ROWS_END, 1)
    write_result("owndata.md", existing)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", *DERIVED, "shapes"))
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--epsilon", type=float, required=True)
    ap.add_argument("--preset", default="mnist-eps10", choices=PRESET_NAMES,
                    help="a preset, or auto: the recipe --preset auto chooses for this n, epsilon, shape and K")
    ap.add_argument("--classes", type=int, help="keep the first K classes only (a K-class set; default: all)")
    ap.add_argument("--imbalance", type=float, default=1.0,
                    help="unbalanced classes: class 0 has this many times the records of class K-1 (geometric "
                         "shares between); the test set is subsampled to the same shares")
    ap.add_argument("--uniform-samples-too", action="store_true",
                    help="also evaluate the same generator with its samples' labels drawn uniformly (one more row)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="key=JSON change to the recipe")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, help="shorter run (smoke test; the row says so)")
    ap.add_argument("--no-reference", action="store_true", help="skip the real-subset reference row")
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--runs", default=str(REPO / "runs" / "owndata"))
    args = ap.parse_args()
    code_commit = start_training_benchmark(args.threads)
    changes = parse_sets(args.set)
    train_all = load_any(args.dataset, "train", args.data_dir)
    test = load_any(args.dataset, "test", args.data_dir)
    if args.classes:
        train_all, test = first_classes(train_all, args.classes), first_classes(test, args.classes)
    name = args.dataset + (f" (first {args.classes} classes)" if args.classes else "") + \
        (f" (unbalanced {args.imbalance:g}:1)" if args.imbalance != 1 else "")
    test = test_subset(test, args.imbalance)
    train = balanced_subset(train_all, args.n, args.imbalance)
    if args.preset == "auto":   # as `dpcgan train --dataset SUBSET --epsilon E` (auto, its default) would choose
        base, reasons = auto_config(len(train), tuple(train.x.shape[1:]), train.num_classes, args.epsilon)
        print("\n".join(f"auto: {r}" for r in reasons), flush=True)
    else:
        base = preset(args.preset)
    # --set may override these too (e.g. mode="off" with target_epsilon=null: the non-private reference recipe)
    cfg = base.replace(**{**dict(dataset=args.dataset, target_epsilon=args.epsilon, noise_multiplier=None,
                                 seed=args.seed), **changes})
    if args.steps is not None:
        cfg = cfg.replace(steps=args.steps)
    recipe = args.preset + (f" + `{json.dumps(changes)}`" if changes else "") + \
        (f" (--steps {args.steps}: smoke test)" if args.steps else "")
    classes = (f"-{args.classes}cls" if args.classes else "") + (f"-imb{args.imbalance:g}" if args.imbalance != 1 else "")
    out = Path(args.runs) / f"{args.dataset}{classes}-n{args.n}-eps{args.epsilon:g}-{args.preset}-s{args.seed}" \
        f"{'-' + str(abs(hash(json.dumps(changes, sort_keys=True))) % 10**6) if changes else ''}"
    wall = train_or_reuse(cfg, train, out, reuse=False)
    report = json.loads((out / "privacy.json").read_text())
    G, ckpt = load_generator(out)
    n_syn = min(60000, 10 * args.n)
    x, y = sample_synthetic(G, n_syn, list(ckpt["label_prior"]), torch.Generator().manual_seed(args.seed))
    result = evaluate_synthetic(x, y, train, test, num_classes=train.num_classes, seed=args.seed, metrics=("cnn",),
                                progress=True)
    write_json_atomic(out / "private" / "evaluation.json", result)
    stamp = f"| {machine()} | {code_commit} | {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC | `{command()}` |\n"
    # a non-private run (--set mode="off") has no epsilon and no sigma
    eps = "inf (not private)" if report["epsilon"] is None else \
        f"{report['epsilon']:.3f} ({report['headline_conversion']})"
    sigma = "-" if report["noise_multiplier"] is None else f"{report['noise_multiplier']:.4g}"
    rows = [f"| {name} | {args.n} | {eps} | {recipe} "
            f"| {args.seed} | {sigma} | {cfg.batch_size} | {report['d_steps']} "
            f"| **{100 * result['cnn']['accuracy']:.2f}** | {wall / 60:.1f} min " + stamp]
    if args.uniform_samples_too:   # the same G, its samples' labels uniform: what the label prior alone changes
        x, y = sample_synthetic(G, n_syn, [1.0 / train.num_classes] * train.num_classes,
                                torch.Generator().manual_seed(args.seed))
        uniform = evaluate_synthetic(x, y, train, test, num_classes=train.num_classes, seed=args.seed,
                                     metrics=("cnn",), progress=True)
        rows.append(f"| {name} | {args.n} | {eps} | {recipe}, the "
                    f"same run sampled with uniform labels | {args.seed} | {sigma} "
                    f"| {cfg.batch_size} | {report['d_steps']} | **{100 * uniform['cnn']['accuracy']:.2f}** "
                    f"| {wall / 60:.1f} min " + stamp)
    if not args.no_reference:
        # The same number of CNN updates as on the 10 n synthetic records: 4 epochs of those = 40 of the subset.
        epochs = round(CNNSettings().epochs * n_syn / args.n)
        real = evaluate_synthetic(train.x, train.y, train, test, num_classes=train.num_classes, seed=args.seed,
                                  metrics=("cnn",), progress=True,
                                  settings=EvalSettings(cnn=CNNSettings(epochs=epochs)))
        rows.append(f"| {name} | {args.n} | - (real subset) | - | {args.seed} | - | - | - "
                    f"| {100 * real['cnn']['accuracy']:.2f} | - " + stamp)
    append_rows(rows)
    print("".join(rows))


if __name__ == "__main__":
    main()
