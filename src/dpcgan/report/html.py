"""report.html: one self-contained page (CSS inline, images as data: URIs, no script, no network)."""

from __future__ import annotations

import datetime
import json
from html import escape
from typing import Any

import numpy as np

from .. import __version__
from ..evaluate.report import ROWS as EVAL_ROWS
from ..evaluate.sources import describe as describe_sources
from . import plots, table_sections
from .epsilon_curve import d_steps, epsilon_after, epsilon_by_step
from .html_parts import ZOOM_CSS, img, pixel_scale, png_size, table as _table, zoomable
from .run_files import RunFiles
from .statement import Statement, label_prior_sentence, mechanism_summary

MAX_PROGRESS = 12  # grids shown in the strip (evenly spaced, the last always included)
GRID_PAD = 2       # dpcgan.io.image_grid's padding between cells, in image pixels
# widths the pixel grids are magnified towards (an integer factor, at least 2): a 28-pixel 10x10 grid (302 px) is
# shown 3x (906 px, the page is 1,050 wide) and each progress grid 2x, in a strip that scrolls sideways
SAMPLES_WIDTH, PROGRESS_WIDTH = 920, 620

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:0 auto;
padding:1.5em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#666;font-size:.9em}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0;font-weight:600}
.private-banner{background:#b00020;color:#fff;font-size:1.15em}
.release-banner{background:#b00020;color:#fff;font-size:1.6em;text-align:center;letter-spacing:.05em}
.public-banner{background:#e6f4ea;color:#1e5631;border:1px solid #9bd3a8}
.note{background:#fff6e0;border:1px solid #f0c36d;padding:.6em 1em;border-radius:6px}
.epsilon{font-size:2.2em;font-weight:700;margin:.2em 0}
.private{border:4px solid #b00020;border-radius:8px;padding:0 1em 1em 1em;margin-top:1.6em}
.private h2{color:#b00020}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;
vertical-align:top} th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}
.strip{display:flex;flex-wrap:nowrap;gap:1.2em;overflow-x:auto;padding-bottom:.5em}
.strip figure{flex:0 0 auto;text-align:center}
.strip figcaption{font-size:1.05em;font-weight:600;margin-top:.3em}
#samples-grid{overflow-x:auto}
figure.chart{margin:0 0 1.2em 0} figure.chart figcaption{font-weight:600;margin-bottom:.3em}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
#label-prior code{white-space:nowrap}
""" + ZOOM_CSS


def _fmt(v: Any, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, (int, float)) else escape(str(v))


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in items) + "</ul>"


def privacy_section(run: RunFiles, st: Statement) -> str:
    p = run.privacy
    out = ['<section id="privacy"><h2>Privacy guarantee</h2>']
    if st.private:
        out.append(f'<p>ε to quote:</p><p class="epsilon" id="epsilon-to-quote">ε = {st.epsilon:.2f}, '
                   f'δ = {st.delta:g}</p>')
        out.append(f"<p><b>How to quote it:</b> {escape(st.how_to_quote)}</p>")
    else:
        out.append('<p class="epsilon">No privacy guarantee</p>')
    out.append(f"<p><b>Guarantee:</b> {escape(st.guarantee)}</p>")
    out.append(f"<p><b>What is protected:</b> {escape(st.protected)}.</p>")
    out.append(f"<p><b>Adjacency:</b> {escape(st.adjacency)}.</p>")
    if st.private:
        extra = [f"{escape(c)}: ε = {_fmt(e)}" for c, e in (p.get("epsilon_by_conversion") or {}).items()]
        if st.epsilon_pld is not None and st.conversion != "pld":   # with a PLD headline it is the headline
            extra.append(f"PLD accounting (tighter, not the headline): ε = {st.epsilon_pld:.4f}")
        if st.epsilon_cap is not None:
            extra.append(f"the run's cap: ε ≤ {st.epsilon_cap:g}")
        out.append(f"<p><b>Mechanism:</b> {escape(mechanism_summary(p, st.other_releases))}. "
                   f"{escape(str(p.get('accountant', '')))}: " + "; ".join(extra) + ".</p>")
    out.append("<h3>Assumed public</h3>" + _table([(escape(k), escape(v)) for k, v in st.assumed_public]))
    out.append("<h3>Not covered by the guarantee</h3>" + _list(st.not_covered))
    out.append("<h3>Resumes</h3>")
    if st.resumes:
        if st.forks:
            out.append(f'<p class="banner private-banner">{st.forks} FORK(S): this run resumed a checkpoint its run '
                       "had already continued past. The released model is one of several runs on the same data, "
                       "which together cost more than the ε above.</p>")
        out.append(_list(st.resumes))
    else:
        out.append("<p>No resumes: the run was never interrupted and resumed.</p>")
    out.append(f"<p><b>Randomness:</b> {escape(str(p.get('randomness', '')))}</p></section>")
    return "".join(out)


def epsilon_section(run: RunFiles, st: Statement) -> str:
    events = run.privacy.get("events") or []
    out = ['<section id="epsilon-curve"><h2>' + ("ε versus D steps" if d_steps(events) or not st.private else
                                                  "ε: the releases") + "</h2>"]
    if not st.private or not events:
        return "".join(out) + "<p>No privacy accounting: the run is not private.</p></section>"
    if not d_steps(events):   # a marginal-fitted table: releases over the whole table only, no curve to draw
        rows = [(escape(str(e.get("release", "-"))), _fmt(e.get("noise_multiplier"), ".4g"), _fmt(e.get("count"), "d"))
                for e in events]
        return "".join(out) + ("<p>No D steps: ε is spent by these releases over the whole data set, in the order "
                               "they ran (privacy.json's ledger, public); together they cost the ε to quote.</p>"
                               + _table(rows, ("release", "noise multiplier", "count")) + "</section>")
    curves = {}
    steps: list[int] = []
    for conversion in dict.fromkeys([st.conversion] + list(run.privacy.get("epsilon_by_conversion") or {})):
        # at the delta the ledger's RDP was converted at (without a DP schema's threshold delta)
        steps, curves[conversion] = epsilon_by_step(events, run.privacy.get("delta_rdp", st.delta), conversion)
    out.append(img(plots.epsilon_plot(steps, curves, headline=st.conversion, cap=st.epsilon_cap, delta=st.delta),
                   "epsilon versus D steps"))
    out.append("<p>Recomputed from the ledger of D steps in privacy.json (public), with the RDP accountant; the "
               "last point is the ε to quote.</p></section>")
    return "".join(out)


def samples_section(run: RunFiles) -> str:
    out = ['<section id="samples"><h2>Samples</h2>']
    if run.samples_png is None:
        out.append("<p>No samples.png in the run directory.</p>")
    else:
        h = run.image_shape[1]
        rows = grid_rows(run.samples_png, h)
        names = [run.label_names[r] if r < len(run.label_names) else f"row {r}" for r in range(rows)]
        native = png_size(run.samples_png)[0]
        out.append(zoomable(run.samples_png, "samples: one row per class", zoom_id="samples-grid", back="samples",
                            scale=pixel_scale(native, SAMPLES_WIDTH), row_labels=names, pad=GRID_PAD, cell=h))
        out.append("<p>samples.png: 10 samples per class from the released generator, one row per class, shown at "
                   f"{pixel_scale(native, SAMPLES_WIDTH)}× its size (click to enlarge).</p>")
    prior = escape(label_prior_sentence(run.config, run.privacy, run.label_names))
    prior = prior.replace("--label-prior dp-histogram", "<code>--label-prior dp-histogram</code>")
    out.append(f'<p id="label-prior">{prior} '
               "The grids here show 10 samples of every class whatever the prior; <code>dpcgan sample RUN --label-prior "
               "uniform</code> or a file of K weights overrides it.</p>")
    out.append('<h3 id="progress">Training progress</h3>')
    if not run.progress:
        out.append("<p>No progress grids (the run has no progress/ folder).</p>")
    else:
        shown = run.progress
        if len(shown) > MAX_PROGRESS:
            picks = sorted({int(round(i)) for i in np.linspace(0, len(shown) - 1, MAX_PROGRESS)})
            shown = [shown[i] for i in picks]
        out.append('<div class="strip">' + "".join(
            zoomable(png, f"samples at D step {step}", zoom_id=f"progress-{step}", back="progress",
                     scale=pixel_scale(png_size(png)[0], PROGRESS_WIDTH),
                     caption=f"D step {step}{_epsilon_at(run, step)}")
            for step, png in shown) + "</div>")
        note = f" (showing {len(shown)} of {len(run.progress)})" if len(shown) < len(run.progress) else ""
        out.append(f"<p>Grids of the generator saved during training{note}, oldest first (scroll sideways; click one "
                   "to enlarge): post-processing of the released generator's history, covered by the run's ε. Rows, "
                   f"top to bottom: {escape(', '.join(run.label_names))}.</p>")
    return "".join(out) + "</section>"


def grid_rows(png: bytes, cell: int) -> int:
    """The number of rows of a grid laid out by dpcgan.io.image_grid, from its height."""
    return max(1, (png_size(png)[1] - GRID_PAD) // (cell + GRID_PAD))


def _epsilon_at(run: RunFiles, step: int) -> str:
    """' · ε = x.xx' spent by D step `step` (recomputed from the public ledger), or '' for a non-private run."""
    events = run.privacy.get("events") or []
    quote = run.privacy.get("report_this") or {}
    if not events or quote.get("epsilon") is None:
        return ""
    try:
        eps = epsilon_after(events, step, run.privacy.get("delta_rdp", quote.get("delta")), quote.get("conversion"))
    except Exception:   # a caption must never stop the report
        return ""
    return f" · ε = {eps:.2f}"


def evaluation_section(run: RunFiles) -> str:
    ev = run.evaluation
    out = ['<section id="evaluation"><h2>Evaluation</h2>']
    if ev is None and run.evaluation_withheld:
        return "".join(out) + (f'<p id="evaluation-withheld">Left out: the evaluation in '
                               f"<code>{escape(run.evaluation_withheld)}</code> read private data, or does not record "
                               "what it read (its numbers describe that data, outside the DP guarantee). The private "
                               "report holds it; <code>dpcgan report RUN --include-private-evaluation</code> puts it "
                               "here.</p></section>")
    if ev is None:
        return "".join(out) + "<p>Not evaluated (no evaluation.json; run <code>dpcgan evaluate RUN</code>).</p></section>"
    if run.evaluation_private:
        out.append('<p class="banner private-banner" id="evaluation-on-private-data">This evaluation was computed on '
                   f"private data ({escape(describe_sources(ev))}): its numbers describe that data and are NOT "
                   "covered by the DP guarantee.</p>")
    if run.schema:
        return "".join(out) + table_sections.evaluation_body(ev, private=run.evaluation_private) + "</section>"
    out.append(f'<p class="note">{escape(str(ev.get("note", "")))}</p>')
    out.append(f"<p>{_fmt(ev.get('n_train'), 'd')} records ({escape(str(ev.get('input', '')))}), tested on "
               f"{_fmt(ev.get('n_real_test'), 'd')} real test records of {escape(str(ev.get('dataset', '')))}.</p>")
    rows = [(escape(label), fmt.format(get(ev))) for label, get, fmt in EVAL_ROWS if get(ev) is not None]
    if rows:
        out.append('<table id="headline-metrics">' + "".join(f"<tr><td>{a}</td><td class=\"num\">{b}</td></tr>"
                                                            for a, b in rows) + "</table>")
    names = run.label_names
    cnn = ev.get("cnn")
    if cnn:
        # one figure per chart, each titled in HTML above it: a title drawn inside can run into its neighbour
        out.append(_chart(plots.bars(cnn["per_class_accuracy"], names, ylabel="accuracy", ylim=(0, 1)),
                          "per-class accuracy", "CNN trained on synthetic data: accuracy per class on the real test set"))
        out.append(_chart(plots.confusion_image(cnn["confusion_matrix"], names), "confusion matrix",
                          "Confusion matrix of that CNN on the real test set (row: true class, column: predicted)"))
    if ev.get("label_histogram"):
        out.append(_chart(plots.bars(ev["label_histogram"], names, ylabel="records"), "label histogram",
                          "Label histogram of the evaluated data"))
    return "".join(out) + "</section>"


def _chart(png: bytes, alt: str, title: str) -> str:
    return f'<figure class="chart"><figcaption>{escape(title)}</figcaption>{img(png, alt)}</figure>'


def private_section(run: RunFiles) -> str:
    out = ['<section id="private" class="private"><p class="banner private-banner">PRIVATE — do not release. '
           "Everything in this box is computed from the private training data without noise and is NOT covered "
           "by the DP guarantee.</p><h2>Private: training diagnostics</h2>"]
    rows = run.metrics
    if rows:
        for keys, ylabel, title, alt in [
                (("d_loss_real", "d_loss_fake", "g_loss"), "loss", "Losses (private/metrics.jsonl)", "loss curves"),
                (("clipped_fraction",), "fraction", "Fraction of per-example gradients clipped", "clipped fraction")]:
            png = plots.metric_plot(rows, keys, ylabel=ylabel, title=title)
            out.append(img(png, alt) if png else f"<p>No {escape(alt)} logged.</p>")
        out.append(f"<p>{len(rows)} logged D steps from private/metrics.jsonl.</p>")
    else:
        out.append("<p>No private/metrics.jsonl.</p>")
    out.append("<h3>Audit</h3>")
    audit = run.audit
    if audit is None:
        out.append("<p>No private/audit.json (run <code>dpcgan audit RUN</code>).</p>")
    else:
        out.append(f'<p class="note">{escape(str(audit.get("note", "")))}</p>')
        attacks = audit.get("membership", {}).get("attacks", {})
        table = [(escape(name), _fmt(a.get("auc"), ".3f"), _fmt((a.get("tpr_at_fpr") or {}).get("0.01"), ".3f"),
                  _fmt(a.get("epsilon_lower_bound"), ".3f")) for name, a in attacks.items()]
        out.append(f"<p>Membership inference ({audit.get('membership', {}).get('n_per_side', '?')} members and "
                   f"non-members each); accounted ε = {_fmt(audit.get('accounted_epsilon'))}.</p>")
        out.append(_table(table, ("attack", "AUC", "TPR at 1% FPR", "empirical ε lower bound")))
        canary = audit.get("canary")
        if canary:
            out.append(f"<p>Canary experiment ({canary.get('copies')} copies, {canary.get('trials_per_arm')} trials "
                       f"per arm): AUC {_fmt(canary.get('attack', {}).get('auc'), '.3f')}, empirical ε ≥ "
                       f"{_fmt(canary.get('attack', {}).get('epsilon_lower_bound'), '.3f')}, bound "
                       f"{_fmt(canary.get('bound'), '.3f')}, within the bound: {escape(str(canary.get('within_bound')))}.</p>")
    return "".join(out) + "</section>"


def compact_json(obj: Any, indent: int = 0) -> str:
    """JSON with nested dicts indented and lists of scalars kept on one line (label priors, betas, shapes)."""
    pad = "  " * indent
    if isinstance(obj, dict) and obj:
        items = [f'{pad}  {json.dumps(k)}: {compact_json(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(f"{pad}  {compact_json(v, indent + 1)}" for v in obj) + f"\n{pad}]"
    return json.dumps(obj)


def config_section(run: RunFiles) -> str:
    software = run.privacy.get("software", {})
    shown, note = ((table_sections.config_shown(run.config), ", less the schema (the Schema section "
                    "shows it) and the fields a table run does not use") if run.schema else (run.config, ""))
    return ('<section id="config"><h2>Configuration and software</h2>'
            f"<p>config.json (public){escape(note)}:</p><pre>" + escape(compact_json(shown))
            + "</pre><p>Software that trained the run:</p>"
            + _table([(escape(k), escape(str(v))) for k, v in software.items()], ("package", "version"))
            + f"<p>Report written by dpcgan {escape(__version__)}.</p></section>")


def render_html(run: RunFiles, st: Statement, *, public_only: bool, only_public_written: bool = False) -> str:
    """The page: public_only leaves the private box out (RUN/report.html); only_public_written says that
    `dpcgan report --public-only` was given, so that no private/report.html was written beside it."""
    name = run.path.resolve().name
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    top = []
    if st.release_note:
        top.append(f'<p class="banner release-banner" id="not-for-release">{escape(st.release_note)}</p>')
    if public_only:
        evaluation = ("plus the evaluation on public benchmark data (outside the guarantee, see its note)"
                      if run.evaluation is not None and not run.evaluation_private else
                      "plus, on request (--include-private-evaluation), the evaluation on private data (outside the "
                      "guarantee: it describes that data)" if run.evaluation is not None else
                      "without the evaluation on private data" if run.evaluation_withheld else "and no evaluation")
        holds = (f"it holds only what is covered by the run's ε or public by assumption, {evaluation}. The private "
                 "training diagnostics and the audit are left out")
        # the flag is named only where it was given (issue 24 item 16); without it this is the releasable twin of
        # private/report.html
        top.append('<p class="banner public-banner" id="public-only">Public report (--public-only): '
                   f"{holds}; no private report was written.</p>" if only_public_written else
                   f'<p class="banner public-banner" id="releasable">Releasable report: {holds} (they are in '
                   "private/report.html, written beside it; do not release that one).</p>")
    else:
        top.append('<p class="banner private-banner" id="contains-private">This report contains PRIVATE content '
                   "(the red box near the end: training losses, clipped fraction, audit): do not release it. "
                   f"For a releasable report run <code>dpcgan report {escape(str(run.path))} --public-only</code>; "
                   "MODEL_CARD.md holds no private content.</p>")
    # a table run shows its schema and a few rows where an image run shows samples.png and its progress grids
    samples = ([table_sections.schema_section(run), table_sections.rows_section(run)] if run.schema
               else [samples_section(run)])
    body = [privacy_section(run, st), epsilon_section(run, st), *samples, evaluation_section(run)]
    if not public_only:
        body.append(private_section(run))
    body.append(config_section(run))
    title = f"dpcgan run report: {name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"meta\">written {now} by dpcgan {escape(__version__)} from "
            f"{escape(name if public_only else str(run.path))}</p>" + "".join(top) + "".join(body) + "</body></html>\n")
