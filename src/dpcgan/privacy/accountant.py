"""Privacy accounting: RDP of the Poisson-subsampled Gaussian mechanism, via Opacus' RDP accountant.

A D step is one event: PoissonSampled(q) of a Gaussian mechanism with noise multiplier sigma (sensitivity C,
noise std sigma*C). The ledger composes the events that actually ran; epsilon is computed from it, never from
the plan. Two RDP -> (epsilon, delta) conversions are reported:
  * "opacus":  Balle et al. 2020 (tighter), as Opacus' RDPAccountant.get_epsilon reports it;
  * "classic": epsilon = min_a RDP(a) + log(1/delta)/(a-1) (Mironov 2017), the one the DP-CGAN paper used.
Both are valid upper bounds; a run's budget is enforced under the conversion its config names (the headline).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis import rdp as opacus_rdp

from ..errors import PrivacyBudgetError
from . import pld
from .events import RELEASES, SampledGaussianEvent
from .search import largest_count, smallest_noise

# The paper's orders: {1.1, 1.2, ..., 10.9} and {12, ..., 63} (also Opacus' defaults).
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))
RDP_CONVERSIONS = ("opacus", "classic")
CONVERSIONS = RDP_CONVERSIONS + ("pld",)   # "pld": privacy loss distributions (pld.py), no RDP at all


def rdp_curve(sample_rate: float, noise_multiplier: float, steps: int) -> np.ndarray:
    """RDP at each order in ORDERS after `steps` compositions (Opacus' analysis of the sampled Gaussian)."""
    return np.asarray(opacus_rdp.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=steps,
                                             orders=list(ORDERS)), dtype=float)


def epsilon_from_rdp(rdp: np.ndarray, delta: float, conversion: str) -> tuple[float, float]:
    """(epsilon, best order) for the RDP curve `rdp` over ORDERS."""
    if conversion == "opacus":
        with warnings.catch_warnings():  # "optimal order is the largest alpha": still a valid bound
            warnings.simplefilter("ignore", UserWarning)
            eps, order = opacus_rdp.get_privacy_spent(orders=list(ORDERS), rdp=rdp, delta=delta)
        return float(eps), float(order)
    if conversion == "classic":
        orders = np.asarray(ORDERS)
        eps = rdp + math.log(1.0 / delta) / (orders - 1.0)
        i = int(np.nanargmin(eps))
        return float(eps[i]), float(orders[i])
    if conversion == "pld":
        raise ValueError("the pld conversion does not go through RDP: use the pld module (or PrivacyLedger.epsilon)")
    raise ValueError(f"unknown conversion {conversion!r}; choose one of {CONVERSIONS}")


def _no_rdp_if_none(base_rdp: np.ndarray | None) -> np.ndarray:
    return np.zeros(len(ORDERS)) if base_rdp is None else base_rdp


def gaussian_rdp(noise_multiplier: float) -> np.ndarray:
    """RDP of one (unsampled) Gaussian mechanism with L2 sensitivity 1 and noise std `noise_multiplier`:
    alpha / (2 sigma^2) at each order (e.g. a noisy label histogram, where one record moves one count by 1)."""
    return np.asarray(ORDERS, dtype=float) / (2.0 * noise_multiplier**2)


def epsilon(sample_rate: float, noise_multiplier: float, steps: int, delta: float, conversion: str = "opacus",
            base_rdp: np.ndarray | None = None) -> float:
    """Epsilon of `steps` sampled-Gaussian steps, composed with the RDP `base_rdp` of other releases (if any)."""
    base = _no_rdp_if_none(base_rdp)
    if steps == 0:
        return epsilon_from_rdp(base, delta, conversion)[0] if base.any() else 0.0
    return epsilon_from_rdp(base + rdp_curve(sample_rate, noise_multiplier, steps), delta, conversion)[0]


def max_steps(sample_rate: float, noise_multiplier: float, delta: float, target_epsilon: float,
              conversion: str, limit: int = 10**9, base_rdp: np.ndarray | None = None) -> int:
    """The largest T with epsilon(T) <= target: running T steps meets the budget, step T+1 would exceed it."""
    rdp1 = rdp_curve(sample_rate, noise_multiplier, 1)  # RDP composes linearly: T steps cost T * rdp1
    base = _no_rdp_if_none(base_rdp)
    return largest_count(lambda t: epsilon_from_rdp(base + rdp1 * t, delta, conversion)[0] <= target_epsilon, limit)


def calibrate_noise_multiplier(sample_rate: float, steps: int, delta: float, target_epsilon: float,
                               conversion: str, rel_tol: float = 1e-4, base_rdp: np.ndarray | None = None) -> float:
    """The smallest sigma (to rel_tol, rounded up) such that `steps` steps cost at most target_epsilon.

    Opacus' get_noise_multiplier does the same search for its own conversion only; this one serves both
    conversions and is tested against it.
    """
    if base_rdp is not None and epsilon_from_rdp(base_rdp, delta, conversion)[0] >= target_epsilon:
        raise PrivacyBudgetError(f"the other releases alone already spend epsilon >= {target_epsilon}")
    return smallest_noise(lambda s: epsilon(sample_rate, s, steps, delta, conversion, base_rdp) <= target_epsilon,
                          rel_tol, f"epsilon={target_epsilon} in {steps} steps")


