"""`dpcgan train --dataset table.csv --label-column C --schema schema.toml`: the table branch of commands/train.

The private part is the image loop unchanged (dpcgan.train.train): the table is encoded by the public schema into
float32 rows (n, 1, 1, d), the "table-mlp" architecture reads them, and the schema travels in the model spec
(config.json, privacy.json, generator.pt) so that sampling decodes rows without the private file."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ..config import DEFAULT_TABLE_PRESET as DEFAULT_PRESET  # noqa: F401 (re-exported)
from ..config import MARGINAL_ARCH, TABLE_ARCHS, batch_for_size
from ..errors import ConfigError
from ..privacy.schema_release import schema_release
from .csvio import load_table, table_size
from .schema import TableSchema, read_schema_file


def table_config(args, cfg, schema: TableSchema):
    """The run's config for a table: the label set is the schema's label categories (public)."""
    if cfg.arch not in TABLE_ARCHS:
        raise ConfigError(f"tables train with architecture {' or '.join(TABLE_ARCHS)} (got {cfg.arch!r} from the "
                          "preset or config): use --preset table-marginals (the default), table-eps1 or table-eps10")
    if cfg.arch == MARGINAL_ARCH:
        refuse_d_step_settings([f"--{flag.replace('_', '-')}" for flag in D_STEP_FLAGS
                                if getattr(args, flag, None) is not None])
    names = tuple(schema.label_names)
    if cfg.num_classes is not None and cfg.num_classes != len(names) and getattr(args, "num_classes", None):
        raise ConfigError(f"--num-classes {cfg.num_classes} differs from the {len(names)} categories of the label "
                          f"column {schema.label!r} in the schema")
    if getattr(args, "label_names", None):
        raise ConfigError("--label-names is for images; a table's classes are its schema's label categories")
    return cfg.replace(dataset=str(Path(cfg.dataset).resolve()), label_names=names, num_classes=len(names))


D_STEP_FLAGS = ("steps", "batch_size", "d_steps_per_g", "checkpoint_every", "label_prior", "label_histogram_noise")


def refuse_d_step_settings(given: list[str]) -> None:
    """The marginal-fitted preset has no D steps, no batches and learns its label shares from its count tables: a
    setting of the table GAN would be silently ignored, so it is an error naming the way to the GAN."""
    if given:
        raise ConfigError(f"{', '.join(given)}: setting(s) of the table GAN's D steps; the default table preset "
                          "(table-marginals) has none: drop them, or train the table GAN with --preset table-eps1 "
                          "(or table-eps10)")




def schema_for(cfg, schema: TableSchema) -> TableSchema:
    """The schema the run encodes with: numeric columns without their own `bins` get the method's default."""
    return schema.with_default_bins(cfg.marginal_numeric_bins) if cfg.arch == MARGINAL_ARCH else schema


def load_schema_for(args) -> TableSchema:
    if not args.dataset:
        raise ConfigError("a table preset needs the table: --dataset FILE.csv --label-column C --schema FILE")
    if not getattr(args, "schema", None):
        raise ConfigError(f"--dataset {args.dataset}: a table needs its public schema: --schema FILE (TOML or JSON; "
                          "`dpcgan schema draft` writes one to review)")
    schema = read_schema_file(args.schema)
    if args.label_column is not None and args.label_column != schema.label:
        raise ConfigError(f"--label-column {args.label_column!r} differs from the schema's label {schema.label!r}")
    return schema


