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

Public (not protected): the header (column names), n, which columns are numeric (--numeric, the user's knowledge),
the public ranges of --numeric-range and --datetime (a linear grid of LINEAR_BINS bins instead of the log grid), the
--integer columns and the --ignore columns (never read: not counted, not in J). `integer` is never read from the
data (a data-dependent bit): it is true only for the columns the user names with --integer.

Every decision after the release (which categories, which columns are skipped, bounds, warnings) reads only the
noisy counts, n and the flags: post-processing, so it costs nothing beyond the release.
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
from .draft import MAX_CATEGORIES, check_ignore, check_max_categories
from .encode import cell_text
from .schema import CATEGORICAL, DATETIME, NUMERIC, Column, TableSchema, date_days

DELTA_THRESHOLD_FRACTION = 0.1   # delta_threshold = this x delta: the threshold's extra delta stays small
DEFAULT_QUANTILES = (0.01, 0.99)  # numeric bounds: these quantiles of the noisy CDF (outside values are clipped)
DEFAULT_CONVERSION = "opacus"    # as the table presets: Balle et al. 2020 RDP -> (eps, delta)
OTHER = "other"                  # categorical features: values below the threshold map here at training time
LINEAR_BINS = 50                 # --numeric-range / --datetime: equal-width bins of the public range (+1 below, +1 above)
LINEAR_CUTOFF_STDS = 2.0         # a linear-grid bin counts toward the bounds when its noisy count passes this many stds
MIN_COVERAGE = 0.25              # a text column whose kept categories hold less of its rows is skipped (an identifier)
CENTRAL_QUANTILES = (0.25, 0.75)  # the warning compares the drafted range with the span of these noisy quantiles
WIDE_RANGE_RATIO = 10.0          # ... and warns above this ratio


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
    edges: np.ndarray | None = None   # numeric: a linear grid on a public range (None: the public log grid)
    datetime: bool = False            # numeric in days since 1970-01-01 (--datetime)
    integer: bool = False             # --integer (public knowledge, never read from the data)

    @property
    def grid(self) -> np.ndarray:
        return public_grid() if self.edges is None else self.edges


def linear_grid(lo: float, hi: float) -> np.ndarray:
    """(LINEAR_BINS + 1,) equal-width edges of a public range; bins as public_grid's (one below lo, one above hi)."""
    return np.linspace(lo, hi, LINEAR_BINS + 1)


def check_declared(names: list[str], label_column: str, *, numeric=(), ranges=None, dates=None, integer=(),
                   ignore=()) -> None:
    """The column flags against the header (public): each names real columns, never the label, no column twice."""
    ranges, dates = ranges or {}, dates or {}
    check_ignore(ignore, names, label_column)
    for flag, cols in (("--numeric", numeric), ("--numeric-range", ranges), ("--datetime", dates),
                       ("--integer", integer)):
        unknown = [c for c in cols if c not in names]
        if unknown:
            raise ConfigError(f"{flag} {unknown}: not column(s) of the table (columns: {names})")
        if label_column in cols:
            raise ConfigError(f"{flag}: the label column {label_column!r} is categorical (its categories are the "
                              "label set)")
        both = [c for c in cols if c in ignore]
        if both:
            raise ConfigError(f"{flag} and --ignore both name {both}: choose one")
    both = [c for c in dates if c in ranges or c in numeric]
    if both:
        raise ConfigError(f"--datetime and --numeric/--numeric-range both name {both}: choose one")
    loose = [c for c in integer if c not in numeric and c not in ranges]
    if loose:
        raise ConfigError(f"--integer {loose}: only a numeric column can be integer; add it to --numeric or "
                          "--numeric-range")
    for flag, table in (("--numeric-range", ranges), ("--datetime", dates)):
        for c, (lo, hi) in table.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ConfigError(f"{flag} {c}: the public range needs LO < HI, both finite (got {lo:g}, {hi:g})")


def count_table(spec, label_column: str, numeric=(), *, ranges=None, dates=None, integer=(),
                ignore=()) -> tuple[list[ColumnCounts], int]:
    """Per column counts of the table (read chunk by chunk), and n. Touches the private rows. The --ignore columns
    are not counted (nor part of J); --numeric-range and --datetime columns are counted on a linear grid of their
    public range (dates in days since 1970-01-01)."""
    ranges, dates = ranges or {}, dates or {}
    columns, n = None, 0
    for frame in iter_frames(spec):
        names = [str(c) for c in frame.columns]
        if columns is None:
            if label_column not in names:
                raise ConfigError(f"--label-column {label_column!r} is not a column of the table (columns: {names})")
            if len(set(names)) != len(names):
                raise DataError(f"duplicate column name(s) {sorted({c for c in names if names.count(c) > 1})}")
            check_declared(names, label_column, numeric=numeric, ranges=ranges, dates=dates, integer=integer,
                           ignore=ignore)
            bounds = {**ranges, **dates}
            columns = {c: ColumnCounts(c, c in numeric or c in bounds,
                                       edges=linear_grid(*bounds[c]) if c in bounds else None,
                                       datetime=c in dates, integer=c in integer)
                       for c in names if c not in ignore}
        n += len(frame)
        for name, (_, values) in zip(names, frame.items()):
            col = columns.get(name)
            if col is None:   # --ignore: never read
                continue
            missing = values.isna()
            col.missing += int(missing.sum())
            present = values[~missing]
            if col.datetime:
                nums = np.array([date_days(v if hasattr(v, "year") else cell_text(v)) for v in present], dtype=float)
                if np.isnan(nums).any():  # the value itself is not shown: it is a private cell
                    raise DataError(f"column {col.name!r} is declared a datetime (--datetime) but holds a cell that "
                                    "is not an ISO date (YYYY-MM-DD): clean the file, or draft it otherwise")
                col.counts.update(np.searchsorted(col.grid, nums, side="right").tolist())
            elif col.numeric:
                nums = np.asarray(pd.to_numeric(present, errors="coerce"), dtype=float)
                if np.isnan(nums).any():  # the value itself is not shown: it is a private cell
                    raise DataError(f"column {col.name!r} is declared numeric (--numeric) but holds text that is not "
                                    "a number: clean the file, or draft it as categorical")
                col.counts.update(np.searchsorted(col.grid, nums, side="right").tolist())
            else:
                col.counts.update(cell_text(v) for v in present)   # each cell as the encoder reads it
    if columns is None or n == 0:
        raise DataError(f"{spec}: the table has a header but no rows")
    return list(columns.values()), n


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
    keys = [list(range(len(c.grid) + 1)) if c.numeric else list(c.counts) for c in columns]
    flat = [int(c.counts.get(k, 0)) for c, ks in zip(columns, keys) for k in ks] + [int(c.missing) for c in columns]
    noisy, out, i = add_discrete_gaussian(np.asarray(flat, dtype=np.int64), std, noise).tolist(), [], 0
    for ks in keys:
        out.append(dict(zip(ks, noisy[i:i + len(ks)])))
        i += len(ks)
    return [(d, int(m)) for d, m in zip(out, noisy[i:])]


def _quantile_bins(mass: np.ndarray, quantiles) -> list[int]:
    """The bin holding each quantile of the CDF of `mass` (non-negative, sum > 0)."""
    cdf = np.cumsum(mass) / mass.sum()
    return [int(np.searchsorted(cdf, q, side="left")) for q in quantiles]


def _edges_around(edges: np.ndarray, lo_bin: int, hi_bin: int) -> tuple[float, float]:
    """The lower edge of bin lo_bin and the upper edge of bin hi_bin (outer bins: the grid's end edges)."""
    return float(edges[max(lo_bin - 1, 0)]), float(edges[min(hi_bin, len(edges) - 1)])


def numeric_bounds(noisy_bins: dict, tau: float, quantiles=DEFAULT_QUANTILES, edges=None) -> tuple[float, float] | None:
    """(min, max): the grid edges around the quantiles of the noisy CDF, bins at or below tau counted as empty
    (a far, empty bin must not stretch the bounds); None if no bin passes tau. A linear grid's bounds stay inside
    its public range."""
    edges = public_grid() if edges is None else edges
    mass = np.array([noisy_bins[i] for i in range(len(edges) + 1)])
    mass = np.where(mass > tau, mass, 0.0)
    if mass.sum() <= 0:
        return None
    lo, hi = _edges_around(edges, *_quantile_bins(mass, quantiles))
    if not lo < hi:  # both quantiles in one outer bin: beyond +-1e12 (log grid) or outside the public range
        hi = lo + max(abs(lo), 1.0)
    return lo, hi


def range_warnings(name: str, noisy_bins: dict, tau: float, edges, bounds: tuple[float, float],
                   linear: bool) -> list[str]:
    """Post-processing: a warning when the drafted range is much wider than what the noisy counts say the bulk of
    the values spans (the central quantiles, measured at the grid's edges: their widest reading)."""
    mass = np.array([noisy_bins[i] for i in range(len(edges) + 1)])
    mass = np.where(mass > tau, mass, 0.0)
    if mass.sum() <= 0:
        return []
    fix = f"pass --numeric-range {name}=LO:HI from public knowledge (a linear grid), or set min and max by hand"
    out = []
    b_lo, b_hi = _quantile_bins(mass, DEFAULT_QUANTILES)
    if not linear and b_hi - b_lo <= 1:
        out.append(f"{name}: the values fall in {b_hi - b_lo + 1} bin(s) of the log grid (edges 33% apart), so the "
                   f"range [{bounds[0]:g}, {bounds[1]:g}] may be many times wider than the values: {fix}")
        return out
    c_lo, c_hi = _edges_around(edges, *_quantile_bins(mass, CENTRAL_QUANTILES))
    width = bounds[1] - bounds[0]
    if c_hi > c_lo and width > WIDE_RANGE_RATIO * (c_hi - c_lo):
        out.append(f"{name}: the range [{bounds[0]:g}, {bounds[1]:g}] is {width / (c_hi - c_lo):.0f}x wider than "
                   f"its central noisy quantiles ({CENTRAL_QUANTILES[0]:g}..{CENTRAL_QUANTILES[1]:g}: {c_lo:g} to "
                   f"{c_hi:g}): most values share a few of its bins; {fix}")
    return out


@dataclass(frozen=True)
class DpDraft:
    schema: TableSchema
    review: list[str]    # what the user should look at (columns with no category or bin above the threshold, ...)
    warnings: list[str] = field(default_factory=list)   # drafted ranges much wider than their values (# warning:)


@dataclass(frozen=True)
class Drafted:
    """schema_from_counts' result: the columns, notes to review, skipped columns (name -> why), range warnings."""
    columns: list[Column]
    review: list[str]
    skipped: dict
    warnings: list[str]


def schema_from_counts(columns: list[ColumnCounts], noisy: list[tuple[dict, float]], *, label_column: str,
                       tau: float, std: float, n: int, quantiles=DEFAULT_QUANTILES,
                       max_categories: int = MAX_CATEGORIES) -> Drafted:
    """Post-processing of the noisy counts into schema columns (and notes to review). It reads only the released
    noisy counts (the categories above tau and their noisy counts, every bin of a grid, the missing keys), n and the
    user's flags, never the raw counts: skipping a column is as private as keeping it."""
    out, review, skipped, warnings = [], [], {}, []
    for col, (counts, missing_count) in zip(columns, noisy):
        # 'missing' is a public key (no delta): a low threshold (one noise std), because a column declared without
        # missing cells stops training at its first empty cell, while a spurious missing = true costs little
        missing = col.name != label_column and missing_count > std
        if col.numeric:
            out.append(_numeric_column(col, counts, tau=tau, std=std, quantiles=quantiles, missing=missing,
                                       review=review, warnings=warnings))
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
        why = _skip_reason(counts, kept, tau=tau, present=n - missing_count, max_categories=max_categories)
        if why:
            skipped[col.name] = why
            continue
        other = catch_all_name(kept)
        out.append(Column(col.name, CATEGORICAL, tuple(kept) + (other,), other, missing=missing))
    return Drafted(out, review, skipped, warnings)


def _skip_reason(counts: dict, kept: list, *, tau: float, present: float, max_categories: int) -> str | None:
    """Why a categorical column is skipped, from released quantities only: the categories above tau, their noisy
    counts, and the noisy number of present cells (n, public, less the noisy missing count)."""
    declare = "declare it (--numeric, --numeric-range, --datetime) or write its entry by hand"
    if not kept:
        return f"no category passed the noisy threshold {tau:.0f}: an identifier, free text, a number or a date? {declare}"
    if len(kept) > max_categories:
        return (f"too many categories: {len(kept)} passed the noisy threshold > --max-categories {max_categories}; "
                f"raise --max-categories, or {declare}")
    share = sum(counts[k] for k in kept) / max(present, 1.0)
    if share < MIN_COVERAGE:
        return (f"mostly rare values: the categories above the noisy threshold hold about {100 * share:.0f}% of the "
                "rows (noisy counts): an identifier, free text, or more categories than this n supports at this "
                f"epsilon; {declare}")
    return None


def _numeric_column(col: ColumnCounts, counts: dict, *, tau: float, std: float, quantiles, missing: bool,
                    review: list, warnings: list) -> Column:
    linear = col.edges is not None
    # a linear grid is the user's public range: no far empty bin can stretch the bounds beyond it, so a bin needs
    # only to stand out of the noise (LINEAR_CUTOFF_STDS), not to pass the categories' tau
    cutoff = LINEAR_CUTOFF_STDS * std if linear else tau
    edges = col.grid
    bounds = numeric_bounds(counts, cutoff, quantiles, edges)
    if linear and bounds is not None and not (edges[0] <= bounds[0] < bounds[1] <= edges[-1]):
        review.append(f"{col.name}: the values lie outside the public range given; min and max are that range")
        bounds = (float(edges[0]), float(edges[-1]))
    elif bounds is None:
        bounds = (float(edges[0]), float(edges[-1])) if linear else (0.0, 1.0)
        review.append(f"{col.name}: no bin passed the threshold; min and max are " +
                      ("the public range given" if linear else "placeholders, set them"))
    else:
        warnings += range_warnings(col.name, counts, cutoff, edges, bounds, linear)
    lo, hi = bounds
    if col.integer or col.datetime:   # whole numbers (whole days): bounds rounded outwards
        lo, hi = math.floor(lo), math.ceil(hi)
        hi = hi if hi > lo else lo + 1
    if col.datetime:
        return Column(col.name, DATETIME, min=float(lo), max=float(hi), missing=missing)
    return Column(col.name, NUMERIC, min=lo, max=hi, integer=col.integer, missing=missing)


def dp_draft_schema(spec, label_column: str, *, epsilon: float, delta: float | None = None, numeric=(),
                    quantiles=DEFAULT_QUANTILES, conversion: str = DEFAULT_CONVERSION, noise=None,
                    max_categories: int = MAX_CATEGORIES, ranges: dict | None = None, dates: dict | None = None,
                    integer=(), ignore=()) -> DpDraft:
    """A schema drafted from the table with (epsilon, delta)-DP (plus delta_threshold, recorded in its provenance).
    noise: None (release: OS entropy), or a seeded torch.Generator for tests (not for release).
    ranges: column -> (lo, hi), a public coarse range (--numeric-range: a linear grid on it, the column numeric);
    dates: column -> (lo, hi) in days since 1970-01-01 (--datetime); integer: --integer columns; ignore: columns
    never read (--ignore); max_categories: a text column with more categories above the threshold is skipped."""
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise ConfigError(f"--epsilon must be a positive finite number (got {epsilon})")
    lo_q, hi_q = quantiles
    if not 0 <= lo_q < hi_q <= 1:
        raise ConfigError(f"--quantiles must satisfy 0 <= low < high <= 1 (got {lo_q}, {hi_q})")
    if delta is not None and not 0 < delta < 1:
        raise ConfigError(f"--delta must be in (0, 1) (got {delta})")
    check_max_categories(max_categories)
    ranges, dates = dict(ranges or {}), dict(dates or {})
    columns, n = count_table(spec, label_column, tuple(numeric), ranges=ranges, dates=dates, integer=tuple(integer),
                             ignore=tuple(ignore))
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
    drafted = schema_from_counts(columns, noisy, label_column=label_column, tau=tau, std=std, n=n,
                                 quantiles=quantiles, max_categories=max_categories)
    if len(drafted.columns) < 2:
        raise ConfigError("no column besides the label could be drafted (skipped: " +
                          "; ".join(f"{k}: {v}" for k, v in drafted.skipped.items()) + "); declare the columns "
                          "(--numeric, --numeric-range, --datetime) and draft again (this draft's epsilon is spent "
                          "either way; nothing was written)")
    skipped = {c: "ignored (--ignore): never read" for c in ignore} | drafted.skipped
    provenance = {
        "source": DP_DRAFT, "epsilon": float(epsilon), "delta": float(delta), "conversion": conversion,
        "noise_multiplier": s, "sensitivity": sensitivity, "noise_std": std, "threshold": tau,
        "delta_threshold": delta_threshold, "missing_threshold": std, "quantiles": [float(lo_q), float(hi_q)],
        "grid": GRID_NOTE,
        **({"linear_grid": f"{LINEAR_BINS} equal-width bins of the public range of each --numeric-range or "
                           f"--datetime column ({', '.join(f'{c} {lo:g}:{hi:g}' for c, (lo, hi) in {**ranges, **dates}.items())}), "
                           "one below it, one above"} if ranges or dates else {}),
        "public": "the header (column names), n, which columns are numeric, the --numeric-range and --datetime "
                  "ranges, the --integer and the --ignore columns are public metadata, not protected",
        "mechanism": "discrete Gaussian (integer noise, exact sampler): released counts are integers",
        "note": f"one Gaussian release of per-column counts (L2 sensitivity sqrt(J) = {sensitivity:.4g}): "
                f"({epsilon:g}, {delta:g})-DP, plus delta_threshold for the category threshold; a run that trains "
                "with this schema composes it (privacy.json); keep this block when editing the schema",
    }
    schema = TableSchema(label_column, tuple(drafted.columns), provenance, tuple(skipped), skipped)
    return DpDraft(schema, drafted.review, drafted.warnings)


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
        "Only the --integer columns are marked integer: whether a column holds integers was not read from the data;",
        "set it (and round the bounds) from public knowledge. Editing is post-processing: keep the provenance lines,",
        "which a run that trains with this schema composes into its privacy ledger (its epsilon, and delta +",
        "delta_threshold). A column declared without missing = true stops training at its first empty cell.",
        "Columns in drop = [...] (skipped: the reason is beside each) are never read by a run; to keep one, remove",
        "it from drop and write its entry from public knowledge, or draft again with --numeric, --numeric-range",
        "COL=LO:HI, --datetime COL=YYYY-MM-DD:YYYY-MM-DD or --max-categories N.",
    ]
    if draft.review:
        lines += ["", "Review:"] + [f"  {r}" for r in draft.review]
    if draft.warnings:
        lines += [""] + [f"warning: {w}" for w in draft.warnings]
    return "\n".join(lines)
