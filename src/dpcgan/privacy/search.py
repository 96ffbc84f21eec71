"""The two searches every accountant answers planning questions with, whatever it computes epsilon with (RDP in
accountant.py, PLD in pld.py): the most steps within a budget, and the least noise within it."""

from __future__ import annotations

from typing import Callable

from ..errors import PrivacyBudgetError


def largest_count(fits: Callable[[int], bool], limit: int) -> int:
    """The largest T <= limit with fits(T) (fits is monotone: true up to some T, false after), 0 if not fits(1)."""
    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi < limit and fits(hi):
        lo, hi = hi, hi * 2
    if hi >= limit and fits(limit):
        return limit
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def smallest_noise(fits: Callable[[float], bool], rel_tol: float, what: str) -> float:
    """The smallest sigma (to rel_tol, rounded up) with fits(sigma) (monotone: false below some sigma, true above).
    `what` completes the error when no sigma up to 1e6 fits."""
    lo, hi = 0.0, 1.0
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi > 1e6:
            raise PrivacyBudgetError(f"no noise multiplier reaches {what}")
    while hi - lo > rel_tol * hi:
        mid = (lo + hi) / 2
        if mid > 0 and fits(mid):
            hi = mid
        else:
            lo = mid
    return hi
