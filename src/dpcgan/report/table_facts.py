"""The facts a table run's report.html and MODEL_CARD.md show, as rows of text: its public schema, and the evaluation
(the run, the baseline at the same epsilon, the real-data reference; per-column TV). table_sections renders them as
HTML, table_card as Markdown."""

from __future__ import annotations

import math
from typing import Any

from ..tables.schema import CATEGORICAL, TableSchema

SCHEMA_HEAD = ("column", "role", "type", "categories or bounds", "bins", "empty cells allowed")
METRIC_HEAD = ("rows", "LR AUROC", "LR accuracy", "HGB AUROC", "HGB accuracy", "TV 1-way", "TV 2-way",
               "mean |corr. diff|")
CLASSIFIERS = ("logistic_regression", "hist_gradient_boosting")   # tables/evaluate.py CLASSIFIERS (no sklearn here)


def number(v: Any, spec: str = ".4f") -> str:
    """A metric as text: '-' when absent or not a number (a 2-way TV of a one-column table)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
        return "-"
    return format(v, spec)


def schema_rows(schema: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per column of the stored schema: name, label or feature, type, its categories or numeric bounds
    (integer or not), its bins in the encoding (numerics), and whether empty cells are allowed."""
    s = TableSchema.from_dict(schema)
    rows = []
    for c in s.columns:
        if c.type == CATEGORICAL:
            values = ", ".join(c.categories) + (f" (other values map to {c.other})" if c.other is not None else "")
            bins = "-"
        else:
            values = f"{c.min:g} to {c.max:g}" + (", integers" if c.integer else "")
            bins = str(c.numeric_bins)
        rows.append((c.name, "label" if c.name == s.label else "feature", c.type, values, bins,
                     "yes" if c.missing else "no"))
    return rows


def metric_rows(ev: dict[str, Any]) -> list[tuple[str, ...]]:
    """This run, the baseline at the same epsilon (when evaluated) and the real training rows (the reference)."""
    def row(name: str, tstr: dict[str, Any], fid: dict[str, Any] | None) -> tuple[str, ...]:
        cells = [number((tstr.get(c) or {}).get(m)) for c in CLASSIFIERS for m in ("auroc", "accuracy")]
        return (name, *cells, *[number((fid or {}).get(k)) for k in ("tv_1way", "tv_2way", "correlation_diff")])

    rows = [row("this run (synthetic rows)", ev.get("tstr") or {}, ev.get("fidelity"))]
    base = ev.get("baseline")
    if base:
        rows.append(row(f"baseline: {base.get('method')} at ε = {number(base.get('epsilon'), '.2f')}",
                        base.get("tstr") or {}, base.get("fidelity")))
    if ev.get("real_reference"):
        rows.append(row("real training rows (reference)", ev["real_reference"], None))
    return rows


def fidelity_lines(ev: dict[str, Any]) -> list[str]:
    """The fidelity of the run's rows in words: what they were compared with, the worst category and missing gaps."""
    f = ev.get("fidelity") or {}
    lines = [f"Fidelity against the {ev.get('fidelity_against', 'real rows')}: mean total-variation distance of the "
             f"1-way marginals {number(f.get('tv_1way'))} and of the 2-way marginals {number(f.get('tv_2way'))}, mean "
             f"absolute difference of the correlations {number(f.get('correlation_diff'))}."]
    if f.get("worst_category"):
        lines.append(f"Worst category share gap (categories held by at least 1 % of the real rows): "
                     f"{number(f.get('worst_category_gap'))} at {f['worst_category']}.")
    if f.get("worst_missing_column"):
        lines.append(f"Worst gap in the share of empty cells: {number(f.get('worst_missing_gap'))} in "
                     f"{f['worst_missing_column']}.")
    for e in ev.get("never_generated") or []:
        lines.append(f"Never generated: {e.get('column')} = {e.get('category')} (held by "
                     f"{number(100 * float(e.get('real_share', 0)), '.1f')} % of the real rows).")
    return lines


def per_column_rows(ev: dict[str, Any]) -> list[tuple[str, ...]]:
    """(column, its TV, the baseline's TV) for every feature column, worst first, as evaluation.json lists them."""
    base = {e.get("column"): e.get("tv") for e in (ev.get("baseline") or {}).get("per_column") or []}
    return [(str(e.get("column")), number(e.get("tv")), number(base.get(e.get("column"))))
            for e in ev.get("per_column") or []]


def share_columns(ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The worst columns whose level shares (real vs synthetic) the evaluation kept, worst first."""
    return [e for e in ev.get("per_column") or [] if e.get("levels")]
