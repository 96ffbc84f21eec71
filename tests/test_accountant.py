"""Epsilon against independent truth: closed forms, a direct binomial-sum RDP, Google's dp-accounting, and the
published DP-CGAN value."""

import math

import numpy as np
import pytest
from scipy.special import comb, logsumexp

from dpcgan.privacy import accountant
from dpcgan.privacy.accountant import ORDERS, PrivacyLedger


def direct_rdp_integer_order(q, sigma, alpha):
    """RDP of the Poisson-subsampled Gaussian at integer alpha (Mironov, Talwar, Zhang 2019, Sec. 3.3):
    log( sum_k C(alpha,k) (1-q)^(alpha-k) q^k exp((k^2-k)/(2 sigma^2)) ) / (alpha-1)."""
    k = np.arange(alpha + 1)
    terms = np.log(comb(alpha, k)) + (alpha - k) * np.log1p(-q) + k * np.log(q) + (k * k - k) / (2 * sigma**2)
    return logsumexp(terms) / (alpha - 1)


def test_orders_are_the_papers():
    assert ORDERS[0] == pytest.approx(1.1) and ORDERS[98] == pytest.approx(10.9)
    assert ORDERS[99:] == tuple(range(12, 64)) and len(ORDERS) == 99 + 52


@pytest.mark.parametrize("q,sigma", [(0.01, 1.12), (0.05, 0.8), (0.2, 2.0)])
def test_rdp_matches_direct_binomial_sum_at_integer_orders(q, sigma):
    curve = accountant.rdp_curve(q, sigma, steps=7)
    for i, a in enumerate(ORDERS):
        if float(a).is_integer():
            assert curve[i] == pytest.approx(7 * direct_rdp_integer_order(q, sigma, int(a)), rel=1e-9)


def test_full_batch_gaussian_closed_form():
    # q = 1: the plain Gaussian mechanism, RDP(alpha) = alpha / (2 sigma^2) per step.
    curve = accountant.rdp_curve(1.0, 1.5, steps=3)
    np.testing.assert_allclose(curve, 3 * np.asarray(ORDERS) / (2 * 1.5**2), rtol=1e-12)


def test_published_dpcgan_value():
    # Method note §3: q = 0.01, sigma = 1.12, 22,978 steps, delta = 1e-5 -> classic 9.60, Opacus' conversion 8.79.
    assert accountant.epsilon(0.01, 1.12, 22978, 1e-5, "classic") == pytest.approx(9.60, abs=0.005)
    assert accountant.epsilon(0.01, 1.12, 22978, 1e-5, "opacus") == pytest.approx(8.79, abs=0.005)


def test_classic_conversion_by_hand():
    rdp = accountant.rdp_curve(0.01, 1.12, 1000)
    by_hand = min(r + math.log(1e5) / (a - 1) for r, a in zip(rdp, ORDERS))
    assert accountant.epsilon(0.01, 1.12, 1000, 1e-5, "classic") == pytest.approx(by_hand, rel=1e-12)


