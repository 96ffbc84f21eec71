"""Chi-square goodness of fit of both discrete Gaussian samplers to the exact pmf, 10^6 draws each.

  python benchmarks/discrete_gaussian.py [--draws 1000000] [--scales 1.3,3.7,20.5]

Release mode draws with OpenDP's sampler (secure randomness), seeded runs with dpcgan's exact integer/rational
sampler (privacy/discrete_gaussian.py). Writes results/discrete_gaussian.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import chisquare

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import command, commit, machine, write_result  # noqa: E402
from test_discrete_gaussian import exact_pmf  # noqa: E402  (mpmath reference)

from dpcgan.privacy.discrete_gaussian import _opendp_noisy, sample_exact, tail_probability  # noqa: E402


def fit(draws: np.ndarray, scale: float) -> tuple[float, float, int]:
    pmf = exact_pmf(scale, int(10 * scale) + 10)
    reach = 0
    while pmf[reach + 1] * len(draws) >= 20 and tail_probability(reach + 2, scale) * len(draws) >= 20:
        reach += 1
    probs = [1.0 - tail_probability(-reach, scale)] + [pmf[k] for k in range(-reach, reach + 1)] + \
        [tail_probability(reach + 1, scale)]
    values, counts = np.unique(draws, return_counts=True)
    table = dict(zip(values.tolist(), counts.tolist()))
    observed = [int(np.sum(draws < -reach))] + [table.get(k, 0) for k in range(-reach, reach + 1)] + \
        [int(np.sum(draws > reach))]
    expected = np.asarray(probs) / np.sum(probs) * len(draws)
    result = chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue), len(observed) - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1_000_000)
    ap.add_argument("--scales", default="1.3,3.7,20.5")
    args = ap.parse_args()
    code_commit = commit()   # read now: HEAD may move while it runs
    rows = []
    for scale in [float(s) for s in args.scales.split(",")]:
        for name, draw in (("OpenDP (release mode)", lambda s, n: np.asarray(_opendp_noisy([0] * n, s))),
                           ("exact Python sampler (seeded runs)",
                            lambda s, n: np.asarray(sample_exact(s, n, random.Random(2026))))):
            start = time.perf_counter()
            draws = draw(scale, args.draws)
            wall = time.perf_counter() - start
            stat, p, dof = fit(draws, scale)
            rows.append(f"| {name} | {scale:g} | {args.draws:,} | {draws.var():.4f} | {stat:.1f} | {dof} | {p:.3f} | "
                        f"{wall:.1f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Discrete Gaussian samplers against the exact pmf",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}  ",
        f"Commit: {code_commit}",
        "",
        "Chi-square goodness of fit of the draws to N_Z(0, s^2) (pmf from mpmath at 40 digits; every bin expects >= 20 "
        "draws, tails merged). A p-value is uniform on [0, 1] when the sampler is right; the variance of N_Z(0, s^2) "
        "is just below s^2 for s >= 1.",
        "",
        "| sampler | s | draws | sample variance | chi-square | dof | p-value | wall s |",
        "|---|---|---|---|---|---|---|---|",
        *rows, ""])
    print(write_result("discrete_gaussian.md", text))


if __name__ == "__main__":
    main()
