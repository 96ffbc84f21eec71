"""dpcgan evaluate: utility and fidelity of a run's synthetic data against the real test split (offline)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="train-on-synthetic/test-on-real utility (LR, MLP, CNN) and FID-like score")
    p.add_argument("run", nargs="?", help="run directory (uses RUN/synthetic.npz, sampling 60,000 if absent)")
    p.add_argument("--synthetic", help="a synthetic .npz (x, y) to evaluate instead of a run's (tables: a CSV)")
    p.add_argument("--dataset", help="the real benchmark to test against (default: the run's)")
    p.add_argument("--test", metavar="FILE", help="real test records for a run on your own data (.npz, a directory "
                   "with x.npy/y.npy, or an image folder; a table run: a CSV with the schema's columns), with the "
                   "run's label set")
    p.add_argument("--train", metavar="FILE", help="real training records for the FID-like feature network and --real "
                   "(default: the run's own training data)")
    p.add_argument("--data-dir", help="where the dataset files are")
    p.add_argument("--metrics", default="paper,cnn,fid", help="comma-separated subset of paper,cnn,fid")
    p.add_argument("--real", action=argparse.BooleanOptionalAction, default=None,
                   help="add the reference row: the same models trained on the real training data (default: on with "
                        "--test, off for the benchmarks)")
    p.add_argument("-n", type=int, default=None, help="samples to draw when the run has no synthetic.npz "
                   "(default: min(60,000, 10 n), n the run's public training-set size)")
    p.add_argument("--baseline", choices=("marginals", "none"),  # tables/baseline_row.py BASELINES (no pandas here)
                   default="marginals",
                   help="a table run: also score the label-conditional independent-marginals DP baseline fitted on "
                        "the run's real training rows at the run's epsilon and delta, sampled to the same n "
                        "(default: marginals; none: no baseline row)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation models")
    p.add_argument("--out", help="evaluation.json path (default for a run: RUN/evaluation.json when its real train "
                   "and test data are both public benchmarks, else RUN/private/evaluation.json; with --synthetic: "
                   "beside the synthetic data)")


def run(args) -> int:
    from ..modality import for_run

    return for_run(args.run).evaluate(args)
