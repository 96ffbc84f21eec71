"""The run directory: built in `<out>.partial/` and renamed to `<out>` only when complete, so a failed or
interrupted run never leaves a half-written run directory at --out. An interrupted run keeps its
`<out>.partial/` (with its last checkpoint) for `dpcgan train --resume OUT`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError
from ..io import default_mode

RUN_MARKER = "config.json"


def partial_path(out: Path) -> Path:
    return out.parent / f"{out.name}.partial"


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
            for stale in self.path.glob(".*.tmp"):  # a write cut short by the interruption
                stale.unlink()
            return
        check_output_dir(self.out, overwrite)
        if self.path.exists():  # --overwrite given: the interrupted run is discarded
            shutil.rmtree(self.path)
        self.path.mkdir(mode=default_mode(directory=True))

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
