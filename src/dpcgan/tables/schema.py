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
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..io import read_toml_or_json

CATEGORICAL, NUMERIC = "categorical", "numeric"
# A numeric column is encoded as its bin among `bins` equal-width bins of the public bounds plus a position within the
# bin (tables/encode.py). A schema may set `bins`; without it the method chooses (with_default_bins): the table GAN
# keeps the 10 it was tuned with, the marginal-fitted generator takes 20 (values placed uniformly within their bins
# cost a classifier trained on Adult's real rows 0.021 HGB AUROC at 10 bins, 0.012 at 20). A stored schema without
# the key was written with 10.
GAN_NUMERIC_BINS = 10
COLUMN_KEYS = {CATEGORICAL: {"type", "categories", "missing", "other"},
               NUMERIC: {"type", "min", "max", "integer", "missing", "bins"}}
TOP_KEYS = {"label", "columns", "provenance"}


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
        return TableSchema(self.label, cols, dict(self.provenance))


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
    columns = [_parse_column(name, spec, source) for name, spec in cols.items()]
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
    return TableSchema(label, tuple(columns), dict(provenance))


def _parse_column(name, spec, source: str) -> Column:
    where = f"{source}: column {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table with type = \"categorical\" or \"numeric\"")
    kind = spec.get("type")
    if kind not in COLUMN_KEYS:
        raise ConfigError(f"{where}: type must be \"categorical\" or \"numeric\" (got {kind!r})")
    unknown = sorted(set(spec) - COLUMN_KEYS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for a {kind} column; allowed: {sorted(COLUMN_KEYS[kind])}")
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
    return Column(str(name), NUMERIC, min=float(lo), max=float(hi), integer=integer, missing=missing, bins=bins)


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
    for key, value in schema.provenance.items():
        if not isinstance(value, dict):
            lines.append(f"provenance.{key} = {_toml_value(value)}")
    for c in schema.columns:
        lines.append("")
        lines.append(f"[columns.{json.dumps(c.name)}]")
        for key, value in c.to_dict().items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
