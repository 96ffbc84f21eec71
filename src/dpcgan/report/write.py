"""write_report: build report.html and MODEL_CARD.md from a run directory and write both atomically."""

from __future__ import annotations

from pathlib import Path

from ..io import write_bytes_atomic
from .html import render_html
from .model_card import render_model_card
from .run_files import load_run
from .statement import privacy_statement

REPORT_FILE = "report.html"
MODEL_CARD_FILE = "MODEL_CARD.md"


def write_report(run: str | Path, *, public_only: bool = False) -> tuple[Path, Path]:
    """Write RUN/report.html and RUN/MODEL_CARD.md; return their paths. public_only: leave the private
    section (metrics.jsonl, audit.json) out of report.html, which is then releasable like MODEL_CARD.md."""
    files = load_run(run, private=not public_only)
    statement = privacy_statement(files.privacy, files.label_names)
    html = render_html(files, statement, public_only=public_only)
    card = render_model_card(load_run(run, private=False) if not public_only else files, statement)
    html_path, card_path = Path(run) / REPORT_FILE, Path(run) / MODEL_CARD_FILE
    write_bytes_atomic(html_path, html.encode("utf-8"))
    write_bytes_atomic(card_path, card.encode("utf-8"))
    return html_path, card_path
