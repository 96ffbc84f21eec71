"""The public schema of a labeled table: column types, category lists, numeric bounds, which cells may be empty.

The schema is public input (like an image's size and the label set): it fixes the encoding, the generator's
output layout and the label set before any private row is read, and is never fitted to the private rows at
training time (`dpcgan schema draft` writes one to review; see tables/draft.py).

    label = "Status"
    [columns.Status]
    type = "categorical"
    categories = ["good", "bad"]
    [columns.Age]
    type = "numeric"
    min = 18
    max = 75
    integer = true
    [columns.Income]
    type = "numeric"
    min = 0
    max = 1000
    missing = true      # empty cells allowed, and generated as empty too

Categorical columns may declare `other = "NAME"`: values outside the category list then map to that category
(NAME is added to the list if absent); without it such a value is an error naming the column.
Categories are matched as text (a CSV cell "1" matches the category 1 or "1").

Columns the run must never see: a top-level `drop = ["record_id", ...]` list, or a column entry `type = "ignore"`.
Reading skips them (tables/csvio.py: they may be in the file or not); training, sampling and evaluation never see
them, and the synthetic table does not have them.

    drop = ["record_id"]
    [columns.Visit]
    type = "datetime"
    min = "2015-01-01"  # public bounds, ISO dates (or TOML dates); encoded as days since 1970-01-01 on them,
    max = "2024-12-31"  # sampled as ISO dates (YYYY-MM-DD)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..io import read_toml_or_json

CATEGORICAL, NUMERIC, DATETIME, IGNORE = "categorical", "numeric", "datetime", "ignore"
# A numeric column is encoded as its bin among `bins` equal-width bins of the public bounds plus a position within the
# bin (tables/encode.py). A schema may set `bins`; without it the method chooses (with_default_bins): the table GAN
# keeps the 10 it was tuned with, the marginal-fitted generator takes 20 (values placed uniformly within their bins
# cost a classifier trained on Adult's real rows 0.021 HGB AUROC at 10 bins, 0.012 at 20). A stored schema without
# the key was written with 10.
GAN_NUMERIC_BINS = 10
COLUMN_KEYS = {CATEGORICAL: {"type", "categories", "missing", "other"},
               NUMERIC: {"type", "min", "max", "integer", "missing", "bins"},
               DATETIME: {"type", "min", "max", "missing", "bins"},   # a numeric column in days since the epoch
               IGNORE: {"type"}}                                      # as if listed in drop = [...]
TOP_KEYS = {"label", "columns", "provenance", "drop"}
EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    categories: tuple[str, ...] = ()     # categorical: the closed list (with `other`, if declared, among them)
    other: str | None = None             # categorical: where unknown values go (None: they are an error)
    min: float = 0.0                     # numeric: public bounds; values outside are clipped to them
    max: float = 1.0
    integer: bool = False
    missing: bool = False                # empty cells allowed (and generated)
    bins: int | None = None              # numeric: equal-width bins of the bounds in the encoding (None: 10)
    # numeric and datetime columns share the encoding: a datetime's min, max and values are days since 1970-01-01

    @property
    def numeric_bins(self) -> int:
        return GAN_NUMERIC_BINS if self.bins is None else self.bins

    def to_dict(self) -> dict:
        d: dict = {"type": self.type}
        if self.type == CATEGORICAL:
            d["categories"] = list(self.categories)
            if self.other is not None:
                d["other"] = self.other
        else:
            if self.type == DATETIME:
                d.update(min=format_date(self.min), max=format_date(self.max))
            else:
                d.update(min=self.min, max=self.max, integer=self.integer)
            if self.bins is not None:
                d["bins"] = self.bins
        if self.missing:
            d["missing"] = True
        return d


@dataclass(frozen=True)
class TableSchema:
    label: str
    columns: tuple[Column, ...]
    provenance: dict = field(default_factory=dict, compare=False)   # how the schema was made (tables/draft.py)
    dropped: tuple[str, ...] = ()        # columns skipped on reading (drop = [...] and type = "ignore")
    drop_reasons: dict = field(default_factory=dict, compare=False)  # a draft's why, written as comments

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def label_column(self) -> Column:
        return self.column(self.label)

    @property
    def features(self) -> list[Column]:
        return [c for c in self.columns if c.name != self.label]

    @property
    def label_names(self) -> list[str]:
        return list(self.label_column.categories)

    def to_dict(self) -> dict:
        d = {"label": self.label, "columns": {c.name: c.to_dict() for c in self.columns}}
        if self.dropped:
            d["drop"] = list(self.dropped)
        if self.provenance:
            d["provenance"] = self.provenance
        return d

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "schema") -> "TableSchema":
        return parse_schema(d, source=source)

    def with_default_bins(self, bins: int) -> "TableSchema":
        """Every numeric column without its own `bins` given `bins` (the training method's default), explicitly: the
        run stores the schema with them, so sampling decodes with the same layout."""
        cols = tuple(dataclasses.replace(c, bins=bins) if c.type == NUMERIC and c.bins is None else c
                     for c in self.columns)
        return dataclasses.replace(self, columns=cols, provenance=dict(self.provenance))


def _text(v) -> str:
    """A category as text: 1 and 1.0 (TOML numbers) both match the CSV cell '1'."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def parse_schema(d, *, source: str = "schema") -> TableSchema:
    """Validate a schema table; every error names the column and the key."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected a table with 'label' and [columns.NAME] sections")
    unknown = sorted(set(d) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; expected {sorted(TOP_KEYS)}")
    cols = d.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise ConfigError(f"{source}: no [columns.NAME] sections: describe every column of the table")
    label = d.get("label")
    if not isinstance(label, str) or not label:
        raise ConfigError(f"{source}: the schema has no label: add label = \"COLUMN\" (the column to condition on)")
    dropped = _parse_drop(d.get("drop", []), cols, label, source)
    dropped += [str(name) for name, spec in cols.items() if isinstance(spec, dict) and spec.get("type") == IGNORE
                and str(name) not in dropped]
    if label in dropped:
        raise ConfigError(f"{source}: the label column {label!r} cannot be dropped or ignored (it is the condition)")
    parsed = [_parse_column(name, spec, source) for name, spec in cols.items()]   # ignore entries checked too
    columns = [c for c in parsed if c is not None and c.name not in dropped]
    if label not in cols:
        raise ConfigError(f"{source}: the label column {label!r} is not among the schema's columns {list(cols)}")
    lab = next(c for c in columns if c.name == label)
    if lab.type != CATEGORICAL:
        raise ConfigError(f"{source}: the label column {label!r} must be categorical (the classes are the public "
                          "label set)")
    if lab.missing or lab.other is not None:
        raise ConfigError(f"{source}: the label column {label!r} cannot have missing = true or other: every row needs "
                          "one of the declared classes")
    if len(lab.categories) < 2:
        raise ConfigError(f"{source}: the label column {label!r} needs at least 2 categories")
    if len(columns) < 2:
        raise ConfigError(f"{source}: the table needs at least one column besides the label")
    provenance = d.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise ConfigError(f"{source}: 'provenance' must be a table")
    return TableSchema(label, tuple(columns), dict(provenance), tuple(dropped))


def _parse_drop(drop, cols: dict, label: str, source: str) -> list[str]:
    """The top-level drop = [...] list: distinct names; a dropped column may keep only an entry type = "ignore"."""
    if not isinstance(drop, list) or not all(isinstance(x, str) and x for x in drop):
        raise ConfigError(f"{source}: drop must be a list of column names, drop = [\"COLUMN\", ...] (got {drop!r})")
    if len(set(drop)) != len(drop):
        raise ConfigError(f"{source}: drop names a column twice: {sorted({x for x in drop if drop.count(x) > 1})}")
    if label in drop:
        raise ConfigError(f"{source}: the label column {label!r} cannot be dropped or ignored (it is the condition)")
    both = [x for x in drop if isinstance(cols.get(x), dict) and cols[x].get("type") != IGNORE]
    if both:
        raise ConfigError(f"{source}: column(s) {both} are both in drop = [...] and described under [columns.NAME]: "
                          "remove one of the two")
    return list(drop)


def _parse_column(name, spec, source: str) -> Column | None:
    where = f"{source}: column {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table with type = \"categorical\" or \"numeric\"")
    kind = spec.get("type")
    if kind not in COLUMN_KEYS:
        raise ConfigError(f"{where}: type must be \"categorical\", \"numeric\", \"datetime\" or \"ignore\" "
                          f"(got {kind!r})")
    unknown = sorted(set(spec) - COLUMN_KEYS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for a {kind} column; allowed: {sorted(COLUMN_KEYS[kind])}")
    if kind == IGNORE:
        return None
    missing = spec.get("missing", False)
    if not isinstance(missing, bool):
        raise ConfigError(f"{where}: missing must be true or false (got {missing!r})")
    if kind == CATEGORICAL:
        cats = spec.get("categories")
        if not isinstance(cats, list) or not cats:
            raise ConfigError(f"{where}: a categorical column needs a non-empty list categories = [...]")
        texts = [_text(c) for c in cats]
        if len(set(texts)) != len(texts) or any(t == "" for t in texts):
            raise ConfigError(f"{where}: categories must be distinct and non-empty (got {cats})")
        other = spec.get("other")
        if other is not None:
            other = _text(other)
            if other not in texts:
                texts.append(other)
        return Column(str(name), CATEGORICAL, tuple(texts), other, missing=missing)
    lo, hi, integer = spec.get("min"), spec.get("max"), spec.get("integer", False)
    if kind == DATETIME:
        for key, v in (("min", lo), ("max", hi)):
            days = date_days(v) if isinstance(v, (str, dt.date)) else math.nan
            if not math.isfinite(days):
                raise ConfigError(f"{where}: a datetime column needs public bounds {key} = \"YYYY-MM-DD\" (an ISO "
                                  f"date or date-time; got {v!r})")
        lo, hi = date_days(lo), date_days(hi)
    for key, v in (("min", lo), ("max", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}: a numeric column needs finite public bounds {key} = ... (got {v!r})")
    if not lo < hi:
        raise ConfigError(f"{where}: min must be < max (got min = {lo}, max = {hi})")
    if not isinstance(integer, bool):
        raise ConfigError(f"{where}: integer must be true or false (got {integer!r})")
    bins = spec.get("bins")
    if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 1000):
        raise ConfigError(f"{where}: bins must be a whole number from 2 to 1000 (got {bins!r})")
    return Column(str(name), kind, min=float(lo), max=float(hi), integer=integer, missing=missing, bins=bins)


def date_days(v) -> float:
    """One date or date-time as days since 1970-01-01 (a float: 12:00 is .5); nan if it is not one. Text must be
    ISO 8601 ("2021-03-04", "2021-03-04T10:30:00", "2021-03-04 10:30"); a zone-aware time is taken in UTC."""
    if isinstance(v, str):
        try:
            v = dt.datetime.fromisoformat(v.strip())
        except ValueError:
            return math.nan
    if hasattr(v, "to_pydatetime"):   # pandas Timestamp
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(v, dt.date):
        v = dt.datetime(v.year, v.month, v.day)
    else:
        return math.nan
    return (v - EPOCH) / dt.timedelta(days=1)


def format_date(days: float) -> str:
    """Days since 1970-01-01 as an ISO date ("2021-03-04"), or date-time to the second when not midnight."""
    t = EPOCH + dt.timedelta(seconds=round(days * 86400))
    return t.date().isoformat() if t.time() == dt.time(0) else t.isoformat()


def read_schema_file(path: str | Path) -> TableSchema:
    """A schema from a .toml or .json file."""
    p = Path(path)
    d = read_toml_or_json(p, flag="--schema", default_format="toml")
    return parse_schema(d, source=f"--schema {p.name}")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string is a JSON string


def schema_to_toml(schema: TableSchema, header: str = "") -> str:
    """The schema as TOML (with `header` as leading comment lines)."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    lines.append(f"label = {_toml_value(schema.label)}")
    if schema.dropped:
        lines += [f"# skipped: {name} — {schema.drop_reasons[name]}" for name in schema.dropped
                  if name in schema.drop_reasons]
        lines.append(f"drop = {_toml_value(list(schema.dropped))}")
    for key, value in schema.provenance.items():
        if not isinstance(value, dict):
            lines.append(f"provenance.{key} = {_toml_value(value)}")
    for c in schema.columns:
        lines.append("")
        lines.append(f"[columns.{json.dumps(c.name)}]")
        for key, value in c.to_dict().items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
