"""The run report: RUN/report.html (one self-contained file) and RUN/MODEL_CARD.md (releasable).

run_files reads a run directory, epsilon_curve recomputes epsilon along the D steps from the public ledger,
statement turns privacy.json into plain words, plots draws the figures (matplotlib, PNG bytes), html and
model_card assemble the two documents (for a table run with table_sections and table_card, from the rows
of table_facts), write_report writes both atomically.
"""

from .write import write_report

__all__ = ["write_report"]
