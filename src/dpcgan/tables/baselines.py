"""A label-conditional independent-marginals DP baseline (for benchmarks/tabular.py).

Release, with one Gaussian mechanism, the class counts and, for every class and every feature column, the
histogram of the column within the class (categories plus 'missing'; numerics in equal-width bins on the public
bounds plus 'missing'). Adding or removing one row changes the class count and one bin of each of the J column
histograms of its class by 1: L2 sensitivity sqrt(J + 1). Integer noise N_Z(0, (s sqrt(J + 1))^2) per count (the
discrete Gaussian, privacy/discrete_gaussian.py, as for every count dpcgan releases) gives the RDP of a Gaussian
mechanism with noise multiplier s, recorded in the same ledger the DP-CGAN runs use (one event with
sample rate 1) and calibrated so that its epsilon is the target. Sampling (post-processing): a label from the
noisy class counts, then every column independently from its noisy histogram within that class (clamped at 0,
normalised), a numeric uniformly within its bin.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..privacy import accountant
from ..privacy.accountant import PrivacyLedger
from ..privacy.discrete_gaussian import add_discrete_gaussian, scale_at_least
from .encode import category_codes, integers_in_bins, numeric_values
from .schema import CATEGORICAL, TableSchema


def calibrate_gaussian(target_epsilon: float, delta: float, conversion: str = "opacus") -> float:
    """The smallest noise multiplier s (to 1e-4 relative) whose Gaussian mechanism costs <= target_epsilon."""
    def eps(s: float) -> float:
        return accountant.epsilon_from_rdp(accountant.gaussian_rdp(s), delta, conversion)[0]

    lo, hi = 0.0, 1.0
    while eps(hi) > target_epsilon:
        lo, hi = hi, hi * 2
    while hi - lo > 1e-4 * hi:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if eps(mid) <= target_epsilon else (mid, hi)
    return hi


class IndependentMarginals:
    def __init__(self, schema: TableSchema, *, epsilon: float, delta: float, bins: int = 20,
                 conversion: str = "opacus"):
        self.schema, self.epsilon_target, self.delta, self.bins, self.conversion = schema, epsilon, delta, bins, conversion
        self.ledger = PrivacyLedger()

    def _codes(self, df: pd.DataFrame) -> list[np.ndarray]:
        out = []
        for c in self.schema.features:
            if c.type == CATEGORICAL:
                out.append(category_codes(c, df[c.name], "table"))
            else:
                v, na = numeric_values(c, df[c.name], "table")
                b = np.clip(((v - c.min) / (c.max - c.min) * self.bins).astype(int), 0, self.bins - 1)
                out.append(np.where(na, self.bins, b))
        return out

    def _levels(self, c) -> int:
        # a 'missing' level only for nullable columns (a non-nullable column is never generated empty)
        return (len(c.categories) if c.type == CATEGORICAL else self.bins) + int(c.missing)

    def fit(self, df: pd.DataFrame, rng: np.random.Generator) -> "IndependentMarginals":
        k = len(self.schema.label_names)
        y = category_codes(self.schema.label_column, df[self.schema.label], "table")
        features = self.schema.features
        s = calibrate_gaussian(self.epsilon_target, self.delta, self.conversion)
        std = scale_at_least(s * math.sqrt(len(features) + 1))   # L2 sensitivity sqrt(J + 1)
        self.noise_multiplier = s
        self.ledger.record_step(sample_rate=1.0, noise_multiplier=s)
        self.epsilon = self.ledger.epsilon(self.delta, self.conversion)
        counts = add_discrete_gaussian(np.bincount(y, minlength=k), std, rng)
        self.label_p = _normalise(counts)
        self.hists = []
        for c, codes in zip(features, self._codes(df)):
            levels = self._levels(c)
            h = np.zeros((k, levels), dtype=np.int64)
            np.add.at(h, (y, codes), 1)
            self.hists.append(np.stack([_normalise(add_discrete_gaussian(h[j], std, rng)) for j in range(k)]))
        return self

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        k = len(self.schema.label_names)
        y = rng.choice(k, size=n, p=self.label_p)
        out = {self.schema.label: np.array(self.schema.label_names, dtype=object)[y]}
        for c, h in zip(self.schema.features, self.hists):
            codes = np.empty(n, dtype=int)
            for j in range(k):
                idx = np.flatnonzero(y == j)
                codes[idx] = rng.choice(h.shape[1], size=len(idx), p=h[j])
            if c.type == CATEGORICAL:
                out[c.name] = np.array(list(c.categories) + [None], dtype=object)[codes]
            else:
                na = codes == self.bins
                b, offset = np.minimum(codes, self.bins - 1), rng.random(n)
                v = c.min + (b + offset) / self.bins * (c.max - c.min)
                if c.integer:   # an integer that bins back to b (as the generators' decoder does)
                    v = integers_in_bins(c, b, offset, v, self.bins)
                    out[c.name] = pd.array(np.where(na, None, v.astype(np.int64)).tolist(), dtype="Int64")
                else:
                    out[c.name] = pd.array(np.where(na, np.nan, v), dtype="Float64")
        return pd.DataFrame({name: out[name] for name in self.schema.names})


def _normalise(counts: np.ndarray) -> np.ndarray:
    p = np.clip(counts, 0, None).astype(np.float64)
    return p / p.sum() if p.sum() > 0 else np.full(len(p), 1.0 / len(p))
