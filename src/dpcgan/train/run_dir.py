"""The run directory: built in a staging folder and renamed into place only when complete, so a failed or
interrupted run never leaves a half-written run directory at --out."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError
from ..io import default_mode

RUN_MARKER = "config.json"


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
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the parent of --out {out}: {e.strerror}") from e
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write to {parent}: choose a writable --out")


class StagedRunDir:
    """Files go to `<out>.partial-XXXX/`; `commit()` renames it to `<out>`, `abort()` deletes it."""

    def __init__(self, out: str | os.PathLike, overwrite: bool = False):
        self.out = Path(out)
        self.overwrite = overwrite
        check_output_dir(self.out, overwrite)
        self.path = Path(tempfile.mkdtemp(prefix=f"{self.out.name}.partial-", dir=self.out.parent))
        os.chmod(self.path, default_mode(directory=True))

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