class PrivacyLedger:
    """The D steps (and full-data releases) that ran, composed by Opacus' RDPAccountant. One `record_step` per noisy
    D step or release; the ledger also keeps which release each sample-rate-1 event was (for PLD accounting)."""

    def __init__(self) -> None:
        self.accountant = RDPAccountant()
        self._events: list[SampledGaussianEvent] = []
        self._running_rdp = np.zeros(len(ORDERS))  # kept in step with the accountant: cheap per-step checks
        self._step_rdp: dict[tuple[float, float], np.ndarray] = {}
        self._pld_caps: dict[tuple, int] = {}

    def _one_step_rdp(self, sample_rate: float, noise_multiplier: float) -> np.ndarray:
        key = (sample_rate, noise_multiplier)
        if key not in self._step_rdp:
            self._step_rdp[key] = rdp_curve(sample_rate, noise_multiplier, 1)
        return self._step_rdp[key]

    def record_step(self, *, sample_rate: float, noise_multiplier: float, release: str | None = None,
                    coordinates: int = 1) -> None:
        if release not in RELEASES or (release is not None and sample_rate != 1.0):
            raise ValueError(f"unknown release {release!r} (or not at sample rate 1)")
        self.accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
        self._running_rdp = self._running_rdp + self._one_step_rdp(sample_rate, noise_multiplier)
        last = self._events[-1] if self._events else None
        if last is not None and (last.sample_rate, last.noise_multiplier, last.release, last.coordinates) == \
                (sample_rate, noise_multiplier, release, coordinates):
            self._events[-1] = SampledGaussianEvent(sample_rate, noise_multiplier, last.count + 1, release, coordinates)
        else:
            self._events.append(SampledGaussianEvent(sample_rate, noise_multiplier, 1, release, coordinates))

    def epsilon_after_next_step(self, *, sample_rate: float, noise_multiplier: float, delta: float,
                                conversion: str) -> float:
        """What epsilon would be if one more step ran: the loop refuses a step that would cross the budget."""
        if conversion == "pld":
            return pld.events_epsilon(self.events + [SampledGaussianEvent(sample_rate, noise_multiplier, 1)], delta)
        rdp = self._running_rdp + self._one_step_rdp(sample_rate, noise_multiplier)
        return epsilon_from_rdp(rdp, delta, conversion)[0]

    def next_step_within(self, cap: float, *, sample_rate: float, noise_multiplier: float, delta: float,
                         conversion: str) -> bool:
        """Would one more D step (q, sigma) keep epsilon <= cap? Under pld the largest number of such steps is found
        once (for the ledger's other events) and the count compared with it: a PLD per step would cost ~0.1 s."""
        if conversion != "pld":
            return self.epsilon_after_next_step(sample_rate=sample_rate, noise_multiplier=noise_multiplier,
                                                delta=delta, conversion=conversion) <= cap
        d_events = [e for e in self.events if e.sample_rate < 1.0]
        if any((e.sample_rate, e.noise_multiplier) != (sample_rate, noise_multiplier) for e in d_events):
            return self.epsilon_after_next_step(sample_rate=sample_rate, noise_multiplier=noise_multiplier,
                                                delta=delta, conversion=conversion) <= cap
        others = tuple(e for e in self.events if e.sample_rate >= 1.0)
        key = (sample_rate, noise_multiplier, delta, cap, others)
        if key not in self._pld_caps:
            self._pld_caps[key] = pld.max_steps(sample_rate, noise_multiplier, delta, cap, others)
        return self.d_steps + 1 <= self._pld_caps[key]

    def running_epsilon(self, delta: float, conversion: str) -> float:
        """Epsilon from the running RDP sum (fast; `epsilon` recomputes it from the accountant's history)."""
        if conversion == "pld":
            return pld.events_epsilon(self.events, delta)
        return epsilon_from_rdp(self._running_rdp, delta, conversion)[0] if self.steps else 0.0

    @property
    def events(self) -> list[SampledGaussianEvent]:
        return list(self._events)

    @property
    def steps(self) -> int:
        """Mechanism invocations recorded: D steps, plus 1 for each full-data release (DP label histogram, DP
        warm start)."""
        return sum(e.count for e in self.events)

    @property
    def d_steps(self) -> int:
        """Subsampled steps only (a D step always has q < 1; a full-data release such as the histogram has q = 1)."""
        return sum(e.count for e in self.events if e.sample_rate < 1.0)

    def rdp(self) -> np.ndarray:
        curve = np.zeros(len(ORDERS))
        for e in self.events:
            curve = curve + rdp_curve(e.sample_rate, e.noise_multiplier, e.count)
        return curve

    def epsilon(self, delta: float, conversion: str = "opacus") -> float:
        if not self.events:
            return 0.0
        if conversion == "pld":   # each event with the mechanism that ran (pld.py)
            return pld.events_epsilon(self.events, delta)
        if conversion == "opacus":  # straight from Opacus' accountant object, as users of Opacus would get it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return float(self.accountant.get_epsilon(delta=delta, alphas=list(ORDERS)))
        return epsilon_from_rdp(self.rdp(), delta, conversion)[0]

    def to_dict(self) -> list[dict]:
        return [e.to_dict() for e in self.events]

    @classmethod
    def from_events(cls, events: list[dict]) -> "PrivacyLedger":
        """From to_dict()'s list (a checkpoint's or privacy.json's). Events written before releases were named have
        no `release`: they were continuous Gaussian releases, which is what None means."""
        ledger = cls()
        ledger._events = [SampledGaussianEvent(float(e["sample_rate"]), float(e["noise_multiplier"]), int(e["count"]),
                                               e.get("release"), int(e.get("coordinates", 1))) for e in events]
        ledger.accountant.history = [(e.noise_multiplier, e.sample_rate, e.count) for e in ledger._events]
        ledger._running_rdp = ledger.rdp()
        return ledger
