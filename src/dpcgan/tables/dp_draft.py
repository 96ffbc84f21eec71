"""`dpcgan schema draft TABLE --label-column C --epsilon E`: a differentially private schema draft.

One Gaussian release, then post-processing; each step is one function:
  count_table         reads the private rows (the only function that does): for each of the J columns, the count of
                      each observed category (categorical) or of each bin of a fixed public grid (numeric), plus a
                      public 'missing' key. Every record adds exactly one count per column: L2 sensitivity sqrt(J)
                      under add/remove-one.
  add_noise           counts + N_Z(0, (s sqrt(J))^2) each, the discrete Gaussian (integer noise drawn exactly,
                      privacy/discrete_gaussian.py): the Gaussian mechanism's RDP with noise multiplier s, s calibrated
                      so that this release alone is (E, delta)-DP under the project's RDP accounting (sample rate 1,
                      one step: the ledger event a training run composes, privacy/schema_release.py).
  schema_from_counts  categories whose noisy count passes the threshold tau (a category held only by the differing
                      record passes it with probability <= delta_threshold, chosen as delta / 10), numeric bounds
                      from the noisy CDF over the public grid, missing flags from the public 'missing' keys.

Public (not protected): the header (column names), n, which columns are numeric (--numeric, the user's knowledge).
`integer` is never read from the data (a data-dependent bit): the draft writes integer = false, to set by hand.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..privacy import accountant
from ..privacy.discrete_gaussian import add_discrete_gaussian, scale_at_least, tail_probability
from ..privacy.schema_release import DP_DRAFT
from .csvio import iter_frames
from .draft import MAX_CATEGORIES
from .encode import cell_text
from .schema import CATEGORICAL, NUMERIC, Column, TableSchema

DELTA_THRESHOLD_FRACTION = 0.1   # delta_threshold = this x delta: the threshold's extra delta stays small
DEFAULT_QUANTILES = (0.01, 0.99)  # numeric bounds: these quantiles of the noisy CDF (outside values are clipped)
DEFAULT_CONVERSION = "opacus"    # as the table presets: Balle et al. 2020 RDP -> (eps, delta)
OTHER = "other"                  # categorical features: values below the threshold map here at training time


def catch_all_name(kept) -> str:
    """The catch-all category's name: 'other', unless a real category kept by the draft is called that (then
    'other (rare)', 'other (rare 2)', ...): rare values must not merge silently into a real 'other'."""
    name, k = OTHER, 1
    while name in kept:
        name = f"{OTHER} (rare)" if k == 1 else f"{OTHER} (rare {k})"
        k += 1
    return name
# The public grid of numeric bin edges: 0 and +-10^(k/8) for 10^-6 .. 10^12 (3 significant digits, 33% apart).
GRID_EXPONENTS = range(-48, 97)
GRID_NOTE = "bin edges 0 and +-10^(k/8), k = -48..96 (1e-6 .. 1e12, 3 significant digits), fixed in advance"


def public_grid() -> np.ndarray:
    """(m,) increasing edges; bin 0 is (-inf, e0), bin i is [e_{i-1}, e_i), bin m is [e_{m-1}, inf)."""
    mags = [float(f"{10 ** (k / 8):.3g}") for k in GRID_EXPONENTS]
    return np.array(sorted([-m for m in mags] + [0.0] + mags))


@dataclass
class ColumnCounts:
    name: str
    numeric: bool
    counts: Counter = field(default_factory=Counter)   # categorical: value -> count; numeric: bin index -> count
    missing: int = 0


def count_table(spec, label_column: str, numeric=()) -> tuple[list[ColumnCounts], int]:
    """Per column counts of the table (read chunk by chunk), and n. Touches the private rows."""
    edges, columns, n = public_grid(), None, 0
    for frame in iter_frames(spec):
        if columns is None:
            names = [str(c) for c in frame.columns]
            if label_column not in names:
                raise ConfigError(f"--label-column {label_column!r} is not a column of the table (columns: {names})")
            if len(set(names)) != len(names):
                raise DataError(f"duplicate column name(s) {sorted({c for c in names if names.count(c) > 1})}")
            unknown = [c for c in numeric if c not in names]
            if unknown:
                raise ConfigError(f"--numeric {unknown}: not column(s) of the table (columns: {names})")
            if label_column in numeric:
                raise ConfigError(f"--numeric: the label column {label_column!r} is categorical (its categories "
                                  "are the label set)")
            columns = [ColumnCounts(c, c in numeric) for c in names]
        n += len(frame)
        for col, (_, values) in zip(columns, frame.items()):
            missing = values.isna()
            col.missing += int(missing.sum())
            present = values[~missing]
            if col.numeric:
                nums = np.asarray(pd.to_numeric(present, errors="coerce"), dtype=float)
                if np.isnan(nums).any():  # the value itself is not shown: it is a private cell
                    raise DataError(f"column {col.name!r} is declared numeric (--numeric) but holds text that is not "
                                    "a number: clean the file, or draft it as categorical")
                col.counts.update(np.searchsorted(edges, nums, side="right").tolist())
            else:
                col.counts.update(cell_text(v) for v in present)   # each cell as the encoder reads it
    if columns is None or n == 0:
        raise DataError(f"{spec}: the table has a header but no rows")
    return columns, n


def noise_multiplier_for(epsilon: float, delta: float, conversion: str = DEFAULT_CONVERSION) -> float:
    """s such that one Gaussian release with noise multiplier s is (epsilon, delta)-DP under RDP accounting."""
    # RDP orders stop at 63: even infinite noise converts to epsilon >= this floor at this delta
    floor = accountant.epsilon_from_rdp(np.zeros(len(accountant.ORDERS)), delta, conversion)[0]
    if epsilon <= floor * 1.05:
        raise ConfigError(f"--epsilon {epsilon:g} is too small for the RDP accounting at delta = {delta:g} (orders up "
                          f"to {accountant.ORDERS[-1]:g} certify no less than {floor:.3g}): use --epsilon >= "
                          f"{floor * 1.1:.2g} or a larger --delta")
    return accountant.calibrate_noise_multiplier(1.0, 1, delta, epsilon, conversion)


def threshold_delta(tau: float, std: float, n_categorical: int) -> float:
    """P[some category held by the differing record alone passes tau] <= sum over categorical columns of
    P[1 + Z > tau], Z ~ N_Z(0, std^2) (one such category per column at most: a record has one value per column).
    Z is an integer: 1 + Z > tau  <=>  Z >= floor(tau)."""
    return n_categorical * tail_probability(math.floor(tau), std)


def threshold_for(delta_threshold: float, std: float, n_categorical: int) -> float:
    """The smallest integer tau with threshold_delta(tau) <= delta_threshold (started from the continuous
    Gaussian's quantile, then stepped on the exact discrete tail)."""
    target = delta_threshold / max(n_categorical, 1)
    tau = max(1, math.floor(1.0 + std * -NormalDist().inv_cdf(target)) - 2)
    while tail_probability(tau, std) > target:
        tau += 1
    while tau > 1 and tail_probability(tau - 1, std) <= target:
        tau -= 1
    return float(tau)


def add_noise(columns: list[ColumnCounts], std: float, noise=None) -> list[tuple[dict, int]]:
    """One discrete Gaussian draw for all the counts (each column's keys and its missing key): per column,
    (key -> noisy integer count, noisy missing count). Numeric columns get every bin of the grid (absent bins
    count 0). noise: None (release: OpenDP's exact sampler, OS randomness) or a seeded generator (tests)."""
    n_bins = len(public_grid()) + 1
    keys = [list(range(n_bins)) if c.numeric else list(c.counts) for c in columns]
    flat = [int(c.counts.get(k, 0)) for c, ks in zip(columns, keys) for k in ks] + [int(c.missing) for c in columns]
    noisy, out, i = add_discrete_gaussian(np.asarray(flat, dtype=np.int64), std, noise).tolist(), [], 0
    for ks in keys:
        out.append(dict(zip(ks, noisy[i:i + len(ks)])))
        i += len(ks)
    return [(d, int(m)) for d, m in zip(out, noisy[i:])]


def numeric_bounds(noisy_bins: dict, tau: float, quantiles=DEFAULT_QUANTILES) -> tuple[float, float] | None:
    """(min, max): the grid edges around the quantiles of the noisy CDF, bins at or below tau counted as empty
    (a far, empty bin must not stretch the bounds); None if no bin passes tau."""
    edges = public_grid()
    mass = np.array([noisy_bins[i] for i in range(len(edges) + 1)])
    mass = np.where(mass > tau, mass, 0.0)
    if mass.sum() <= 0:
        return None
    cdf = np.cumsum(mass) / mass.sum()
    lo_bin = int(np.searchsorted(cdf, quantiles[0], side="left"))
    hi_bin = int(np.searchsorted(cdf, quantiles[1], side="left"))
    lo = edges[max(lo_bin - 1, 0)]                 # the lower edge of the bin holding the low quantile
    hi = edges[min(hi_bin, len(edges) - 1)]        # the upper edge of the bin holding the high quantile
    if not lo < hi:  # both quantiles in an outer bin beyond +-1e12
        hi = lo + max(abs(lo), 1.0)
    return float(lo), float(hi)


@dataclass(frozen=True)
class DpDraft:
    schema: TableSchema
    review: list[str]    # what the user should look at (columns with no category or bin above the threshold, ...)


def schema_from_counts(columns: list[ColumnCounts], noisy: list[tuple[dict, float]], *, label_column: str,
                       tau: float, std: float, quantiles=DEFAULT_QUANTILES) -> tuple[list[Column], list[str]]:
    """Post-processing of the noisy counts into schema columns (and notes to review)."""
    out, review = [], []
    for col, (counts, missing_count) in zip(columns, noisy):
        # 'missing' is a public key (no delta): a low threshold (one noise std), because a column declared without
        # missing cells stops training at its first empty cell, while a spurious missing = true costs little
        missing = col.name != label_column and missing_count > std
        if col.numeric:
            bounds = numeric_bounds(counts, tau, quantiles)
            if bounds is None:
                review.append(f"{col.name}: no bin passed the threshold; min and max are placeholders, set them")
                bounds = (0.0, 1.0)
            out.append(Column(col.name, NUMERIC, min=bounds[0], max=bounds[1], integer=False, missing=missing))
            continue
        kept = sorted((k for k, v in counts.items() if v > tau), key=lambda k: -counts[k])
        if col.name == label_column:
            if len(kept) < 2:
                raise ConfigError(f"the label column {col.name!r}: only {len(kept)} categor{'y' if len(kept) == 1 else 'ies'} "
                                  f"passed the threshold {tau:.1f} (noise std {std:.1f}); a label needs 2: raise "
                                  "--epsilon, or write the label categories from public knowledge (this draft's "
                                  "epsilon is spent either way; nothing was written)")
            out.append(Column(col.name, CATEGORICAL, tuple(kept)))
            continue
        if len(kept) > MAX_CATEGORIES:
            review.append(f"{col.name}: {len(kept)} categories passed the threshold; kept the {MAX_CATEGORIES} "
                          f"largest, the rest map to {OTHER!r}")
            kept = kept[:MAX_CATEGORIES]
        if not kept:
            review.append(f"{col.name}: no category passed the threshold (only {OTHER!r}): a numeric column? "
                          "draft again with --numeric, or write it by hand")
        other = catch_all_name(kept)
        out.append(Column(col.name, CATEGORICAL, tuple(kept) + (other,), other, missing=missing))
    return out, review


def dp_draft_schema(spec, label_column: str, *, epsilon: float, delta: float | None = None, numeric=(),
                    quantiles=DEFAULT_QUANTILES, conversion: str = DEFAULT_CONVERSION, noise=None) -> DpDraft:
    """A schema drafted from the table with (epsilon, delta)-DP (plus delta_threshold, recorded in its provenance).
    noise: None (release: OS entropy), or a seeded torch.Generator for tests (not for release)."""
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise ConfigError(f"--epsilon must be a positive finite number (got {epsilon})")
    lo_q, hi_q = quantiles
    if not 0 <= lo_q < hi_q <= 1:
        raise ConfigError(f"--quantiles must satisfy 0 <= low < high <= 1 (got {lo_q}, {hi_q})")
    if delta is not None and not 0 < delta < 1:
        raise ConfigError(f"--delta must be in (0, 1) (got {delta})")
    columns, n = count_table(spec, label_column, tuple(numeric))
    # delta below 1/n, as `dpcgan train` requires (n is public, as it is for training)
    delta = min(1e-5, 0.1 / n) if delta is None else delta
    if delta >= 1.0 / n:
        raise ConfigError(f"--delta must be < 1/n = {1.0 / n:.3g} (got {delta:g}, n={n}): use e.g. --delta {0.1 / n:.0e}")
    if len(columns) < 2:
        raise ConfigError("the table needs at least one column besides the label")
    s = noise_multiplier_for(epsilon, delta, conversion)
    sensitivity = math.sqrt(len(columns))
    std = scale_at_least(s * sensitivity)   # never below s sqrt(J) after rounding
    n_categorical = sum(not c.numeric for c in columns)
    tau = threshold_for(DELTA_THRESHOLD_FRACTION * delta, std, n_categorical)
    delta_threshold = threshold_delta(tau, std, n_categorical)
    noisy = add_noise(columns, std, noise)
    # ---- nothing below reads the rows: post-processing of `noisy` ----
    schema_columns, review = schema_from_counts(columns, noisy, label_column=label_column, tau=tau, std=std,
                                                quantiles=quantiles)
    provenance = {
        "source": DP_DRAFT, "epsilon": float(epsilon), "delta": float(delta), "conversion": conversion,
        "noise_multiplier": s, "sensitivity": sensitivity, "noise_std": std, "threshold": tau,
        "delta_threshold": delta_threshold, "missing_threshold": std, "quantiles": [float(lo_q), float(hi_q)],
        "grid": GRID_NOTE,
        "public": "the header (column names), n, and which columns are numeric are public metadata, not protected",
        "mechanism": "discrete Gaussian (integer noise, exact sampler): released counts are integers",
        "note": f"one Gaussian release of per-column counts (L2 sensitivity sqrt(J) = {sensitivity:.4g}): "
                f"({epsilon:g}, {delta:g})-DP, plus delta_threshold for the category threshold; a run that trains "
                "with this schema composes it (privacy.json); keep this block when editing the schema",
    }
    return DpDraft(TableSchema(label_column, tuple(schema_columns), provenance), review)


def dp_header(draft: DpDraft) -> str:
    p = draft.schema.provenance
    lines = [
        f"Schema drafted by `dpcgan schema draft --epsilon`: DIFFERENTIALLY PRIVATE, (epsilon = {p['epsilon']:g}, "
        f"delta = {p['delta']:g})-DP, plus delta_threshold = {p['delta_threshold']:.3g} for the category threshold.",
        "Categories: observed values whose noisy count passed the threshold (rarer ones map to `other` at training",
        "time; a label value below it is an error there). Numeric bounds: grid edges around the "
        f"{p['quantiles'][0]:g} and {p['quantiles'][1]:g}",
        "quantiles of the noisy counts (values outside are clipped). Column names (the header), n and the choice of",
        "numeric columns are public metadata, not protected.",
        "integer = false everywhere: whether a column holds integers was not read from the data; set it (and round",
        "the bounds) from public knowledge. Editing is post-processing: keep the provenance lines, which a run that",
        "trains with this schema composes into its privacy ledger (its epsilon, and delta + delta_threshold).",
        "A column declared without missing = true stops training at its first empty cell.",
    ]
    if draft.review:
        lines += ["", "Review:"] + [f"  {r}" for r in draft.review]
    return "\n".join(lines)
