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
from .schema import CATEGORICAL, TableSchema

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


def fidelity(synthetic: pd.DataFrame, real: pd.DataFrame, schema: TableSchema, bins: int = 10) -> dict:
    s, r = discretise(synthetic, schema, bins), discretise(real, schema, bins)
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
                   real_train: pd.DataFrame | None = None, seed: int = 0) -> dict:
    """TSTR utility and fidelity of `synthetic` (fidelity against the real training rows when given, else the test
    rows); with real_train, the real-data reference (train on real, test on real)."""
    k = len(schema.label_names)
    xs, ys = features(synthetic, schema), labels(synthetic, schema, "synthetic")
    xt, yt = features(real_test, schema), labels(real_test, schema, "test")
    result = {"n_synthetic": len(xs), "n_test": len(xt), "tstr": utility(xs, ys, xt, yt, k, seed),
              "fidelity": fidelity(synthetic, real_train if real_train is not None else real_test, schema),
              "fidelity_against": "real training rows" if real_train is not None else "real test rows"}
    if real_train is not None:
        xr, yr = features(real_train, schema), labels(real_train, schema, "train")
        result["real_reference"] = utility(xr, yr, xt, yt, k, seed)
    return result


def format_table(result: dict) -> str:
    lines = ["| classifier | TSTR AUROC | TSTR accuracy | real AUROC | real accuracy |", "|---|---|---|---|---|"]
    ref = result.get("real_reference", {})
    for name in CLASSIFIERS:
        t, r = result["tstr"][name], ref.get(name, {})
        fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(f"| {name} | {fmt(t['auroc'])} | {fmt(t['accuracy'])} | {fmt(r.get('auroc'))} | "
                     f"{fmt(r.get('accuracy'))} |")
    f = result["fidelity"]
    lines.append(f"\nfidelity (against the {result['fidelity_against']}): mean TV 1-way {f['tv_1way']:.4f}, "
                 f"2-way {f['tv_2way']:.4f}, mean |correlation difference| {f['correlation_diff']:.4f}")
    return "\n".join(lines)
