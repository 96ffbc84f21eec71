"""Read a finished run directory into one object; which files are public and which private is said here once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DPCGANError
from ..train.run_dir import AUDIT_FILE, METRICS_FILE, PROGRESS_DIR

PROGRESS_NAME = re.compile(r"^step_(\d+)\.png$")


@dataclass
class RunFiles:
    path: Path
    config: dict[str, Any]                 # config.json (public)
    privacy: dict[str, Any]                # privacy.json (public)
    samples_png: bytes | None              # samples.png (public: sampled from the released G)
    progress: list[tuple[int, bytes]]      # progress/step_NNNNNNN.png, by step (public: post-processing of G)
    evaluation: dict[str, Any] | None      # evaluation.json (outside the DP guarantee: uses real data)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # private/metrics.jsonl (PRIVATE)
    audit: dict[str, Any] | None = None    # private/audit.json (reads the private training data: PRIVATE)

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


def load_run(path: str | Path, *, private: bool = True) -> RunFiles:
    """Read the run at `path`. private=False never opens private/ (metrics, the audit)."""
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
    return RunFiles(
        path=run, config=config, privacy=privacy,
        samples_png=samples.read_bytes() if samples.is_file() else None,
        progress=sorted(progress), evaluation=_json(run / "evaluation.json"),
        metrics=read_metrics(run / METRICS_FILE) if private else [],
        audit=_json(run / AUDIT_FILE) if private else None,
    )
