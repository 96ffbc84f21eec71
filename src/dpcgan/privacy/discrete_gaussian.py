"""The discrete Gaussian mechanism for every released *count* (Canonne, Kamath, Steinke 2020, "CKS").

N_Z(0, s^2) is the distribution on the integers with P[Z = k] proportional to exp(-k^2 / (2 s^2)). For counts that
move by an integer vector Delta between neighbouring datasets, counts + N_Z(0, s^2) per coordinate (independent)
satisfies (alpha, alpha ||Delta||_2^2 / (2 s^2))-RDP at every order alpha: CKS Proposition 5 for one coordinate,
and Renyi divergences of independent coordinates add. That is the continuous Gaussian's RDP, which the ledger
records for these releases (accountant.gaussian_rdp), so the accounting is unchanged; OpenDP reports the same
rho = ||Delta||^2 / (2 s^2) zero-concentrated DP for its measurement.

Why integers: a released count c + n with a continuous n is a float whose bits carry the noise's floating-point
structure (which noise values a sampler can produce at all), and ratios of such floats give the exact noisy counts
back; a neighbouring count can then be ruled out with certainty. c + Z with an integer Z drawn exactly has no such
structure: the released values are integers, and a prior made from them is a ratio of integers.

Samplers (both exact: integer and rational arithmetic only; no floating-point value touches the noise):
  * release mode: OpenDP's `make_gaussian` on integer vectors (its CKS sampler, fed by the OS's secure randomness);
  * experiment mode (a seeded run, not for release): CKS Algorithms 1-3 written below in Python integers and
    Fractions, driven by `random.Random` keyed from the run's seeded noise generator, so a seeded run is
    reproducible. tests/test_discrete_gaussian.py checks both against the exact pmf (chi-square).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import torch

# ---- the exact pmf (for tail bounds and tests) ----


def tail_probability(m: int, scale: float) -> float:
    """P[Z >= m] for Z ~ N_Z(0, scale^2), by summing the pmf in float64 (terms below 1e-300 are dropped; the
    result's relative error is ~1e-15, enough for a delta). tests check it against mpmath."""
    reach = int(math.ceil(40 * scale)) + 1               # exp(-800) ~ 1e-348: nothing beyond this matters
    k = np.arange(-reach, reach + 1, dtype=np.float64)
    weights = np.exp(-(k * k) / (2.0 * scale * scale))
    total = weights.sum()
    if m > reach:
        return 0.0
    if m < -reach:
        return 1.0
    return float(weights[m + reach:].sum() / total)


# ---- CKS's exact samplers, for seeded (experiment-mode) runs ----


def _bernoulli(p: Fraction, rng: random.Random) -> bool:
    return rng.randrange(p.denominator) < p.numerator


def _bernoulli_exp(gamma: Fraction, rng: random.Random) -> bool:
    """Bernoulli(exp(-gamma)) for a rational gamma >= 0, exactly (CKS Algorithm 1)."""
    while gamma > 1:  # exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma)))
        if not _bernoulli_exp(Fraction(1), rng):
            return False
        gamma -= 1
    k = 1
    while _bernoulli(gamma / k, rng):
        k += 1
    return k % 2 == 1


def _discrete_laplace(t: int, rng: random.Random) -> int:
    """P[Y = y] proportional to exp(-|y| / t), t a positive integer (CKS Algorithm 2 with s = 1)."""
    while True:
        u = rng.randrange(t)
        if not _bernoulli_exp(Fraction(u, t), rng):
            continue
        v = 0
        while _bernoulli_exp(Fraction(1), rng):
            v += 1
        y = u + t * v
        negative = rng.randrange(2) == 1
        if negative and y == 0:
            continue
        return -y if negative else y


def sample_exact(scale: float, count: int, rng: random.Random) -> list[int]:
    """`count` independent draws of N_Z(0, scale^2) (CKS Algorithm 3); scale is a float, i.e. an exact rational."""
    sigma2 = Fraction(scale) ** 2
    t = math.floor(scale) + 1
    out = []
    while len(out) < count:
        y = _discrete_laplace(t, rng)
        if _bernoulli_exp((abs(y) - sigma2 / t) ** 2 / (2 * sigma2), rng):
            out.append(y)
    return out


def _opendp_noisy(values: list[int], scale: float) -> list[int]:
    import opendp.prelude as dp  # imported here: only release-mode count releases need it

    dp.enable_features("contrib")  # OpenDP's switch for mechanisms not yet formally vetted by its own process
    measurement = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64"),
                                     scale=float(scale))
    return list(measurement(values))


def add_discrete_gaussian(counts, scale: float, noise) -> np.ndarray:
    """counts + N_Z(0, scale^2) on each entry, as int64. counts: integer values (any array-like); noise: the run's
    noise source: a SecureNoise (or None): OpenDP, secure; a SeededNoise, torch.Generator or numpy Generator: the
    exact sampler above keyed from that generator (reproducible, for seeded runs that are not for release)."""
    values = np.asarray(counts)
    if values.size and not np.array_equal(values, np.round(values)):
        raise ValueError("add_discrete_gaussian releases integer counts only")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"the discrete Gaussian's scale must be a positive finite number (got {scale})")
    flat = [int(v) for v in values.reshape(-1)]
    if noise is None or getattr(noise, "secure", False):
        noisy = _opendp_noisy(flat, scale)
    else:
        if isinstance(noise, np.random.Generator):   # a seeded benchmark's numpy stream
            key = int(noise.integers(0, 2**62))
        else:
            generator = noise if isinstance(noise, torch.Generator) else getattr(noise, "generator", None)
            device = generator.device if generator is not None else "cpu"
            key = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
        noisy = [v + z for v, z in zip(flat, sample_exact(scale, len(flat), random.Random(key)))]
    return np.asarray(noisy, dtype=np.int64).reshape(values.shape)


def scale_at_least(value: float) -> float:
    """The float just above `value` when `value` is the rounded product of a noise multiplier and a sensitivity:
    the noise used is then never below the one the ledger accounts for (rounding costs at most one ulp)."""
    return math.nextafter(value, math.inf)