def train_table(args, cfg, world, device) -> int:
    from ..cli_common import final_line, preset_name, print_plan
    from ..train import train
    from ..train.run_dir import check_output_dir

    schema = load_schema_for(args)
    cfg = table_config(args, cfg, schema)
    schema = schema_for(cfg, schema)
    from .draft import declare_public, is_not_private

    public = bool(getattr(args, "schema_is_public", False))
    if public:  # the user's declaration travels in the schema's provenance (privacy.json: schema_is_public)
        schema = declare_public(schema)
    if is_not_private(schema) and world.main:
        print(f"warning: {args.schema} was drafted from data rows without DP (NOT PRIVATE): "
              + ("--schema-is-public declares its categories and bounds public (privacy.json records it)" if public
                 else "the run is marked NOT FOR RELEASE (privacy.json, report, model card); draft it with --epsilon, "
                 "replace its categories and bounds with public knowledge, or pass --schema-is-public if the table "
                 "is public"), file=sys.stderr)
    release = schema_release(schema)  # a DP-drafted schema: its cost is part of the run's budget
    if release is not None and world.main:
        print(f"note: {args.schema} is a DP draft ((epsilon = {release.epsilon:g}, delta = {release.delta:g})-DP); this "
              "run composes it into its budget (privacy.json, schema_draft)")
    def fit_batch(cfg, n: int):   # n is public by assumption: the GAN's batch, or the marginal run's pair rounds
        if cfg.arch == MARGINAL_ARCH:
            from .marginal_recipe import with_pair_rounds

            cfg, why = with_pair_rounds(cfg, schema, n, release)
        elif getattr(args, "batch_size", None) is None:
            cfg, why = batch_for_size(cfg, n)
        else:
            return cfg
        if why and world.main:
            print(f"table: {why}", flush=True)
        return cfg

    if args.dry_run:  # n from the file (public by assumption), the label set from the schema
        n = table_size(cfg.dataset)
        print_plan(fit_batch(cfg, n), n, len(schema.label_names), release, len(schema.features))
        return 0
    name = preset_name(args)
    stem = Path(cfg.dataset).name.split(".")[0]
    out = Path(args.out) if args.out else Path("runs") / f"{name}-{stem}-{cfg.mode}"
    world.from_main(lambda: check_output_dir(out, args.overwrite))  # before reading data: fail fast
    # The encoded rows go to a temporary .npy beside the output (removed at the end) and are read back only as
    # Poisson batches sample them: memory stays flat in n. Every bad-input error comes before the run directory.
    fd, rows_file = tempfile.mkstemp(prefix=f".{out.name}.rows-", suffix=".npy", dir=out.parent)
    os.close(fd)
    try:
        data = load_table(cfg.dataset, schema, args.label_column, on_disk=rows_file,
                          say=(lambda line: print(line, file=sys.stderr, flush=True)) if world.main else None)
        cfg = fit_batch(cfg, len(data))
        if world.main:
            print_plan(cfg, len(data), data.num_classes, release, len(schema.features))
        location = {"schema": str(Path(args.schema).resolve()), "label_column": schema.label,
                    **({"schema_is_public": True} if public else {})}
        result = train(cfg, data, out, overwrite=args.overwrite, progress=not args.no_progress, device=device,
                       world=world, data_location=location)
    finally:
        Path(rows_file).unlink(missing_ok=True)
    if world.main:
        from ..privacy.schema_release import schema_read_without_dp

        suffix = " -- NOT FOR RELEASE (schema read from the rows without DP)" if schema_read_without_dp(schema) else ""
        print(final_line(result, cfg, world, device) + suffix)
    return 0


def load_table_for_resume(cfg, record: dict, data_dir: str | None = None, progress: bool = True):
    """The table of an interrupted run, with the schema file it was started with (from its private record);
    data_dir and progress are for images (a table names its file and reads it without progress lines)."""
    schema_file = record.get("schema")
    if not schema_file or not Path(schema_file).is_file():
        raise ConfigError(f"cannot resume: the run's schema file {schema_file} is gone; restore it")
    schema = read_schema_file(schema_file)
    if record.get("schema_is_public"):  # --schema-is-public, as the run was started with it
        from .draft import declare_public

        schema = declare_public(schema)
    return load_table(cfg.dataset, schema, record.get("label_column"))
