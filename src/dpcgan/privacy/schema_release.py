"""The privacy cost of a DP-drafted schema (tables/dp_draft.py), as a training run that uses the schema composes it.

`dpcgan schema draft --epsilon` makes one Gaussian release over the private table: a vector of counts with L2
sensitivity sqrt(J) (J columns, one count per column per record) plus N(0, (s sqrt(J))^2) per count, i.e. the
Gaussian mechanism with noise multiplier s: RDP alpha / (2 s^2), one ledger event with sample rate 1 (like the DP
label histogram). Keeping only the categories whose noisy count passes a threshold adds delta_threshold to the
delta of anything that uses the schema: a category held by the one differing record passes it with at most that
probability (and then nothing else about it changes: the analysis gives (eps, delta + delta_threshold)).

The schema file's provenance block carries s and delta_threshold, and a run reads them from there: a schema edited
by hand after the draft is still covered (post-processing) as long as that block is kept.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import ConfigError

DP_DRAFT = "dpcgan schema draft --epsilon: DP (Gaussian histogram with a threshold)"


@dataclass(frozen=True)
class SchemaRelease:
    """What a run composes for a DP-drafted schema; epsilon and delta are what the draft alone cost (for the report)."""

    noise_multiplier: float    # s: noise std per count / L2 sensitivity
    delta_threshold: float     # added to the delta of the run
    epsilon: float
    delta: float

    def to_dict(self) -> dict:
        return asdict(self)


def schema_release(schema) -> SchemaRelease | None:
    """The release recorded in a schema's provenance (a TableSchema or its dict), or None if it was not a DP draft."""
    provenance = schema.get("provenance") if isinstance(schema, dict) else getattr(schema, "provenance", None)
    if not provenance or provenance.get("source") != DP_DRAFT:
        return None
    values = {}
    for key in ("noise_multiplier", "delta_threshold", "epsilon", "delta"):
        v = provenance.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"the schema's provenance says it is a DP draft but provenance.{key} is {v!r}: restore "
                              "the provenance block that `dpcgan schema draft --epsilon` wrote (it is what the run "
                              "composes into its privacy ledger)")
        values[key] = float(v)
    if not (values["noise_multiplier"] > 0 and 0 <= values["delta_threshold"] < 1):
        raise ConfigError(f"the schema's provenance has noise_multiplier = {values['noise_multiplier']} and "
                          f"delta_threshold = {values['delta_threshold']}: expected > 0 and in [0, 1); restore the "
                          "block that `dpcgan schema draft --epsilon` wrote")
    return SchemaRelease(**values)
