"""The report's figures as PNG bytes (matplotlib's Agg canvas, no pyplot state, no display needed)."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

DPI = 100


def _plain(names: Sequence[str]) -> list[str]:
    """Label names as literal text: matplotlib would read "$...$" as mathtext."""
    return [str(n).replace("$", r"\$") for n in names]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # constrained layout makes room for titles, tick labels and the colour bar inside the figure, so that nothing
    # overlaps; _png's tight bounding box then trims the margin
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def epsilon_plot(steps: Sequence[int], curves: dict[str, Sequence[float]], *, headline: str,
                 cap: float | None, delta: float) -> bytes:
    """Epsilon versus D steps, one line per conversion (the headline one solid), the cap dotted."""
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    for conversion, eps in curves.items():
        main = conversion == headline
        ax.plot(steps, eps, "-" if main else "--", lw=2 if main else 1.2,
                label=f"{conversion} conversion" + (" (headline)" if main else ""))
    if cap is not None:
        ax.axhline(cap, color="grey", ls=":", label=f"cap {cap:g}")
    if curves.get(headline):
        ax.plot([steps[-1]], [curves[headline][-1]], "o", color=ax.lines[0].get_color())
        ax.annotate(f"ε = {curves[headline][-1]:.2f}", (steps[-1], curves[headline][-1]), textcoords="offset points",
                    xytext=(-8, -16), ha="right", bbox={"fc": "white", "ec": "none", "alpha": 0.85})
    ax.set_xlabel("D steps")
    ax.set_ylabel(f"ε (δ = {delta:g})")
    top = max([max(e) for e in curves.values() if len(e)] + [cap or 0.0])
    ax.set_ylim(0, 1.15 * top if top > 0 else 1.0)  # room for the label above the last point
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def metric_plot(rows: list[dict], keys: Sequence[str], *, ylabel: str, title: str) -> bytes | None:
    """Lines of metrics.jsonl columns against the D step; None when none of the columns was logged."""
    if not any(r.get(key) is not None for r in rows for key in keys):
        return None
    fig = _figure(7, 3.2)
    ax = fig.add_subplot()
    steps = [r["step"] for r in rows]
    for key in keys:
        values = [r.get(key) for r in rows]
        if any(v is not None for v in values):
            ax.plot(steps, [np.nan if v is None else v for v in values], marker="." if len(rows) < 30 else None,
                    label=key)
    ax.set_xlabel("D steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def bars(values: Sequence[float | None], label_names: Sequence[str], *, ylabel: str, title: str = "",
         ylim: tuple[float, float] | None = None) -> bytes:
    """One bar per class; the title (if any) above the axes (report.html titles its charts in HTML instead)."""
    fig = _figure(max(4.0, 0.45 * len(values) + 1.5), 3.0)
    ax = fig.add_subplot()
    x = np.arange(len(values))
    ax.bar(x, [0 if v is None else v for v in values], color="#4477aa")
    ax.set_xticks(x)
    long = max(map(len, label_names), default=0) > 3
    ax.set_xticklabels(_plain(label_names[: len(values)]), rotation=45 if long else 0, ha="right" if long else "center",
                       rotation_mode="anchor")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(_plain([title])[0])
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def confusion_image(matrix: Sequence[Sequence[int]], label_names: Sequence[str]) -> bytes:
    """Row-normalised confusion matrix (true class down, predicted class across), counts written in cells."""
    m = np.asarray(matrix, dtype=float)
    k = len(m)
    frac = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig = _figure(max(4.0, 0.5 * k + 2), max(3.5, 0.5 * k + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    names = _plain(list(label_names[:k]) + [str(i) for i in range(len(label_names), k)])
    ax.set_xticks(range(k))
    long = max(map(len, names), default=0) > 3
    ax.set_xticklabels(names, rotation=45 if long else 0, ha="right" if long else "center", rotation_mode="anchor")
    ax.set_yticks(range(k))
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (real test set)")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if frac[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="fraction of the true class")
    return _png(fig)


def share_bars(levels: Sequence[str], real: Sequence[float], synthetic: Sequence[float], *, title: str) -> bytes:
    """Grouped bars of one column's level shares, real rows beside synthetic rows."""
    fig = _figure(max(4.5, 0.55 * len(levels) + 1.5), 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(levels))
    ax.bar(x - 0.2, real, width=0.4, color="#888888", label="real rows")
    ax.bar(x + 0.2, synthetic, width=0.4, color="#4477aa", label="synthetic rows")
    long = max(map(len, levels), default=0) > 3
    ax.set_xticks(x)
    ax.set_xticklabels(_plain(levels), rotation=45 if long else 0, ha="right" if long else "center")
    ax.set_ylabel("share of rows")
    ax.set_title(_plain([title])[0])
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return _png(fig)
