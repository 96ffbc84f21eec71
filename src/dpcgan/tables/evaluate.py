"""Utility and fidelity of a synthetic table against real rows (reads real data: outside any guarantee).

Utility: train on synthetic, test on real (TSTR) with logistic regression and HistGradientBoosting on a fixed
encoding from the schema (one-hot categories, numerics scaled by the public bounds, missing indicators): ROC AUC (binary; macro
one-vs-rest for more classes) and accuracy; the same classifiers trained on the real training rows are the
reference. Fidelity against the real rows: mean total-variation distance of the 1-way marginals and of all 2-way
marginals (every column discretised: categories with 'missing' as a value; numerics in `bins` equal-width bins on
the public bounds, plus 'missing'), and the mean absolute difference of the correlation matrices of the encoded
columns (label one-hot included)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd

from .encode import category_codes, encode_frame, numeric_values
from .schema import CATEGORICAL, Column, TableSchema

CLASSIFIERS = ("logistic_regression", "hist_gradient_boosting")


def _classifier(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if name == "logistic_regression":
        return LogisticRegression(max_iter=2000)
    return HistGradientBoostingClassifier(random_state=seed)


def utility(x_train, y_train, x_test, y_test, num_classes: int, seed: int = 0) -> dict:
    """{classifier: {"auroc", "accuracy"}} for classifiers fitted on (x_train, y_train), tested on the test rows."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    out = {}
    present = np.unique(y_train)
    for name in CLASSIFIERS:
        if len(present) < 2:  # a generator that emits one class only: nothing to learn
            out[name] = {"auroc": 0.5, "accuracy": float(np.mean(y_test == present[0])) if len(present) else 0.0,
                         "note": "the training rows hold a single class"}
            continue
        clf = _classifier(name, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(x_train, y_train)
        proba = np.zeros((len(x_test), num_classes))
        proba[:, clf.classes_] = clf.predict_proba(x_test)
        if num_classes == 2:
            auroc = roc_auc_score(y_test, proba[:, 1])
        else:
            auroc = roc_auc_score(y_test, proba, multi_class="ovr", average="macro", labels=list(range(num_classes)))
        out[name] = {"auroc": float(auroc), "accuracy": float(accuracy_score(y_test, proba.argmax(1)))}
    return out


def discretise(df: pd.DataFrame, schema: TableSchema, bins: int = 10) -> np.ndarray:
    """(n, columns) int codes: categories (missing last); numerics binned on the public bounds (missing: bins)."""
    codes = []
    for c in schema.columns:
        if c.type == CATEGORICAL:
            codes.append(category_codes(c, df[c.name], "table"))
        else:
            v, na = numeric_values(c, df[c.name], "table")
            b = np.clip(((v - c.min) / (c.max - c.min) * bins).astype(int), 0, bins - 1)
            codes.append(np.where(na, bins, b))
    return np.stack(codes, axis=1)


def _levels(c, bins: int) -> int:
    return len(c.categories) + 1 if c.type == CATEGORICAL else bins + 1


def _tv(a: np.ndarray, b: np.ndarray, size: int) -> float:
    pa = np.bincount(a, minlength=size) / max(len(a), 1)
    pb = np.bincount(b, minlength=size) / max(len(b), 1)
    return 0.5 * float(np.abs(pa - pb).sum())


def fidelity(synthetic: pd.DataFrame, real: pd.DataFrame, schema: TableSchema, bins: int = 10,
             codes: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """codes: discretise() of (synthetic, real) when the caller already has them."""
    s, r = codes if codes is not None else (discretise(synthetic, schema, bins), discretise(real, schema, bins))
    levels = [_levels(c, bins) for c in schema.columns]
    one = [_tv(s[:, j], r[:, j], levels[j]) for j in range(len(levels))]
    two = [_tv(s[:, i] * levels[j] + s[:, j], r[:, i] * levels[j] + r[:, j], levels[i] * levels[j])
           for i, j in itertools.combinations(range(len(levels)), 2)]
    return {"tv_1way": float(np.mean(one)), "tv_2way": float(np.mean(two)) if two else math.nan,
            "correlation_diff": correlation_difference(synthetic, real, schema),
            "tv_1way_by_column": dict(zip(schema.names, map(float, one))), **share_gaps(s, r, schema, bins)}


COMMON_CATEGORY = 0.01   # issue 23: every category held by >= 1 % of real rows must come out near its share


def share_gaps(s: np.ndarray, r: np.ndarray, schema: TableSchema, bins: int) -> dict:
    """The worst |synthetic - real| share over the categories held by >= 1 % of real rows (and which), and the worst
    |synthetic - real| missing rate over the nullable columns (and which), from discretise() codes."""
    worst_cat, worst_cat_at, worst_na, worst_na_at = 0.0, None, 0.0, None
    for j, c in enumerate(schema.columns):
        size = _levels(c, bins)
        ps, pr = (np.bincount(x[:, j], minlength=size) / max(len(x), 1) for x in (s, r))
        if c.type == CATEGORICAL:
            for k, name in enumerate(c.categories):
                if pr[k] >= COMMON_CATEGORY and abs(ps[k] - pr[k]) > worst_cat:
                    worst_cat, worst_cat_at = float(abs(ps[k] - pr[k])), f"{c.name}={name}"
        if c.missing and abs(ps[-1] - pr[-1]) >= worst_na:
            worst_na, worst_na_at = float(abs(ps[-1] - pr[-1])), c.name
    return {"worst_category_gap": worst_cat, "worst_category": worst_cat_at,
            "worst_missing_gap": worst_na if worst_na_at else None, "worst_missing_column": worst_na_at}


SHARE_COLUMNS = 3   # the worst-fitted columns whose shares (real vs synthetic) the evaluation keeps for the report


def level_names(c: Column, bins: int) -> list[str]:
    """The names of discretise()'s codes for column c: its categories or bin ranges, then '(missing)'."""
    if c.type == CATEGORICAL:
        return list(c.categories) + ["(missing)"]
    edges = np.linspace(c.min, c.max, bins + 1)
    return [f"{a:g} to {b:g}" for a, b in zip(edges[:-1], edges[1:])] + ["(missing)"]


def per_column(s: np.ndarray, r: np.ndarray, schema: TableSchema, bins: int,
               shares_for: int = SHARE_COLUMNS) -> list[dict]:
    """The 1-way TV of every feature column, worst first, from discretise() codes; the `shares_for` worst carry
    their level shares, real vs synthetic (the report's bar charts; a non-nullable column's empty level dropped)."""
    out = []
    for j, c in enumerate(schema.columns):
        if c.name == schema.label:
            continue
        size = _levels(c, bins)
        ps, pr = (np.bincount(x[:, j], minlength=size) / max(len(x), 1) for x in (s, r))
        keep = size if c.missing else size - 1
        out.append({"column": c.name, "type": c.type, "tv": 0.5 * float(np.abs(ps - pr).sum()),
                    "levels": level_names(c, bins)[:keep], "real": pr[:keep].tolist(),
                    "synthetic": ps[:keep].tolist()})
    out.sort(key=lambda e: -e["tv"])
    for e in out[shares_for:]:
        del e["levels"], e["real"], e["synthetic"]
    return out


def never_generated(s: np.ndarray, r: np.ndarray, schema: TableSchema) -> list[dict]:
    """Every schema category (label included) held by real rows but by no synthetic row, from discretise() codes."""
    out = []
    for j, c in enumerate(schema.columns):
        if c.type != CATEGORICAL:
            continue
        cs, cr = (np.bincount(x[:, j], minlength=len(c.categories) + 1) for x in (s, r))
        out += [{"column": c.name, "category": name, "real_share": float(cr[k] / max(len(r), 1))}
                for k, name in enumerate(c.categories) if cr[k] > 0 and cs[k] == 0]
    return out


def features(df: pd.DataFrame, schema: TableSchema) -> np.ndarray:
    """The evaluation's own fixed encoding (independent of the model's): one-hot categories (missing a category),
    numerics scaled to [-1, 1] by the public bounds (0 when empty) with a missing indicator when nullable."""
    cols = []
    for c in schema.features:
        if c.type == CATEGORICAL:
            codes = category_codes(c, df[c.name], "table")
            cols.append(np.eye(len(c.categories) + 1)[codes][:, : len(c.categories) + int(c.missing)])
        else:
            v, na = numeric_values(c, df[c.name], "table")
            cols.append(np.where(na, 0.0, 2.0 * (v - c.min) / (c.max - c.min) - 1.0)[:, None])
            if c.missing:
                cols.append(na[:, None].astype(float))
    return np.concatenate(cols, axis=1)


def labels(df: pd.DataFrame, schema: TableSchema, source: str) -> np.ndarray:
    return encode_frame(df[[schema.label] + [c.name for c in schema.features]], schema, source=source)[1]


def _with_label(df: pd.DataFrame, schema: TableSchema) -> np.ndarray:
    y = labels(df, schema, "table")
    return np.concatenate([features(df, schema), np.eye(len(schema.label_names))[y]], axis=1)


def correlation_difference(synthetic: pd.DataFrame, real: pd.DataFrame, schema: TableSchema) -> float:
    """Mean |corr_synthetic - corr_real| over pairs of encoded columns (constant columns skipped)."""
    a, b = _with_label(synthetic, schema), _with_label(real, schema)
    keep = (a.std(0) > 0) & (b.std(0) > 0)
    if keep.sum() < 2:
        return math.nan
    ca, cb = np.corrcoef(a[:, keep], rowvar=False), np.corrcoef(b[:, keep], rowvar=False)
    iu = np.triu_indices(int(keep.sum()), 1)
    return float(np.mean(np.abs(ca[iu] - cb[iu])))


def evaluate_table(synthetic: pd.DataFrame, real_test: pd.DataFrame, schema: TableSchema, *,
                   real_train: pd.DataFrame | None = None, seed: int = 0, reference: bool = True,
                   bins: int = 10) -> dict:
    """TSTR utility and fidelity of `synthetic` (fidelity, per-column TV and never-generated categories against the
    real training rows when given, else the test rows); with real_train and `reference`, the real-data reference
    (train on real, test on real)."""
    k = len(schema.label_names)
    xs, ys = features(synthetic, schema), labels(synthetic, schema, "synthetic")
    xt, yt = features(real_test, schema), labels(real_test, schema, "test")
    against = real_train if real_train is not None else real_test
    s, r = discretise(synthetic, schema, bins), discretise(against, schema, bins)
    result = {"n_synthetic": len(xs), "n_test": len(xt), "tstr": utility(xs, ys, xt, yt, k, seed),
              "fidelity": fidelity(synthetic, against, schema, bins, codes=(s, r)),
              "fidelity_against": "real training rows" if real_train is not None else "real test rows",
              "per_column": per_column(s, r, schema, bins), "never_generated": never_generated(s, r, schema)}
    if real_train is not None and reference:
        xr, yr = features(real_train, schema), labels(real_train, schema, "train")
        result["real_reference"] = utility(xr, yr, xt, yt, k, seed)
    return result


def _f(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def format_table(result: dict) -> str:
    """The run, the baseline (when evaluated) and the real-data reference side by side, then per-column TV."""
    lines = ["| rows | LR AUROC | LR accuracy | HGB AUROC | HGB accuracy | TV 1-way | TV 2-way | corr. diff |",
             "|---|---|---|---|---|---|---|---|"]

    def row(name: str, tstr: dict, fid: dict | None) -> str:
        cells = [_f(tstr.get(c, {}).get(m)) for c in CLASSIFIERS for m in ("auroc", "accuracy")]
        cells += [_f(fid.get(k)) if fid else "-" for k in ("tv_1way", "tv_2way", "correlation_diff")]
        return f"| {name} | " + " | ".join(cells) + " |"

    lines.append(row("this run (synthetic)", result["tstr"], result["fidelity"]))
    base = result.get("baseline")
    if base:
        lines.append(row(f"baseline: {base['method']}, ε = {base['epsilon']:.2f}", base["tstr"], base["fidelity"]))
    if result.get("real_reference"):
        lines.append(row("real training rows (reference)", result["real_reference"], None))
    f = result["fidelity"]
    lines.append(f"\nfidelity (against the {result['fidelity_against']}): mean TV 1-way {f['tv_1way']:.4f}, "
                 f"2-way {f['tv_2way']:.4f}, mean |correlation difference| {f['correlation_diff']:.4f}; worst "
                 f"category gap {f['worst_category_gap']:.4f}" + (f" ({f['worst_category']})" if f["worst_category"]
                                                                  else ""))
    if result.get("per_column"):
        base_tv = {e["column"]: e["tv"] for e in (base or {}).get("per_column", [])}
        lines.append("\nper-column TV 1-way, worst first" + (" (the baseline's in parentheses):" if base_tv else ":"))
        width = max(len(e["column"]) for e in result["per_column"])
        lines += [f"  {e['column']:<{width}}  {e['tv']:.4f}"
                  + (f"  ({_f(base_tv.get(e['column']))})" if base_tv else "") for e in result["per_column"]]
    return "\n".join(lines)


def never_generated_warnings(result: dict) -> list[str]:
    """One 'warning:' line per schema category that real rows hold and no synthetic row does."""
    return [f"warning: {e['column']} = {e['category']} is never generated (real rows: {100 * e['real_share']:.1f} %)"
            for e in result.get("never_generated", [])]
