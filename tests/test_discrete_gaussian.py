"""Released counts use the discrete Gaussian (privacy review 2, item 1): every count a run or a schema draft
releases is an integer drawn exactly, so the released label prior is a ratio of integers and nothing of the
noise's floating-point structure can leak. The samplers are checked against the exact pmf (chi-square), OpenDP's
own privacy number against the accountant's, and the release path against the exact sampler's integrality."""

import math
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from dpcgan.privacy import accountant, discrete_gaussian
from dpcgan.privacy.discrete_gaussian import add_discrete_gaussian, sample_exact, tail_probability
from dpcgan.privacy.label_histogram import noisy_label_counts, noisy_label_prior
from dpcgan.privacy.noise import SecureNoise, SeededNoise


def exact_pmf(scale: float, reach: int) -> dict[int, float]:
    """P[Z = k] for |k| <= reach, normalised over a range wide enough that the rest is < 1e-40 (mpmath)."""
    mpmath.mp.dps = 40
    w = {k: mpmath.exp(-mpmath.mpf(k) ** 2 / (2 * mpmath.mpf(scale) ** 2)) for k in range(-int(30 * scale) - 5,
                                                                                          int(30 * scale) + 6)}
    total = mpmath.fsum(w.values())
    return {k: float(w[k] / total) for k in range(-reach, reach + 1)}


def chi_square_p(draws: np.ndarray, scale: float) -> float:
    """Chi-square goodness of fit of integer draws to N_Z(0, scale^2): bins k = -r..r plus the two merged tails."""
    pmf = exact_pmf(scale, int(10 * scale) + 10)
    reach = 0   # the widest central range whose every bin (and each merged tail) expects >= 20 draws
    while pmf[reach + 1] * len(draws) >= 20 and tail_probability(reach + 2, scale) * len(draws) >= 20:
        reach += 1
    probs = [1.0 - tail_probability(-reach, scale)] + [pmf[k] for k in range(-reach, reach + 1)] + \
        [tail_probability(reach + 1, scale)]
    observed = [np.sum(draws < -reach)] + [np.sum(draws == k) for k in range(-reach, reach + 1)] + \
        [np.sum(draws > reach)]
    expected = np.asarray(probs) / np.sum(probs) * len(draws)
    assert expected.min() > 5
    return float(chisquare(observed, expected).pvalue)


def test_tail_probability_matches_mpmath():
    for m, scale in [(0, 1.0), (3, 2.0), (-4, 2.5), (40, 15.1), (200, 20.0), (7, 0.6)]:
        mpmath.mp.dps = 50
        w = lambda k: mpmath.exp(-mpmath.mpf(k) ** 2 / (2 * mpmath.mpf(scale) ** 2))  # noqa: E731
        reach = int(60 * scale) + 10
        want = mpmath.fsum(w(k) for k in range(m, reach + 1)) / mpmath.fsum(w(k) for k in range(-reach, reach + 1))
        assert tail_probability(m, scale) == pytest.approx(float(want), rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("scale", [1.3, 3.7])
def test_the_exact_sampler_fits_the_pmf(scale):
    """CKS Algorithms 1-3 in integers and Fractions (the seeded path): 10^5 draws, chi-square against mpmath's pmf.
    (benchmarks/discrete_gaussian.py runs 10^6 draws of both samplers: results/discrete_gaussian.md.)"""
    draws = np.asarray(sample_exact(scale, 100_000, random.Random(12345)))
    assert draws.dtype.kind == "i"
    assert chi_square_p(draws, scale) > 1e-3
    assert draws.var() == pytest.approx(sum(k * k * p for k, p in exact_pmf(scale, int(30 * scale)).items()),
                                        rel=0.02)


def test_opendp_release_sampler_fits_the_pmf_and_reports_the_accountants_rho():
    """Release mode uses OpenDP's sampler: its draws fit the exact pmf, and its own privacy map for sensitivity 1
    gives zCDP rho = 1 / (2 s^2), i.e. RDP alpha * rho: what the ledger composes (accountant.gaussian_rdp)."""
    import opendp.prelude as dp

    scale = 2.6
    draws = add_discrete_gaussian(np.zeros(60_000, dtype=np.int64), scale, SecureNoise())
    assert draws.dtype == np.int64 and chi_square_p(draws, scale) > 1e-4
    dp.enable_features("contrib")
    m = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64"), scale=scale)
    rho = m.map(1)
    assert rho == pytest.approx(1 / (2 * scale**2), rel=1e-12)
    np.testing.assert_allclose(accountant.gaussian_rdp(scale), rho * np.asarray(accountant.ORDERS), rtol=1e-12)


def test_release_mode_goes_through_opendp_and_seeded_mode_is_reproducible(monkeypatch):
    seen = []
    real = discrete_gaussian._opendp_noisy
    monkeypatch.setattr(discrete_gaussian, "_opendp_noisy", lambda v, s: seen.append((list(v), s)) or real(v, s))
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    counts = noisy_label_counts(labels, 3, 5.0, SecureNoise())
    assert seen == [([50, 30, 20], 5.0)] and all(isinstance(c, int) for c in counts)
    a = noisy_label_counts(labels, 3, 5.0, SeededNoise(torch.Generator().manual_seed(7)))
    b = noisy_label_counts(labels, 3, 5.0, SeededNoise(torch.Generator().manual_seed(7)))
    assert a == b and len(seen) == 1   # the seeded path never calls OpenDP
    with pytest.raises(ValueError, match="integer"):
        add_discrete_gaussian(np.array([1.5]), 1.0, SecureNoise())


@pytest.mark.parametrize("source", ["seeded", "secure"])
def test_the_released_prior_is_a_ratio_of_small_integers(source):
    """The review's attack read the exact noisy counts off the float prior and then ruled out neighbouring counts
    from which float noise values are impossible. Now the prior is c_k / sum(c) for integer noisy counts c_k: with
    counts near (5, 7) and noise 1, p0 is exactly a fraction with a denominator below 60, for every draw."""
    labels = torch.tensor([0] * 5 + [1] * 7)
    for seed in range(40):
        noise = SeededNoise(torch.Generator().manual_seed(seed)) if source == "seeded" else SecureNoise()
        p0, p1 = noisy_label_prior(labels, 2, 1.0, noise)
        frac = Fraction(p0).limit_denominator(60)
        assert abs(float(frac) - p0) < 1e-15, (seed, p0)
        assert p0 + p1 == pytest.approx(1.0, abs=1e-15)
