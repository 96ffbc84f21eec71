"""--conversion pld: sigma calibrated, steps planned and the budget enforced with privacy loss distributions
(issue: tighter accounting). Checked against dp-accounting's PLD accountant and against numerical integration of
the hockey-stick divergence; the RDP conversions stay as cross-checks in privacy.json."""

import json
import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from dpcgan.config import preset, resolve_plan
from dpcgan.privacy import accountant, pld
from dpcgan.privacy.accountant import PrivacyLedger
from dpcgan.privacy.events import SampledGaussianEvent
from dpcgan.train import train

from test_levers import tiny

dp_event = pytest.importorskip("dp_accounting.dp_event")
pld_accountant = pytest.importorskip("dp_accounting.pld.pld_privacy_accountant")


def hockey_stick_epsilon(q: float, sigma: float, delta: float) -> float:
    """Epsilon at delta of ONE Poisson-subsampled Gaussian step, by numerical integration: the larger of
    sup_eps {E_Q[(P/Q - e^eps)+]} in both directions, P = (1-q) N(0, s^2) + q N(1, s^2), Q = N(0, s^2)."""
    p = lambda x: (1 - q) * stats.norm.pdf(x, 0, sigma) + q * stats.norm.pdf(x, 1, sigma)  # noqa: E731
    r = lambda x: stats.norm.pdf(x, 0, sigma)  # noqa: E731

    def hockey(a, b, eps):
        f = lambda x: max(a(x) - math.exp(eps) * b(x), 0.0)  # noqa: E731
        return integrate.quad(f, -30 * sigma, 30 * sigma + 1, limit=400, points=[0.0, 1.0])[0]

    def gap(eps):
        return max(hockey(p, r, eps), hockey(r, p, eps)) - delta

    return optimize.brentq(gap, 1e-6, 20.0, xtol=1e-10)


def test_one_step_pld_epsilon_matches_numerical_integration():
    for q, sigma in [(0.1, 1.0), (0.05, 0.8)]:
        got = pld.plan_epsilon(q, sigma, 1, 1e-5)
        want = hockey_stick_epsilon(q, sigma, 1e-5)
        # dp-accounting discretises the privacy loss pessimistically (interval 1e-3): slightly above, never below
        assert want * (1 - 1e-5) <= got <= want + 5e-3, (q, sigma, got, want)   # (quadrature to ~1e-6)


def test_calibrated_sigma_spends_the_cap_under_pld_and_is_smaller_than_rdps():
    cfg = preset("mnist-eps1")
    rdp_plan = resolve_plan(cfg, 60000, 10)
    pld_plan = resolve_plan(cfg.replace(conversion="pld"), 60000, 10)
    assert pld_plan.noise_multiplier < 0.95 * rdp_plan.noise_multiplier
    assert pld_plan.planned_epsilon <= 1.0
    acc = pld_accountant.PLDAccountant(value_discretization_interval=1e-3)
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(
        pld_plan.sample_rate, dp_event.GaussianDpEvent(pld_plan.noise_multiplier)), pld_plan.steps))
    assert acc.get_epsilon(cfg.delta) == pytest.approx(pld_plan.planned_epsilon, rel=1e-9)
    # the smallest such sigma: 1e-3 less noise would cross the cap
    assert pld.plan_epsilon(pld_plan.sample_rate, pld_plan.noise_multiplier * 0.999, pld_plan.steps, cfg.delta) > 1.0
    # with the warm start's release composed in, sigma is calibrated around it
    warm = resolve_plan(cfg.replace(conversion="pld", warm_start_noise=20.0), 60000, 10)
    assert warm.noise_multiplier > pld_plan.noise_multiplier and warm.planned_epsilon <= 1.0


def test_the_budget_guard_stops_at_the_pld_cap():
    q, sigma, cap = 0.02, 1.0, 2.0
    releases = (SampledGaussianEvent(1.0, 30.0, 1, "label-histogram"),)
    t_max = pld.max_steps(q, sigma, 1e-5, cap, releases)
    assert pld.plan_epsilon(q, sigma, t_max, 1e-5, releases) <= cap < pld.plan_epsilon(q, sigma, t_max + 1, 1e-5,
                                                                                         releases)
    ledger = PrivacyLedger.from_events([{"sample_rate": 1.0, "noise_multiplier": 30.0, "count": 1,
                                         "release": "label-histogram"},
                                        {"sample_rate": q, "noise_multiplier": sigma, "count": t_max - 1}])
    kw = dict(sample_rate=q, noise_multiplier=sigma, delta=1e-5, conversion="pld")
    assert ledger.next_step_within(cap, **kw)
    ledger.record_step(sample_rate=q, noise_multiplier=sigma)
    assert not ledger.next_step_within(cap, **kw)
    assert ledger.epsilon(1e-5, "pld") <= cap < ledger.epsilon_after_next_step(**kw)


def test_a_pld_run_reports_the_pld_headline_with_rdp_cross_checks(mnist_small, tmp_path):
    cfg = tiny(conversion="pld", noise_multiplier=None, target_epsilon=3.0, steps=6, label_prior="dp-histogram",
               label_histogram_noise=50.0)
    train(cfg, mnist_small, tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "privacy.json").read_text())
    assert report["headline_conversion"] == "pld" and report["report_this"]["conversion"] == "pld"
    assert report["epsilon"] == report["epsilon_by_conversion"]["pld"] == pytest.approx(report["epsilon_pld"])
    assert report["epsilon"] <= 3.0 and report["epsilon"] == pytest.approx(3.0, abs=0.01)   # calibrated to the cap
    assert report["epsilon_by_conversion"]["opacus"] > report["epsilon"]    # RDP: a looser cross-check
    assert "PLD accounting" in report["report_this"]["how_to_quote"]
    np.testing.assert_allclose(report["noise_multiplier"], resolve_plan(cfg, len(mnist_small), 10).noise_multiplier)
