"""write_report: build report.html and MODEL_CARD.md from a run directory and write both atomically."""

from __future__ import annotations

from pathlib import Path

from ..io import write_bytes_atomic
from ..train.run_dir import PRIVATE_DIR
from .html import render_html
from .model_card import render_model_card
from .run_files import load_run
from .statement import privacy_statement

REPORT_FILE = "report.html"
MODEL_CARD_FILE = "MODEL_CARD.md"


def write_report(run: str | Path, *, public_only: bool = False) -> tuple[Path, Path, Path | None]:
    """Write RUN/report.html and RUN/MODEL_CARD.md (releasable: nothing from private/ or the audit) and, unless
    public_only, RUN/private/report.html with the private section too (losses on real batches, clipped fraction,
    the audit). Returns the three paths (the last None when public_only)."""
    public = load_run(run, private=False)
    statement = privacy_statement(public.privacy, public.label_names)
    html_path, card_path = Path(run) / REPORT_FILE, Path(run) / MODEL_CARD_FILE
    write_bytes_atomic(html_path, render_html(public, statement, public_only=True).encode("utf-8"))
    write_bytes_atomic(card_path, render_model_card(public, statement).encode("utf-8"))
    if public_only:
        return html_path, card_path, None
    private_path = Path(run) / PRIVATE_DIR / REPORT_FILE
    full = load_run(run, private=True)
    write_bytes_atomic(private_path, render_html(full, statement, public_only=False).encode("utf-8"))
    return html_path, card_path, private_path
