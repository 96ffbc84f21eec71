"""The parts of report.html that differ for a table run: its public schema, a few synthetic rows (in place of
samples.png and the progress grids), the evaluation body (the run beside the baseline at the same epsilon and the
real-data reference, fidelity, per-column TV worst first, real-vs-synthetic shares of the worst columns), and the
configuration without the schema (shown as a table instead) or the image-only fields."""

from __future__ import annotations

from html import escape
from typing import Any

from . import plots
from .html_parts import img, table
from .run_files import RunFiles
from .table_facts import (METRIC_HEAD, SCHEMA_HEAD, fidelity_lines, metric_rows, per_column_rows, schema_rows,
                          share_columns)

IMAGE_ONLY_KEYS = {"image_size", "channels", "image_shape", "schema"}   # config.json keys a table report leaves out


def schema_section(run: RunFiles) -> str:
    schema = run.schema or {}
    rows = [tuple(escape(c) for c in r) for r in schema_rows(schema)]
    return ('<section id="schema"><h2>Schema</h2><p>The public schema (assumed public, not read from the private '
            "rows at training time): it fixes each column's type, its categories or numeric bounds, and which cells "
            "may be empty. Numeric values outside the bounds are clipped to them.</p>"
            + table(rows, SCHEMA_HEAD, table_id="schema-table") + "</section>")


def rows_section(run: RunFiles) -> str:
    out = ['<section id="synthetic-rows"><h2>Synthetic rows</h2>']
    if not run.table_rows:
        return "".join(out) + f"<p>No rows to show: {escape(run.table_rows_note or 'no generator')}.</p></section>"
    head, *rows = run.table_rows
    out.append(table([tuple(escape(c) if c else "<i>(empty)</i>" for c in r) for r in rows], tuple(head),
                     table_id="synthetic-rows-table"))
    out.append(f"<p>{len(rows)} rows drawn from the released generator.pt with its trained label shares when this "
               "report was written: post-processing, covered by the run's ε. An empty cell is a generated missing "
               "value.</p>")
    return "".join(out) + "</section>"


def evaluation_body(ev: dict[str, Any], *, private: bool) -> str:
    """The table evaluation (evaluation_section in html.py decides whether it may be shown at all)."""
    out = [f"<p>{escape(str(ev.get('n_synthetic', '-')))} synthetic rows, tested on "
           f"{escape(str(ev.get('n_test', '-')))} real test rows: train on synthetic, test on real (logistic "
           "regression and HistGradientBoosting; ROC AUC and accuracy).</p>",
           table([tuple(escape(c) for c in r) for r in metric_rows(ev)], METRIC_HEAD, table_id="table-metrics")]
    if not ev.get("baseline"):
        out.append('<p id="no-baseline">No baseline row: the evaluation ran without it (<code>dpcgan evaluate RUN '
                   "--baseline marginals</code> with the run's training file adds it).</p>")
    else:
        out.append("<p>The baseline: the label-conditional independent-marginals DP synthesizer, fitted on the same "
                   "real training rows at the run's ε and δ and sampled to the same number of rows.</p>")
    out.append("<p>" + " ".join(escape(line) for line in fidelity_lines(ev)) + "</p>")
    rows = per_column_rows(ev)
    if rows:
        out.append("<h3>Per-column fit, worst first</h3>"
                   + table([(escape(c), tv, b) for c, tv, b in rows], ("column", "TV 1-way", "baseline TV 1-way"),
                           table_id="per-column-tv"))
    charts = share_columns(ev)
    if charts:
        where = "private data" if private else "the evaluation's real data"
        out.append('<h3>Real versus synthetic shares of the worst columns</h3><div id="column-shares">')
        for e in charts:
            png = plots.share_bars(e["levels"], e["real"], e["synthetic"],
                                   title=f"{e['column']}: share of rows per value (TV {e['tv']:.3f})")
            out.append(img(png, f"shares of {e['column']}, real versus synthetic"))
        out.append(f'</div><p class="note" id="shares-outside-guarantee">Computed by the evaluation on {where} '
                   "(the real rows' shares): outside the DP guarantee, like every number in this section.</p>")
    return "".join(out)


def config_shown(config: dict[str, Any]) -> dict[str, Any]:
    """config.json without the schema (the Schema section shows it) and the fields that only images have."""
    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in IMAGE_ONLY_KEYS}
        return obj
    return strip(config)
