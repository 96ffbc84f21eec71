"""How many rounds of pair tables a marginal-fitted run measures: a rule from public facts only.

A count table of c cells measured with per-count noise std has expected L1 error sqrt(2/pi) std c, so its error as a
share of the table's mass is sqrt(2/pi) std c / n. On a large table at a moderate epsilon that share is small for
many (label, a, b) tables and measuring them pays (Adult, n = 30,162, epsilon 1: HGB TSTR 0.895 with pair tables,
0.893 without, 2-way TV 0.035 vs 0.059); on a small one the pair tables are mostly noise and their budget is better
left to the (label, column) tables (credit_data, n = 3,563, epsilon 1: 0.746 with 5 rounds, 0.769 without).

The rule: the most rounds (up to MAX_PAIR_ROUNDS) such that at least as many candidate pairs as the rounds would
measure have an expected noise share <= PAIR_NOISE at the noise those rounds leave each pair table (fewer rounds
leave more budget per table, so the count is re-checked at each), and the (label, column) tables keep a mean
expected noise share <= ONE_WAY_NOISE. Its inputs are n, the epsilon's noise scale, the
schema's domain sizes and the label count: the plan (and its epsilon) never depends on the rows. The threshold was
chosen on credit_data and Adult (results/tabular.md, rows tagged "grid").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from ..config import MARGINAL_ARCH, TrainConfig, marginal_releases, resolve_plan
from .encode import CAT, layout
from .schema import TableSchema

MAX_PAIR_ROUNDS = 15   # Adult, epsilon 10: HGB TSTR 0.904 with 5 rounds, 0.908 with 10 (results/tabular.md, "grid")
PAIR_NOISE = 0.10      # a (label, a, b) table worth measuring: expected L1 noise <= 10 % of n (TV 5 %); Adult at
# epsilon 1: 0.05 gave 3 rounds (2-way TV 0.036 / 0.045), 0.10 gives 5 (0.034 / 0.037), HGB 0.895 both
ONE_WAY_NOISE = 0.05  # pair rounds take budget from the (label, column) tables: only while their mean expected L1
# noise stays <= 5 % of n. credit_data at epsilon 3 (n = 3,563): one pair round raised it from 4.3 % to 7.9 % and
# cost 0.017 HGB AUROC (0.756 vs 0.775 without, 5 seeds); Adult at epsilon 1 (5 rounds: 1.9 %) and credit_data at
# epsilon 10 (3 rounds: 2.7 %) keep their rounds (results/tabular_notes.md, third stop)
ABS_NORMAL = math.sqrt(2 / math.pi)   # E|N(0, 1)|


def noise_share(std: float, cells: int, n: int) -> float:
    """Expected L1 error of a count table of `cells` cells with per-count noise `std`, as a share of n."""
    return ABS_NORMAL * std * cells / max(n, 1)


def pair_cells(schema: TableSchema) -> list[int]:
    """Cells of the (label, a, b) table of every pair of feature columns, in the encoding's layout (public)."""
    widths = [w for kind, w, _ in layout(schema) if kind == CAT]
    k = len(schema.label_names)
    return [k * widths[a] * widths[b] for a, b in itertools.combinations(range(len(widths)), 2)]


def choose_rounds(cells: list[int], n: int, tables_per_round: int, pair_std: Callable[[int], float],
                  max_rounds: int = MAX_PAIR_ROUNDS,
                  one_way_share: Callable[[int], float] = lambda rounds: 0.0) -> tuple[int, str]:
    """(rounds, why). pair_std(rounds): the per-count noise std of one pair table under the plan with that many
    rounds; one_way_share(rounds): the mean expected L1 noise of the (label, column) tables then, as a share of n."""
    if not cells:
        return 0, "no pair tables (one feature column)"
    max_rounds = min(max_rounds, math.ceil(len(cells) / tables_per_round))   # no round once every pair is measured
    for rounds in range(max_rounds, 0, -1):
        if one_way_share(rounds) > ONE_WAY_NOISE:
            continue
        usable = sum(noise_share(pair_std(rounds), c, n) <= PAIR_NOISE for c in cells)
        if usable >= min(rounds * tables_per_round, len(cells)):
            return rounds, (f"{rounds} round{'s' if rounds > 1 else ''} of pair tables: {usable} of the {len(cells)} (label, a, b) tables "
                            f"would carry expected noise <= {PAIR_NOISE:.0%} of the n = {n} rows")
    if one_way_share(1) > ONE_WAY_NOISE:
        return 0, (f"no pair tables: at n = {n} and this epsilon even one round would leave the (label, column) tables "
                   f"with expected noise {one_way_share(1):.1%} of the rows (> {ONE_WAY_NOISE:.0%}); the whole budget "
                   "goes to them")
    return 0, (f"no pair tables: at n = {n} and this epsilon too few (label, a, b) tables would carry expected noise "
               f"<= {PAIR_NOISE:.0%} of the rows; the whole budget goes to the (label, column) tables")


def with_pair_rounds(cfg: TrainConfig, schema: TableSchema, n: int, schema_release=None) -> tuple[TrainConfig, str]:
    """cfg with marginal_rounds fixed by the rule when it is None (auto); given rounds are kept. The overall noise
    scale is calibrated once, at the most rounds, and the rule reads each round count's pair-table noise at that
    scale (the shares always add up to one Gaussian's RDP, so the scale hardly moves with the rounds)."""
    if cfg.arch != MARGINAL_ARCH or cfg.marginal_rounds is not None:
        return cfg, ""
    j = len(schema.features)
    top = cfg.replace(marginal_rounds=MAX_PAIR_ROUNDS)
    scale = resolve_plan(top, n, len(schema.label_names), schema_release=schema_release,
                         num_features=j).noise_multiplier

    def table_stds(rounds: int) -> list[float]:
        """Per-count noise std of each count-table release with that many rounds: [0] the (label, column) tables,
        then one per pair round (all rounds alike)."""
        return [r.noise_multiplier * math.sqrt(r.coordinates)
                for r in marginal_releases(cfg.replace(marginal_rounds=rounds), j, scale) if r.release == "marginals"]

    k = len(schema.label_names)
    one_way_cells = [k * w for kind, w, _ in layout(schema) if kind == CAT]

    def one_way_share(rounds: int) -> float:
        std = table_stds(rounds)[0]
        return sum(noise_share(std, c, n) for c in one_way_cells) / len(one_way_cells)

    rounds, why = choose_rounds(pair_cells(schema), n, cfg.marginal_tables_per_round,
                                lambda rounds: table_stds(rounds)[1], MAX_PAIR_ROUNDS,
                                one_way_share)
    return cfg.replace(marginal_rounds=rounds), why


def raked_tables(targets) -> list[bool]:
    """Which released tables the sampler rakes G's draws to (tables/calibrate.py): the (label, column) tables, never
    the pair tables. Matching the column shares fixes G's fitting error on category shares and missing rates (Adult
    at epsilon 1, two runs x four samples: 2-way TV 0.033 / 0.036 -> 0.028 / 0.029, worst category gap 0.018 /
    0.014 -> 0.004, HGB TSTR 0.896 / 0.897 -> 0.894 / 0.896); raking to the pair tables too fits their noise (one run:
    HGB 0.897 -> 0.875 at epsilon 1, 0.904 -> 0.901 at epsilon 10; results/tabular_notes.md, "calibrated
    sampling")."""
    return [len(t.cols) == 1 for t in targets]
