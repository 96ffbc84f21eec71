"""Images and tables behind one interface (issue 23 item 5).

A command asks once which modality its dataset or run is (`for_dataset`, `for_run`, `for_record`) and calls that
modality's train / resume data / sample / evaluate: no command holds a branch of its own per modality, and neither
modality's modules import the command layer (images/cli.py and tables/train_cli.py share cli_common.py instead).
Each entry imports its module when called, so `dpcgan --help` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _lazy(module: str, name: str) -> Callable:
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module, __package__), name)(*args, **kwargs)

    call.__qualname__ = f"{module}.{name}"
    return call


@dataclass(frozen=True)
class Modality:
    name: str
    unit: str                                 # what one synthetic record is called in messages
    train: Callable[..., int]                 # (args, cfg, world, device) -> exit code
    resume_data: Callable[..., object]        # (cfg, private record, data_dir, progress=) -> the training data
    sample: Callable[..., Path]               # (args) -> the file or folder written
    evaluate: Callable[..., int]              # (args) -> exit code


IMAGES = Modality("images", "samples", train=_lazy(".images.cli", "train_images"),
                  resume_data=_lazy(".images.cli", "load_training_images"),
                  sample=_lazy(".images.cli", "sample_images"),
                  evaluate=_lazy(".images.evaluate_cli", "evaluate_image_run"))
TABLES = Modality("tables", "rows", train=_lazy(".tables.train_cli", "train_table"),
                  resume_data=_lazy(".tables.train_cli", "load_table_for_resume"),
                  sample=_lazy(".tables.synth", "sample_table_run"),
                  evaluate=_lazy(".tables.evaluate_cli", "evaluate_table_run"))


def for_dataset(dataset: str | None, *, schema: str | None = None, preset: str | None = None) -> Modality:
    """A CSV / Parquet file, a --schema or a table preset is a table; anything else images."""
    from .tables.csvio import is_table

    return TABLES if is_table(dataset or "") or schema or (preset or "").startswith("table-") else IMAGES


def for_run(run: str | Path | None) -> Modality:
    """A run whose config (or generator file) carries a table schema is a table run; no run (a given synthetic
    file) and every other run are images."""
    if run is None:
        return IMAGES
    from .tables.synth import run_schema

    return TABLES if run_schema(run) is not None else IMAGES


def for_record(record: dict) -> Modality:
    """An interrupted run's modality, from its private record (a table run records its schema file)."""
    return TABLES if record.get("schema") else IMAGES