def exact_rdp_by_quadrature(q, sigma, alpha):
    """RDP of one Poisson-subsampled Gaussian step at any order alpha, by high-precision numerical integration
    of E_{N(0,s^2)}[((1-q) + q exp((2z-1)/(2 s^2)))^alpha] (Mironov, Talwar, Zhang 2019, Sec. 3.3)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    f = lambda z: mp.exp(-z * z / (2 * sigma**2)) / mp.sqrt(2 * mp.pi * sigma**2) * (
        (1 - q) + q * mp.exp((2 * z - 1) / (2 * sigma**2))) ** alpha
    return float(mp.log(mp.quad(f, [-mp.inf, -5, 0, 0.5, 1, 5, mp.inf])) / (alpha - 1))


@pytest.mark.parametrize("alpha", [1.1, 1.6, 3.7, 5.1, 10.9])
def test_fractional_orders_match_exact_quadrature(alpha):
    i = ORDERS.index(alpha)
    assert accountant.rdp_curve(0.01, 1.12, 1)[i] == pytest.approx(exact_rdp_by_quadrature(0.01, 1.12, alpha), rel=1e-6)


@pytest.mark.parametrize("q,sigma,steps,delta", [(0.01, 1.12, 22977, 1e-5), (0.004, 2.0, 5000, 1e-6), (0.1, 0.9, 300, 1e-5)])
def test_agrees_with_google_dp_accounting(q, sigma, steps, delta):
    """Google's dp-accounting, an independent implementation: identical RDP at integer orders; at fractional
    orders it returns an upper bound (up to 5% above the exact value at order 1.1, see the quadrature test), so
    its epsilon may only be slightly larger. Its PLD accountant is tighter than any RDP bound."""
    pytest.importorskip("dp_accounting")
    from dp_accounting import dp_event
    from dp_accounting.pld import pld_privacy_accountant
    from dp_accounting.rdp import rdp_privacy_accountant

    event = dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    rdp_acc = rdp_privacy_accountant.RdpAccountant(list(ORDERS))
    rdp_acc.compose(event)
    ours, theirs = accountant.rdp_curve(q, sigma, steps), np.asarray(rdp_acc._rdp)
    integer = np.array([float(a).is_integer() for a in ORDERS])
    np.testing.assert_allclose(ours[integer], theirs[integer], rtol=1e-6)
    assert (ours[~integer] <= theirs[~integer] * (1 + 1e-9)).all()
    # Same conversion (Canonne-Kamath-Steinke 2020 / Balle et al. 2020) on the same integer orders: same epsilon.
    from opacus.accountants.analysis import rdp as opacus_rdp

    int_orders = [a for a in ORDERS if float(a).is_integer()]
    int_acc = rdp_privacy_accountant.RdpAccountant(int_orders)
    int_acc.compose(event)
    ours_int = opacus_rdp.get_privacy_spent(orders=int_orders, rdp=ours[integer], delta=delta)[0]
    assert ours_int == pytest.approx(int_acc.get_epsilon(delta), abs=1e-6)
    eps = accountant.epsilon(q, sigma, steps, delta, "opacus")
    assert eps <= rdp_acc.get_epsilon(delta) + 1e-9
    pld = pld_privacy_accountant.PLDAccountant()
    pld.compose(event)
    assert pld.get_epsilon(delta) <= eps + 1e-6


def test_max_steps_is_the_last_step_within_budget():
    for conv in accountant.RDP_CONVERSIONS:
        t = accountant.max_steps(0.01, 1.12, 1e-5, 9.6, conv)
        assert accountant.epsilon(0.01, 1.12, t, 1e-5, conv) <= 9.6 < accountant.epsilon(0.01, 1.12, t + 1, 1e-5, conv)
    assert accountant.max_steps(0.01, 1.12, 1e-5, 9.6, "classic") == 22977  # 22,978 costs 9.6002 > 9.6


def test_calibration_agrees_with_opacus():
    from opacus.accountants.utils import get_noise_multiplier

    ours = accountant.calibrate_noise_multiplier(0.01, 5000, 1e-5, 2.0, "opacus", rel_tol=1e-5)
    theirs = get_noise_multiplier(target_epsilon=2.0, target_delta=1e-5, sample_rate=0.01, steps=5000,
                                  epsilon_tolerance=1e-5, alphas=list(ORDERS))
    assert ours == pytest.approx(theirs, rel=1e-3)
    assert accountant.epsilon(0.01, ours, 5000, 1e-5, "opacus") <= 2.0
    assert accountant.epsilon(0.01, ours * 0.99, 5000, 1e-5, "opacus") > 2.0


def test_ledger_composes_what_ran():
    ledger = PrivacyLedger()
    for _ in range(100):
        ledger.record_step(sample_rate=0.01, noise_multiplier=1.12)
    for _ in range(50):
        ledger.record_step(sample_rate=0.02, noise_multiplier=2.0)
    assert ledger.steps == 150 and len(ledger.events) == 2
    expected = accountant.rdp_curve(0.01, 1.12, 100) + accountant.rdp_curve(0.02, 2.0, 50)
    np.testing.assert_allclose(ledger.rdp(), expected, rtol=1e-12)
    for conv in accountant.CONVERSIONS:  # running sum == recomputation from the accountant's history
        assert ledger.running_epsilon(1e-5, conv) == pytest.approx(ledger.epsilon(1e-5, conv), rel=1e-9)
    again = PrivacyLedger.from_events(ledger.to_dict())
    assert again.epsilon(1e-5, "classic") == pytest.approx(ledger.epsilon(1e-5, "classic"), rel=1e-12)
    nxt = ledger.epsilon_after_next_step(sample_rate=0.02, noise_multiplier=2.0, delta=1e-5, conversion="classic")
    ledger.record_step(sample_rate=0.02, noise_multiplier=2.0)
    assert nxt == pytest.approx(ledger.epsilon(1e-5, "classic"), rel=1e-12)


def test_report_pld_epsilon_recomputes_with_dp_accounting():
    from dp_accounting import dp_event
    from dp_accounting.pld import pld_privacy_accountant

    from dpcgan.privacy.report import pld_epsilon

    ledger = PrivacyLedger()
    for _ in range(500):
        ledger.record_step(sample_rate=0.01, noise_multiplier=1.12)
    ours = pld_epsilon(ledger, 1e-5)
    acc = pld_privacy_accountant.PLDAccountant()  # default (finer) discretisation
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(0.01, dp_event.GaussianDpEvent(1.12)), 500))
    fine = acc.get_epsilon(1e-5)
    assert fine <= ours <= fine * 1.01  # coarser discretisation is pessimistic, never optimistic
    assert ours <= ledger.epsilon(1e-5, "opacus")
