"""The parts of MODEL_CARD.md that differ for a table run: what the model draws (rows), its public schema as a
Markdown table, the model and data, a few synthetic rows, the evaluation (the run beside the baseline at the same
epsilon and the real-data reference, per-column TV worst first) and the intended use, in rows' words."""

from __future__ import annotations

from typing import Any

from ..evaluate.sources import describe as describe_sources
from .run_files import RunFiles
from .statement import Statement
from .table_facts import METRIC_HEAD, SCHEMA_HEAD, fidelity_lines, metric_rows, per_column_rows, schema_rows


def _cell(s: object) -> str:
    """A user-given string as one literal Markdown table cell: no inline HTML, no column break."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return (["| " + " | ".join(map(_cell, head)) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(_cell(c) if c != "" else "*(empty)*" for c in r) + " |" for r in rows])


def intro_lines(run: RunFiles, st: Statement) -> list[str]:
    if not st.private:
        how = "without privacy, --mode off"
    elif run.privacy.get("marginals"):
        how = ("fitted to differentially private count tables of the columns, no discriminator; `sample` rakes its "
               "draws to the released column shares")
    else:
        how = "a DP-CGAN: the discriminator trained with DP-SGD, the generator only through it"
    return ["A conditional generator of labeled table rows (`generator.pt`) trained with dpcgan (" + how + "). It "
            "draws labeled synthetic rows with the columns of the schema below: `dpcgan sample RUN -n N --out "
            "rows.csv`.", ""]


def body_lines(run: RunFiles, st: Statement) -> list[str]:
    cfg: dict[str, Any] = run.config.get("config", {})
    model: dict[str, Any] = run.config.get("model", {})
    n = run.privacy.get("assumed_public", {}).get("n")
    out = ["## Schema", "", "Public (assumed known without the private rows): each column's type, its categories or "
           "numeric bounds, its bins in the encoding and whether its cells may be empty.", ""]
    out += markdown_table(SCHEMA_HEAD, schema_rows(run.schema or {}))
    out += ["", "## Model and data", "",
            f"- Architecture: {_cell(model.get('arch', cfg.get('arch')))}, latent dimension {model.get('latent_dim')}, "
            f"each row encoded as {run.image_shape[-1]} values.",
            f"- Classes ({run.num_classes}, the label column {_cell((run.schema or {}).get('label'))}): "
            f"{_cell(', '.join(run.label_names))}.",
            f"- Training data: {_cell(cfg.get('dataset'))} ({n} rows; named, not located).",
            "- The full configuration is in `config.json`.", ""]
    out += ["## Synthetic rows", ""]
    if run.table_rows:
        head, *rows = run.table_rows
        out += markdown_table(tuple(head), [tuple(r) for r in rows])
        out += ["", f"{len(rows)} rows drawn from the released generator when this card was written (post-processing, "
                "covered by ε); *(empty)* is a generated missing value."]
    else:
        out += [f"No rows to show: {_cell(run.table_rows_note or 'no generator')}."]
    out += ["", "## Evaluation", ""] + _evaluation_lines(run)
    out += ["", "## Intended use and limits", "",
            "- Synthetic labeled rows for exploration, prototyping and training downstream models, shared in place of "
            "the private table" + (" (once trained in release mode: this run is not for release)." if st.release_note
                                   else "."),
            "- DP bounds what the model reveals about any single row; it does not make the synthetic rows accurate. "
            "Check the evaluation (and the per-column fit) before relying on them.",
            "- Each further training on the same data costs its own ε; keeping the best of several runs is not "
            "covered."]
    return out


def _evaluation_lines(run: RunFiles) -> list[str]:
    ev = run.evaluation
    if ev is None and run.evaluation_withheld:
        return [f"Left out: the evaluation in `{run.evaluation_withheld}` read private data (its numbers describe that "
                "data, outside the DP guarantee); `dpcgan report RUN --include-private-evaluation` puts it here."]
    if ev is None:
        return ["Not evaluated (`dpcgan evaluate RUN --test test.csv` writes the evaluation)."]
    out = []
    if run.evaluation_private:
        out += [f"> **Computed on private data ({_cell(describe_sources(ev))}), included on request: these numbers "
                "describe that data and are not covered by the DP guarantee.**", ""]
    out += [f"{ev.get('n_synthetic', '-')} synthetic rows, tested on {ev.get('n_test', '-')} real test rows (train on "
            "synthetic, test on real).", ""]
    out += markdown_table(METRIC_HEAD, metric_rows(ev))
    if not ev.get("baseline"):
        out += ["", "No baseline row: the evaluation ran without it."]
    out += [""] + [_cell(line) for line in fidelity_lines(ev)]
    rows = per_column_rows(ev)
    if rows:
        out += ["", "Per-column fit, worst first:", ""]
        out += markdown_table(("column", "TV 1-way", "baseline TV 1-way"), rows)
    return out
