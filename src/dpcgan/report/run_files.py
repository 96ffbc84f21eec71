"""Read a finished run directory into one object; which files are public and which private is said here once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DPCGANError
from ..evaluate.sources import EVALUATION_FILE, PRIVATE_EVALUATION_FILE, is_public
from ..train.run_dir import AUDIT_FILE, METRICS_FILE, PROGRESS_DIR

PROGRESS_NAME = re.compile(r"^step_(\d+)\.png$")


@dataclass
class RunFiles:
    path: Path
    config: dict[str, Any]                 # config.json (public)
    privacy: dict[str, Any]                # privacy.json (public)
    samples_png: bytes | None              # samples.png (public: sampled from the released G)
    progress: list[tuple[int, bytes]]      # progress/step_NNNNNNN.png, by step (public: post-processing of G)
    evaluation: dict[str, Any] | None      # the evaluation this document shows (outside the DP guarantee: real data)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # private/metrics.jsonl (PRIVATE)
    audit: dict[str, Any] | None = None    # private/audit.json (reads the private training data: PRIVATE)
    evaluation_private: bool = False       # the evaluation shown was computed on private data
    evaluation_withheld: str | None = None  # a private evaluation left out of this document: its file, run-relative
    table_rows: list[list[str]] | None = None  # a table run: header + rows sampled from generator.pt (public)
    table_rows_note: str = ""              # why there are no rows to show

    @property
    def num_classes(self) -> int:
        for source in (self.config.get("dataset", {}), self.config.get("config", {}), self.config.get("model", {})):
            if source.get("num_classes"):
                return int(source["num_classes"])
        return len(self.privacy.get("assumed_public", {}).get("label_set", [])) or 0

    @property
    def label_names(self) -> list[str]:
        """The public label names (config.label_names when the run has them), else "0".."K-1"."""
        for source in (self.config.get("config", {}), self.config, self.config.get("dataset", {})):
            names = source.get("label_names")
            if names:
                return [str(n) for n in names]
        return [str(k) for k in range(self.num_classes)]

    @property
    def schema(self) -> dict[str, Any] | None:
        """The public table schema of a table run (config.json's model spec; tables/synth.py run_schema), else None."""
        schema = self.config.get("model", {}).get("schema")
        return schema if isinstance(schema, dict) and schema else None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        shape = (self.config.get("model", {}).get("image_shape") or self.config.get("dataset", {}).get("image_shape")
                 or self.privacy.get("assumed_public", {}).get("image_shape") or [1, 28, 28])
        return tuple(int(s) for s in shape)  # type: ignore[return-value]


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise DPCGANError(f"{path} is not valid JSON ({e}); rerun the command that wrote it") from e


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl rows; a torn last line (a crash mid-write) is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def pick_evaluation(run: Path, *, private: bool, include_private_evaluation: bool = False
                    ) -> tuple[dict[str, Any] | None, bool, str | None]:
    """(the evaluation to show, whether it was computed on private data, the private evaluation left out).

    RUN/evaluation.json on public benchmarks only is shown everywhere. An evaluation on private data
    (RUN/private/evaluation.json, or a RUN/evaluation.json that records no public sources, e.g. from an older
    dpcgan) is shown in the private report, and in the releasable files only with include_private_evaluation."""
    public_file = _json(run / EVALUATION_FILE)
    candidates = []  # evaluations on private data, the private/ one first
    if (run / PRIVATE_EVALUATION_FILE).is_file():
        candidates.append(PRIVATE_EVALUATION_FILE)
    if public_file is not None and not is_public(public_file):
        candidates.append(EVALUATION_FILE)
    shown_public = public_file if public_file is not None and is_public(public_file) else None
    if not candidates:
        return shown_public, False, None
    if private or include_private_evaluation:
        chosen = candidates[0]
        return (public_file if chosen == EVALUATION_FILE else _json(run / chosen)), True, None
    return shown_public, False, candidates[0]


def load_run(path: str | Path, *, private: bool = True, include_private_evaluation: bool = False) -> RunFiles:
    """Read the run at `path`. private=False never opens private/ (metrics, the audit, an evaluation on private
    data), except private/evaluation.json with include_private_evaluation."""
    run = Path(path)
    config, privacy = _json(run / "config.json"), _json(run / "privacy.json")
    if config is None or privacy is None:
        missing = "config.json" if config is None else "privacy.json"
        hint = f"; an interrupted run is in {run}.partial (finish it with `dpcgan train --resume {run}`)" \
            if Path(f"{run}.partial").is_dir() else ""
        raise DPCGANError(f"{run} is not a finished dpcgan run (no {missing}){hint}")
    progress = []
    if (run / PROGRESS_DIR).is_dir():
        for f in (run / PROGRESS_DIR).iterdir():
            m = PROGRESS_NAME.match(f.name)
            if m and f.is_file():
                progress.append((int(m.group(1)), f.read_bytes()))
    samples = run / "samples.png"
    evaluation, evaluation_private, withheld = pick_evaluation(
        run, private=private, include_private_evaluation=include_private_evaluation)
    model = config.get("model")
    rows, rows_note = (_table_rows(run) if isinstance(model, dict) and model.get("schema") else (None, ""))
    return RunFiles(
        path=run, config=config, privacy=privacy, table_rows=rows, table_rows_note=rows_note,
        samples_png=samples.read_bytes() if samples.is_file() else None,
        progress=sorted(progress), evaluation=evaluation,
        metrics=read_metrics(run / METRICS_FILE) if private else [],
        audit=_json(run / AUDIT_FILE) if private else None,
        evaluation_private=evaluation_private, evaluation_withheld=withheld,
    )


TABLE_ROWS = 5   # synthetic rows the report of a table run shows


def _table_rows(run: Path) -> tuple[list[list[str]] | None, str]:
    """(the header and TABLE_ROWS rows as text, missing cells empty) from the released generator, or (None, why)."""
    import pandas as pd

    from ..tables.synth import preview_rows

    if not (run / "generator.pt").is_file():
        return None, "the run directory has no generator.pt"
    try:
        df = preview_rows(run, TABLE_ROWS)
    except (DPCGANError, OSError, RuntimeError, KeyError) as e:
        return None, f"generator.pt could not be sampled ({e})"
    cells = [["" if pd.isna(v) else str(v) for v in row]
             for row in df.astype(object).itertuples(index=False)]
    return [list(map(str, df.columns))] + cells, ""
