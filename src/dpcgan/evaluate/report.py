"""A plain-text table of an evaluation result (and, optionally, the real-data reference beside it)."""

from __future__ import annotations

import textwrap
from typing import Any, Callable


def _at(*path: str) -> Callable[[dict[str, Any]], Any]:
    """A getter for a nested key that yields None when any level is missing (metric not requested)."""
    def get(result: dict[str, Any]) -> Any:
        node: Any = result
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node
    return get


ROWS = [
    ("LR one-vs-rest: AUROC (micro)", _at("paper", "logistic_regression", "auroc"), "{:.4f}"),
    ("LR one-vs-rest: accuracy", _at("paper", "logistic_regression", "accuracy"), "{:.4f}"),
    ("MLP (alpha=1): AUROC (micro)", _at("paper", "mlp", "auroc"), "{:.4f}"),
    ("MLP (alpha=1): accuracy", _at("paper", "mlp", "accuracy"), "{:.4f}"),
    ("CNN accuracy", _at("cnn", "accuracy"), "{:.4f}"),
    ("FID-like vs real test (lower is better)", _at("fidelity", "fid_like"), "{:.3f}"),
    ("FID-like floor: real train vs real test", _at("fidelity", "fid_like_real_train_vs_test"), "{:.3f}"),
    ("precision (k-NN, FID-like features)", _at("fidelity", "precision_recall", "precision"), "{:.4f}"),
    ("recall (k-NN; low: mode collapse)", _at("fidelity", "precision_recall", "recall"), "{:.4f}"),
    ("P/R floor: real train vs real test", _at("fidelity", "precision_recall_real_train_vs_test", "recall"), "{:.4f}"),
]
COLUMN = 18


def _counts_line(values: list[Any], fmt: Callable[[Any], str], per_line: int = 10,
                 names: list[str] | None = None) -> list[str]:
    """Values per class, 10 a line; with the label names, one 'name  value' line per class instead."""
    if names and len(names) == len(values):
        width = max(len(n) for n in names) + 2
        return ["  " + n.ljust(width) + fmt(v) for n, v in zip(names, values)]
    lines = []
    for start in range(0, len(values), per_line):
        chunk = values[start : start + per_line]
        lines.append("  class " + " ".join(f"{start + i:>6d}" for i in range(len(chunk))))
        lines.append("        " + " ".join(f"{fmt(v):>6}" for v in chunk))
    return lines


def format_table(result: dict[str, Any], reference: dict[str, Any] | None = None,
                 label_names: list[str] | None = None) -> str:
    """The headline metrics of `result`, with a second column for `reference` (evaluate_real_reference)
    when given, then per-class CNN accuracy, the label counts, timings and the privacy note."""
    columns = [result] + ([reference] if reference is not None else [])
    names = [result["input"].split(" (")[0]] + (["real (reference)"] if reference is not None else [])
    width = max(len(label) for label, _, _ in ROWS) + 2
    out = [f"Evaluation on {result['dataset']}: {result['n_train']} records ({result['input']}), "
           f"tested on {result['n_real_test']} real test records ({result['num_classes']} classes)", "",
           "metric".ljust(width) + "".join(f"{n:>{COLUMN}}" for n in names)]
    for label, get, fmt in ROWS:
        cells = ["-" if get(r) is None else fmt.format(get(r)) for r in columns]
        if any(c != "-" for c in cells):
            out.append(label.ljust(width) + "".join(f"{c:>{COLUMN}}" for c in cells))
    if "fidelity" in result:
        out.append("Inception FID".ljust(width) + f"{'not computed':>{COLUMN}}")
    if "cnn" in result:
        out += ["", "CNN per-class accuracy on the real test set:"]
        out += _counts_line(result["cnn"]["per_class_accuracy"], lambda v: "-" if v is None else f"{v:.3f}",
                            names=label_names)
    out += ["", "Label counts of the evaluated data:"] + _counts_line(result["label_histogram"], str,
                                                                      names=label_names)
    timing = {k: v for k, v in result.get("timing_s", {}).items() if ":" not in k}
    if timing:
        out += ["", "Time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items())]
    out += [""] + textwrap.wrap("Note: " + result["note"], 100)
    return "\n".join(out)
