"""Epsilon after each prefix of D steps, recomputed from privacy.json's ledger (public: the ledger is)."""

from __future__ import annotations

import numpy as np

from ..privacy import accountant, pld
from ..privacy.accountant import PrivacyLedger
from ..privacy.events import SampledGaussianEvent


def d_steps(events: list[dict]) -> int:
    return sum(int(e["count"]) for e in events if e["sample_rate"] < 1.0)


def epsilon_after(events: list[dict], t: int, delta: float, conversion: str) -> float:
    """Epsilon of the events up to and including the t-th D step (a full-data release such as the DP label
    histogram, sample rate 1, counts from where it stands in the ledger)."""
    if conversion == "pld":
        ledger = PrivacyLedger.from_events(events)
        kept, remaining = [], t
        for e in ledger.events:
            if e.sample_rate < 1.0:
                take = min(e.count, remaining)
                remaining -= take
                e = SampledGaussianEvent(e.sample_rate, e.noise_multiplier, take)
            kept.append(e)
        return pld.events_epsilon(kept, delta)
    rdp = np.zeros(len(accountant.ORDERS))
    remaining = t
    for e in events:
        q, sigma, count = float(e["sample_rate"]), float(e["noise_multiplier"]), int(e["count"])
        if q >= 1.0:
            rdp = rdp + accountant.rdp_curve(q, sigma, count)
            continue
        if remaining == 0:
            break
        take = min(count, remaining)
        rdp = rdp + accountant.rdp_curve(q, sigma, 1) * take  # RDP composes linearly
        remaining -= take
    if not rdp.any():
        return 0.0
    return accountant.epsilon_from_rdp(rdp, delta, conversion)[0]


def epsilon_by_step(events: list[dict], delta: float, conversion: str, points: int = 50) -> tuple[list[int], list[float]]:
    """(D steps, epsilon) at about `points` evenly spaced steps from 0 to the last one (both ends included)."""
    total = d_steps(events)
    steps = sorted({int(round(s)) for s in np.linspace(0, total, max(2, points))})
    return steps, [epsilon_after(events, s, delta, conversion) for s in steps]
