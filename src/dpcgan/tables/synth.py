"""Synthetic tables from a run's generator: post-processing of the private D, so they carry the run's guarantee.

Rows are decoded with the public schema stored in the generator's model spec: original column names, categories
and label values, integers as integers, missing cells empty."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..config import load_label_prior
from ..errors import DPCGANError
from ..io import write_json_atomic
from .calibrate import calibrated_draws
from .csvio import write_table
from .encode import decode
from .schema import TableSchema

TABLE_OUT_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet")


def run_schema(run: str | Path) -> TableSchema | None:
    """The public schema of a table run (None for an image run), from config.json or the generator file."""
    path = Path(run)
    config = (path if path.is_dir() else path.parent) / "config.json"
    if config.is_file():
        try:
            spec = json.loads(config.read_text()).get("model", {})
        except ValueError:
            spec = {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return TableSchema.from_dict(schema, source=str(config)) if schema else None
    if path.is_file() and path.suffix == ".pt":
        from ..sample import load_generator

        schema = load_generator(path)[1]["spec"].get("schema")
        return TableSchema.from_dict(schema) if schema else None
    return None


@torch.no_grad()
def sample_rows(G: torch.nn.Module, schema: TableSchema, n: int, prior: list[float], generator: torch.Generator,
                batch: int = 8192, calibration: dict | None = None) -> pd.DataFrame:
    """n rows with labels in the shares `prior`; with `calibration` (a marginal-fitted run's released tables,
    ckpt["marginal_tables"]) G's draws are raked to those tables (tables/calibrate.py)."""
    from ..sample import balanced_labels, check_fits_in_memory

    # float32 rows twice (batches, then their concatenation), then a DataFrame of Python objects (~64 B a cell)
    check_fits_in_memory(n, 8 * G.image_shape[-1] + 64 * (len(schema.features) + 1), what="rows")
    y = balanced_labels(n, prior, generator)
    G.eval()
    if calibration is not None and any(calibration["rake"]):
        x = calibrated_draws(G, schema, y, calibration, generator).reshape(n, -1).numpy()
    else:
        xs = [G(G.sample_latent(len(yb), generator), yb).reshape(len(yb), -1) for yb in y.split(batch)]
        x = torch.cat(xs).numpy() if xs else np.zeros((0, G.image_shape[-1]), np.float32)
    return decode(x, y.numpy(), schema)


def preview_rows(run: str | Path, n: int) -> pd.DataFrame:
    """n rows from the run's released generator with its trained label shares, unseeded (post-processing: covered
    by the run's epsilon; the report shows them)."""
    from ..sample import load_generator

    G, ckpt = load_generator(run)
    schema = TableSchema.from_dict(ckpt["spec"]["schema"])
    return sample_rows(G, schema, n, list(ckpt["label_prior"]), torch.Generator().manual_seed(int(torch.seed())),
                       calibration=ckpt.get("marginal_tables"))


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name.split(".")[0] + ".json")


def write_synthetic_table(run: str | Path, n: int, labels: str = "trained", out: str | Path | None = None,
                          seed: int | None = None, overwrite: bool = False) -> Path:
    """n synthetic rows as CSV (gzip for .gz, Parquet for .parquet) and the sidecar <stem>.json beside it."""
    from ..sample import load_generator, refuse_to_overwrite, sidecar

    if n < 1:
        raise DPCGANError(f"-n must be >= 1 (got {n})")
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    out = Path(out) if out else run_dir / "synthetic.csv"
    if not out.name.lower().endswith(TABLE_OUT_SUFFIXES):
        raise DPCGANError(f"--out {out}: a table run writes a table; name it *.csv, *.csv.gz, *.tsv or *.parquet")
    refuse_to_overwrite(out, overwrite)
    G, ckpt = load_generator(run)
    schema = TableSchema.from_dict(ckpt["spec"]["schema"])
    generator_file = Path(run) / "generator.pt" if Path(run).is_dir() else Path(run)
    prior = list(ckpt["label_prior"]) if labels == "trained" else load_label_prior(labels, G.num_classes)
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed()))
    df = sample_rows(G, schema, n, prior, gen, calibration=ckpt.get("marginal_tables"))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(df, out)
    meta = sidecar(run_dir, generator_file, n=n, fmt=out.name.split(".", 1)[1], prior=prior, prior_source=labels,
                   label_names=schema.label_names)
    meta |= {"label_column": schema.label, "columns": schema.names,
             "table_note": "missing cells are empty; integer columns hold integers; decoded with the run's public schema"}
    write_json_atomic(sidecar_path(out), meta)
    return out


def sample_table_run(args) -> Path:
    """`dpcgan sample` on a table run: rows decoded by its public schema, CSV (or Parquet by --out)."""
    if args.format not in (None, "csv"):
        raise DPCGANError(f"--format {args.format} is for images; a table run writes CSV (or .parquet by --out)")
    return write_synthetic_table(args.run, args.n, args.labels, args.out, args.seed, overwrite=args.overwrite)
