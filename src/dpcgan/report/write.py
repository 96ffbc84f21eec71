"""write_report: build report.html and MODEL_CARD.md from a run directory and write both atomically."""

from __future__ import annotations

from pathlib import Path

from ..evaluate.sources import EVALUATION_FILE, describe as describe_sources
from ..io import write_bytes_atomic
from ..train.run_dir import PRIVATE_DIR
from .html import render_html
from .model_card import render_model_card
from .run_files import load_run
from .statement import privacy_statement

REPORT_FILE = "report.html"
MODEL_CARD_FILE = "MODEL_CARD.md"


def write_report(run: str | Path, *, public_only: bool = False, include_private_evaluation: bool = False
                 ) -> tuple[Path, Path, Path | None]:
    """Write RUN/report.html and RUN/MODEL_CARD.md (releasable: nothing from private/ or the audit, and an evaluation
    only when its real data were public benchmarks, or with include_private_evaluation) and, unless public_only,
    RUN/private/report.html with the private section too (losses on real batches, clipped fraction, the audit, an
    evaluation on private data). Returns the three paths (the last None when public_only)."""
    public = load_run(run, private=False, include_private_evaluation=include_private_evaluation)
    statement = privacy_statement(public.privacy, public.label_names)
    html_path, card_path = Path(run) / REPORT_FILE, Path(run) / MODEL_CARD_FILE
    write_bytes_atomic(html_path, render_html(public, statement, public_only=True, only_public_written=public_only).encode("utf-8"))
    write_bytes_atomic(card_path, render_model_card(public, statement).encode("utf-8"))
    if public_only:
        return html_path, card_path, None
    private_path = Path(run) / PRIVATE_DIR / REPORT_FILE
    full = load_run(run, private=True)
    write_bytes_atomic(private_path, render_html(full, statement, public_only=False).encode("utf-8"))
    return html_path, card_path, private_path


def releasable_contents(run: str | Path, *, include_private_evaluation: bool = False) -> str:
    """What RUN/report.html and RUN/MODEL_CARD.md hold, in words, as write_report wrote them."""
    public = load_run(run, private=False, include_private_evaluation=include_private_evaluation)
    base = "the generator's guarantee, samples and configuration"
    if public.evaluation is None and public.evaluation_withheld == EVALUATION_FILE:
        return (f"{base}; {Path(run) / EVALUATION_FILE} records no public benchmarks as its data (an older dpcgan, or "
                f"private data): treated as private and not included; move it into {Path(run) / PRIVATE_DIR}/ before "
                "releasing the folder")
    if public.evaluation is None and public.evaluation_withheld:
        return (f"{base}; the evaluation on private data is in {Path(run) / PRIVATE_DIR}/ and is not included")
    if public.evaluation is None:
        return f"{base}; no evaluation"
    if not public.evaluation_private:
        return f"{base}, and the evaluation on public benchmark data ({describe_sources(public.evaluation)})"
    shown = ("its TSTR metrics (LR/HGB AUROC and accuracy) beside the baseline's and the real-data reference, "
             "fidelity, per-column TV and the real-versus-synthetic shares of the worst columns" if public.schema else
             "its headline metrics (LR/MLP AUROC and accuracy, CNN accuracy, the FID-like score and its real-train "
             "floor, precision/recall and their floor), per-class accuracy, confusion matrix and label histogram")
    return (f"{base}, and, INCLUDED on request (--include-private-evaluation), the evaluation on private data "
            f"({describe_sources(public.evaluation)}): {shown} describe that data and are NOT covered by the DP "
            "guarantee")
