"""Privacy loss distribution (PLD) accounting of a ledger, with each event's exact mechanism (Google dp-accounting).

The RDP accountant (accountant.py) treats every event as a Gaussian mechanism with noise multiplier s, a valid
bound for all of them. PLD accounting is tight, so it must see what really ran:
  D step                 Poisson-subsampled Gaussian, noise multiplier sigma (dp-accounting's PLDAccountant event)
  label-histogram        discrete Gaussian N_Z(0, s^2), one count moves by 1
  warm-start             Gaussian with std s sqrt(2) (sums, L2 sensitivity 1) composed with the discrete Gaussian
                         N_Z(0, 2 s^2) (counts, one moves by 1)
  warm-start-embedding   Gaussian with std s (per-class sums of random Fourier features, each of norm 1)
  schema-draft           J discrete Gaussians N_Z(0, J s^2), each count moving by 1
  marginals              the same structure: J count tables, one count of each moving by 1 (tables/marginal_fit.py)
  marginal-selection     a Gaussian with std s: P scores with noise std s sqrt(P), L2 sensitivity at most sqrt(P)
  release None           a Gaussian with std s (the continuous releases of runs made before counts were integers)
The discrete Gaussian's PLD differs from the continuous one at the same s, sometimes above it (epsilon 0.16011 vs
0.16004 at s = 20, 6.956 vs 6.652 at s = 0.7, delta 1e-5), so treating it as continuous could understate epsilon.
"""

from __future__ import annotations

import math

from ..errors import PrivacyBudgetError
from .events import SampledGaussianEvent
from .search import largest_count, smallest_noise

VALUE_DISCRETIZATION = 1e-3   # dp-accounting's grid of privacy-loss values (pessimistic rounding: an upper bound)


def event_pld(e: SampledGaussianEvent, discretization: float = VALUE_DISCRETIZATION):
    from dp_accounting.pld import privacy_loss_distribution as pld

    def gaussian(std: float, q: float = 1.0):
        return pld.from_gaussian_mechanism(std, sampling_prob=q, value_discretization_interval=discretization)

    def discrete(std: float):
        return pld.from_discrete_gaussian_mechanism(std, value_discretization_interval=discretization)

    s = e.noise_multiplier
    if e.sample_rate < 1.0:
        one = gaussian(s, e.sample_rate)
    elif e.release == "label-histogram":
        one = discrete(s)
    elif e.release == "warm-start":
        one = gaussian(s * math.sqrt(2.0)).compose(discrete(s * math.sqrt(2.0)))
    elif e.release in ("schema-draft", "marginals"):
        one = discrete(s * math.sqrt(e.coordinates)).self_compose(e.coordinates)
    else:
        one = gaussian(s)
    return one.self_compose(e.count) if e.count > 1 else one


def events_epsilon(events, delta: float, discretization: float = VALUE_DISCRETIZATION) -> float:
    """Epsilon at `delta` of the events (SampledGaussianEvent) composed, under PLD accounting (0 for none)."""
    total = None
    for e in events:
        if e.count == 0:
            continue
        one = event_pld(e, discretization)
        total = one if total is None else total.compose(one)
    return 0.0 if total is None else float(total.get_epsilon_for_delta(delta))


def ledger_epsilon(ledger, delta: float, discretization: float = VALUE_DISCRETIZATION) -> float:
    """Epsilon of all of a PrivacyLedger's events (privacy.json's `epsilon_pld`, and the headline of a pld run)."""
    return events_epsilon(ledger.events, delta, discretization)


# ---- planning: the same questions the RDP accountant answers, under PLD ----


def plan_epsilon(sample_rate: float, noise_multiplier: float, steps: int, delta: float, releases=()) -> float:
    """Epsilon of `steps` D steps (q, sigma) composed with the full-data release events `releases`."""
    return events_epsilon(list(releases) + [SampledGaussianEvent(sample_rate, noise_multiplier, steps)], delta)


def max_steps(sample_rate: float, noise_multiplier: float, delta: float, target_epsilon: float, releases=(),
              limit: int = 10**7) -> int:
    """The largest T with plan_epsilon(T) <= target (0 if not even one step fits)."""
    return largest_count(lambda t: plan_epsilon(sample_rate, noise_multiplier, t, delta, releases) <= target_epsilon,
                         limit)


def calibrate_noise_multiplier(sample_rate: float, steps: int, delta: float, target_epsilon: float, releases=(),
                               rel_tol: float = 1e-4) -> float:
    """The smallest sigma (to rel_tol, rounded up) such that `steps` D steps and the releases cost <= target."""
    if events_epsilon(list(releases), delta) >= target_epsilon:
        raise PrivacyBudgetError(f"the other releases alone already spend epsilon >= {target_epsilon}")
    return smallest_noise(lambda s: plan_epsilon(sample_rate, s, steps, delta, releases) <= target_epsilon, rel_tol,
                          f"epsilon={target_epsilon} in {steps} steps")
