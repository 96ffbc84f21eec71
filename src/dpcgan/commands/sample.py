"""dpcgan sample: labeled synthetic data from a run's generator (post-processing: no extra privacy cost)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..sample import release_warning


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write synthetic.npz (x uint8, y int64) from a trained generator")
    p.add_argument("run", help="run directory (or a generator.pt)")
    p.add_argument("-n", type=int, default=60000, help="number of samples")
    p.add_argument("--label-prior", "--labels", dest="labels", default="trained",
                   help="label distribution of the samples: 'trained' (default, as DPCGAN.sample): the prior the run "
                   "trained with (uniform, a public file, or its DP label histogram, covered by the run's epsilon); "
                   "'uniform'; or a file of K class weights (public)")
    p.add_argument("--format", choices=("npz", "png", "csv"), default=None,
                   help="npz (images' default): one file (x uint8, y int64); png: an image folder, one subfolder per "
                   "class; csv (tables' default, and their only format: .csv, .csv.gz, .tsv or .parquet by --out)")
    p.add_argument("--out", help="output .npz, or folder for --format png (default RUN/synthetic.npz or RUN/synthetic/)"
                   "; a sidecar synthetic.json with the run's guarantee goes with it")
    p.add_argument("--seed", type=int, help="seed for the latents (sampling is post-processing)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (else it is refused)")


def run(args) -> int:
    from ..modality import for_run

    if (warning := release_warning(args.run)) is not None:
        print(f"warning: {warning}", file=sys.stderr)
    modality = for_run(args.run)
    out = modality.sample(args)
    print(f"wrote {out} ({args.n} {modality.unit}; {describe_prior(args.run, args.labels)})")
    return 0


def describe_prior(run: str, labels: str) -> str:
    """Which label distribution the samples follow, in words (issue 24 item 16)."""
    if labels == "uniform":
        return "labels drawn uniformly: a public prior"
    if labels != "trained":
        return f"labels drawn from the public weights in {labels}"
    try:
        trained = json.loads((Path(run) / "config.json").read_text())["config"].get("label_prior", "uniform")
    except (OSError, ValueError, KeyError, TypeError):
        return "labels drawn from the prior the run trained with"
    if trained == "dp-histogram":
        return "labels drawn from the run's DP label histogram (covered by its epsilon)"
    if trained == "warm-start-counts":
        return "labels drawn from the DP warm start's noisy class counts (covered by the run's epsilon)"
    if trained == "uniform":
        return ("labels drawn uniformly (the run's public prior; train with --label-prior dp-histogram to learn the "
                "class proportions)")
    return f"labels drawn from the run's public prior weights ({Path(trained).name})"
