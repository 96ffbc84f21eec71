"""The run directory: built in `<out>.partial/` and renamed to `<out>` only when complete, so a failed or
interrupted run never leaves a half-written run directory at --out. An interrupted run keeps its
`<out>.partial/` (with its last checkpoint) for `dpcgan train --resume OUT`.

What may be released and what may not are kept apart:
  RUN/            config.json, privacy.json, generator.pt, discriminator.pt, samples.png, progress/ (and later
                  synthetic.npz, evaluation/audit/report files): covered by the run's epsilon, or public by assumption;
  RUN/private/    metrics.jsonl (un-noised losses on real batches, real batch sizes), checkpoint.pt (RNG states,
                  a SHA-256 of the whole dataset), run.json (where the data is, wall time, resume history).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError
from ..io import default_mode, write_json_atomic

RUN_MARKER = "config.json"
PRIVATE_DIR = "private"
METRICS_FILE = f"{PRIVATE_DIR}/metrics.jsonl"
PRIVATE_RECORD = f"{PRIVATE_DIR}/run.json"
AUDIT_FILE = f"{PRIVATE_DIR}/audit.json"    # membership attacks on the training records: outside the guarantee
# written (and the checkpoint deleted) once the D steps are done, before the final files: a run that fails while
# writing them cannot be resumed into a second generator (train/checkpoint.py: supersede_checkpoint)
FINISHED_MARKER = f"{PRIVATE_DIR}/finished.json"
PROGRESS_DIR = "progress"   # sample grids saved during training (post-processing of the released G's history)
RELEASABLE_FILES = ("config.json", "privacy.json", "generator.pt", "discriminator.pt", "samples.png", PROGRESS_DIR,
                    "synthetic.npz", "synthetic.csv", "synthetic.json", "report.html", "MODEL_CARD.md")
# evaluation.json is computed against real data, outside the guarantee: it is in RUN/ only when its real train and
# test data were both public benchmarks (evaluate/sources.py), else in private/; the audit and the full report stay
# in private/.


def public_dataset_name(spec: str) -> str:
    """What config.json and privacy.json say about the data: a benchmark's name, or a file's name without the
    path to it (the full location stays in the private record)."""
    from ..data.download import BENCHMARKS

    return spec if spec in BENCHMARKS else Path(spec).name


def public_config(cfg) -> dict:
    """A TrainConfig as the released files hold it: the dataset by name, not by location."""
    return cfg.to_dict() | {"dataset": public_dataset_name(cfg.dataset)}


def read_private_record(run_path: Path) -> dict:
    file = Path(run_path) / PRIVATE_RECORD
    return json.loads(file.read_text()) if file.is_file() else {}


def update_private_record(run_path: Path, **changes) -> dict:
    record = read_private_record(run_path) | changes
    record.setdefault("note", "PRIVATE: do not release this folder (see README, 'The run directory')")
    write_json_atomic(Path(run_path) / PRIVATE_RECORD, record)
    return record


def write_private_json(run_path: Path, name: str, obj) -> Path:
    """RUN/private/<name>, readable by the owner only (the folder 0700, the file 0600)."""
    folder = Path(run_path) / PRIVATE_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    write_json_atomic(path, obj)
    os.chmod(path, 0o600)
    return path


def partial_path(out: Path) -> Path:
    return out.parent / f"{out.name}.partial"


def check_resumable(partial: Path) -> None:
    """Refuse to resume a staging folder whose run had finished its D steps (its checkpoint superseded)."""
    marker = Path(partial) / FINISHED_MARKER
    if marker.is_file():
        try:
            step = json.loads(marker.read_text()).get("finished_at_step", "?")
        except ValueError:
            step = "?"
        raise ConfigError(f"{partial} cannot be resumed: its run finished its D steps (step {step}) and failed while "
                          "writing its final files, so its checkpoint is superseded (resuming would train a second "
                          f"generator on the same data); nothing in it is releasable: delete it, or train afresh with "
                          "--overwrite (a new run, with its own epsilon)")


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Fail early (before training) if `out` cannot be used."""
    if out.exists():
        if not overwrite:
            raise ConfigError(f"output directory {out} already exists; choose another --out or pass --overwrite")
        if not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / RUN_MARKER).is_file():
            raise ConfigError(f"--out {out} is a non-empty directory that is not a dpcgan run; "
                              "refusing to overwrite it")
    partial = partial_path(out)
    if partial.exists() and not overwrite:
        if (partial / FINISHED_MARKER).is_file():
            raise ConfigError(f"a run of {out} that failed while writing its final files is in {partial} (it cannot "
                              "be resumed and nothing in it is releasable): pass --overwrite to start afresh")
        raise ConfigError(f"an interrupted run of {out} is in {partial}: continue it with "
                          f"`dpcgan train --resume {out}`, or pass --overwrite to start afresh")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the parent of --out {out}: {e.strerror}") from e
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write to {parent}: choose a writable --out")


class StagedRunDir:
    """Files go to `<out>.partial/`; `commit()` renames it to `<out>`; `abort()` deletes it."""

    def __init__(self, out: str | os.PathLike, overwrite: bool = False, resume: bool = False):
        self.out = Path(out)
        self.path = partial_path(self.out)
        if resume:
            if not (self.path / RUN_MARKER).is_file():
                raise ConfigError(f"nothing to resume: {self.path} holds no interrupted run of {self.out}")
            check_resumable(self.path)
            for stale in self.path.glob(".*.tmp"):  # a write cut short by the interruption
                stale.unlink()
            return
        check_output_dir(self.out, overwrite)
        if self.path.exists():  # --overwrite given: the interrupted run is discarded
            shutil.rmtree(self.path)
        self.path.mkdir(mode=default_mode(directory=True))
        (self.path / PRIVATE_DIR).mkdir(mode=0o700)

    def commit(self) -> Path:
        if self.out.exists():  # --overwrite: move the old run aside first so the swap is quick and safe
            old = Path(tempfile.mkdtemp(prefix=f"{self.out.name}.old-", dir=self.out.parent))
            os.replace(self.out, old / "run")
            os.replace(self.path, self.out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.path, self.out)
        self.path = self.out
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
