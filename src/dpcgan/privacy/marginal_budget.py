"""The releases of a marginal-fitted table run (tables/marginal_fit.py), fixed before any row is read.

From public facts only (the number of feature columns J, the recipe's rounds and tables per round) and one overall
noise scale s: release i gets noise multiplier s / sqrt(share_i), the shares summing to 1, so the releases together
have the RDP of one Gaussian mechanism with noise multiplier s (sum of alpha / (2 s_i^2) = alpha / (2 s^2)); PLD
accounting composes each with its own mechanism (privacy/pld.py). s is calibrated to the epsilon cap."""

from __future__ import annotations

import math
from dataclasses import dataclass

ROUND0_SHARE = 0.3      # the (label, column) count tables of every feature column, in one release
SELECTION_SHARE = 0.1   # the noisy scores of all selection rounds together


@dataclass(frozen=True)
class MarginalRelease:
    """One ledger event at sample rate 1: `release` is "marginals" (`coordinates` count tables at once) or
    "marginal-selection" (`coordinates` scores)."""

    release: str
    noise_multiplier: float
    coordinates: int


def candidate_pairs(num_features: int) -> int:
    return num_features * (num_features - 1) // 2


def plan_marginal_releases(num_features: int, rounds: int, tables_per_round: int,
                           scale: float) -> list[MarginalRelease]:
    """Round 0 (the J (label, column) tables), then per selection round: the scores of every pair of columns, and
    the chosen pairs' (label, a, b) tables; as many rounds as asked, but no more than measure every pair. No pairs
    (J = 1): round 0 alone, with the whole budget."""
    pairs = candidate_pairs(num_features)
    rounds = min(rounds, math.ceil(pairs / tables_per_round))   # no round once every pair is measured
    out = [MarginalRelease("marginals", scale / math.sqrt(ROUND0_SHARE if rounds else 1.0), num_features)]
    for _ in range(rounds):
        out.append(MarginalRelease("marginal-selection", scale / math.sqrt(SELECTION_SHARE / rounds), pairs))
        out.append(MarginalRelease("marginals", scale / math.sqrt((1 - ROUND0_SHARE - SELECTION_SHARE) / rounds),
                                   min(tables_per_round, pairs)))
    return out
