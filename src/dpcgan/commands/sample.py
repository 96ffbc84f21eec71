"""dpcgan sample: labeled synthetic data from a run's generator (post-processing: no extra privacy cost)."""

from __future__ import annotations

import sys

from ..sample import release_warning, write_synthetic


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write synthetic.npz (x uint8, y int64) from a trained generator")
    p.add_argument("run", help="run directory (or a generator.pt)")
    p.add_argument("-n", type=int, default=60000, help="number of samples")
    p.add_argument("--labels", default="uniform", help="'uniform', a file of K class weights (public), or 'trained': the prior the run "
                   "trained with (e.g. its DP label histogram, covered by the run's epsilon)")
    p.add_argument("--out", help="output .npz (default RUN/synthetic.npz)")
    p.add_argument("--seed", type=int, help="seed for the latents (sampling is post-processing)")


def run(args) -> int:
    if (warning := release_warning(args.run)) is not None:
        print(f"warning: {warning}", file=sys.stderr)
    out = write_synthetic(args.run, args.n, args.labels, args.out, args.seed)
    print(f"wrote {out} ({args.n} samples)")
    return 0
