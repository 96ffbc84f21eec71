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
# provenance.source of `dpcgan schema draft` WITHOUT --epsilon: categories and bounds read off the rows, no DP
NOT_PRIVATE = "read from the data -- NOT PRIVATE"
# provenance key set by `dpcgan train --schema-is-public` (Python: fit(..., schema_is_public=True)): the user declares
# the schema public knowledge, so a run that uses a non-DP draft may be released
SCHEMA_IS_PUBLIC = "schema_is_public"
SCHEMA_FROM_ROWS = "the schema was read from the private rows without DP"


@dataclass(frozen=True)
class SchemaRelease:
    """What a run composes for a DP-drafted schema; epsilon and delta are what the draft alone cost (for the report)."""

    noise_multiplier: float    # s: noise std per count / L2 sensitivity
    delta_threshold: float     # added to the delta of the run
    epsilon: float
    delta: float
    coordinates: int = 0       # J counts move by 1 each (discrete Gaussian draft); 0: an older draft, continuous noise

    def to_dict(self) -> dict:
        return asdict(self)

    def ledger_release(self) -> dict:
        """The ledger's description of this release (which mechanism its event stands for)."""
        return {"release": "schema-draft", "coordinates": self.coordinates} if self.coordinates else {}


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
    if str(provenance.get("mechanism", "")).startswith("discrete Gaussian"):
        sensitivity = provenance.get("sensitivity")
        if isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float)) or not sensitivity >= 1:
            raise ConfigError(f"the schema's provenance has sensitivity = {sensitivity!r}: expected sqrt(J) >= 1; "
                              "restore the block that `dpcgan schema draft --epsilon` wrote")
        values["coordinates"] = round(sensitivity ** 2)
    return SchemaRelease(**values)


def _provenance(schema) -> dict:
    provenance = schema.get("provenance") if isinstance(schema, dict) else getattr(schema, "provenance", None)
    return provenance if isinstance(provenance, dict) else {}


def schema_declared_public(schema) -> bool:
    """Was the schema (a TableSchema or its dict) declared public with --schema-is-public?"""
    return _provenance(schema).get(SCHEMA_IS_PUBLIC) is True


def schema_read_without_dp(schema) -> bool:
    """Is the schema a draft read off the rows without DP (`dpcgan schema draft` without --epsilon) that was not
    declared public? Its categories and bounds may reveal records: a run that uses it is not for release."""
    return _provenance(schema).get("source") == NOT_PRIVATE and not schema_declared_public(schema)
