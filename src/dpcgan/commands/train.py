"""dpcgan train: train DP-CGAN and write a run directory.

Under torchrun (WORLD_SIZE > 1) every process runs this command: it joins the process group, trains on its shard
of the data, and rank 0 alone writes the run directory and prints.

The configuration is the preset, then a config file (--config), then the flags, each overriding the last.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..cli_common import final_line, preset_name, read_config_file
from ..config import MODES, PRESET_NAMES, TrainConfig, apply_budget, auto_config, preset
from ..data import BENCHMARKS
from ..data.arrays import read_label_names
from ..data.datasets import dataset_size, is_benchmark, not_a_dataset
from ..errors import ConfigError, DataError
from ..images.cli import missing_label_set_message, public_image_shape

EPILOG = """how --epsilon, --sigma and --steps combine (on top of the preset and the config file):
  --steps T            the preset's sigma (for a calibrating preset: the sigma calibrated for its own D steps),
                       T D steps; the epsilon spent follows (and may not exceed the preset's cap)
  --epsilon E          run until the next step would exceed E (a calibrating preset: sigma for its D steps at E)
  --epsilon E --steps T   calibrate sigma to spend E in T D steps
  --sigma S --steps T  T steps with sigma S; the epsilon spent is reported, no cap
The plan (q, sigma, D steps, epsilon, delta) is printed before the first D step; --dry-run prints it and exits
without reading a record. Defaults not shown are the preset's (`dpcgan presets` lists them).
Your own data needs its public label set: --num-classes K, or --label-names FILE (one name per line); an image
folder also its public image shape: --image-size S --channels 1|3 (every image converted to it)."""

# flag -> TrainConfig field, for the flags that set a field directly
FIELD_FLAGS = {"dataset": "dataset", "mode": "mode", "epsilon": "target_epsilon", "sigma": "noise_multiplier",
               "steps": "steps", "delta": "delta", "batch_size": "batch_size", "label_prior": "label_prior",
               "label_histogram_noise": "label_histogram_noise", "d_steps_per_g": "d_steps_per_g",
               "num_classes": "num_classes", "conversion": "conversion", "seed": "seed", "log_every": "log_every",
               "checkpoint_every": "checkpoint_every", "checkpoint_minutes": "checkpoint_minutes",
               "image_size": "image_size", "channels": "channels"}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a (DP-)CGAN and write a run directory", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="'mnist', 'fashion-mnist', a .npz file with x and y, a directory with x.npy and "
                   "y.npy, or an image folder (one subfolder per class)")
    p.add_argument("--preset", default=None, choices=PRESET_NAMES, help="hyperparameter preset (default: auto for "
                   "your own images: chosen from n, epsilon, delta, the image shape and K, each choice printed; "
                   "paper for mnist and fashion-mnist)")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file of TrainConfig fields (a run's config.json "
                   "works); may name a 'preset'; flags override it")
    p.add_argument("--mode", choices=MODES, help="split: DP-CGAN; joint: basic DP-GAN; off: non-private")
    p.add_argument("--epsilon", type=float, help="epsilon cap (stop before the step that would exceed it)")
    p.add_argument("--sigma", type=float, help="noise multiplier (with --epsilon --steps omitted: calibrated)")
    p.add_argument("--steps", type=int, help="number of D steps")
    p.add_argument("--delta", type=float, help="delta (must be < 1/n; default 1e-5)")
    p.add_argument("--batch-size", type=int, help="expected real batch size B (q = B/n)")
    p.add_argument("--label-prior", help="fake-label prior: 'uniform', a file of K public weights, 'dp-histogram' "
                   "(noisy label counts; its cost is composed into epsilon) or 'warm-start-counts' (the DP warm "
                   "start's noisy counts: no further release; auto's choice with a warm start)")
    p.add_argument("--label-histogram-noise", type=float, help="noise std per count of the DP label histogram")
    p.add_argument("--d-steps-per-g", type=int, help="D steps per G step (each D step is a fresh, accounted batch)")
    p.add_argument("--num-classes", type=int, help="number of classes K of your own dataset: the label set 0..K-1 "
                   "is a public input (required for private runs on your own data; never read off the labels)")
    p.add_argument("--label-names", metavar="FILE|A,B,...", help="the public label names: a file with one per line "
                   "(or a JSON list), or the names comma separated; K = their number; for an image folder, its "
                   "subfolders must be among them (hidden folders such as .ipynb_checkpoints are ignored)")
    p.add_argument("--schema", metavar="FILE", help="tables (.csv, .csv.gz, .parquet): the public schema, TOML or "
                   "JSON (column types, categories, bounds, missing cells); see `dpcgan schema draft`")
    p.add_argument("--label-column", help="tables: the label column (must be the schema's label)")
    p.add_argument("--schema-is-public", action="store_true", help="tables: declare the --schema public knowledge; "
                   "without it a schema drafted from the rows without DP marks the run NOT FOR RELEASE")
    p.add_argument("--image-size", type=int, help="image folders (required): every image resized to S×S on its own; "
                   "a public input, recorded in privacy.json")
    p.add_argument("--channels", type=int, choices=(1, 3), help="image folders (required): every image converted to "
                   "grey (1) or RGB (3) on its own; a public input, recorded in privacy.json")
    p.add_argument("--conversion", choices=("opacus", "classic", "pld"),
                   help="accounting enforcing the cap (the headline): RDP with the opacus or classic conversion, or pld "
                        "(privacy loss distributions, dp-accounting: tighter, the same promise with less noise)")
    p.add_argument("--seed", type=int, help="reproducible run (marked not for release); default: OS entropy")
    p.add_argument("--data-dir", help="where the dataset files are (else $DPCGAN_DATA, else the user cache)")
    p.add_argument("--out", help="run directory (default runs/<preset>-<dataset>-<mode>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--resume", metavar="OUT", help="continue the interrupted run of OUT from its last checkpoint, with "
                   "its saved configuration and data location (other training flags are refused)")
    p.add_argument("--force", action="store_true", help="with --resume: resume even a checkpoint that its run "
                   "already continued past (a fork: the two runs together cost more than one epsilon)")
    p.add_argument("--dry-run", action="store_true", help="print the privacy plan and exit without reading a record")
    p.add_argument("--checkpoint-every", type=int, help="D steps between checkpoints (0: none)")
    p.add_argument("--checkpoint-minutes", type=float, help="also checkpoint after this much wall time (default 5)")
    p.add_argument("--log-every", type=int, help="steps between metrics rows (and plain progress lines off a terminal)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any TrainConfig field, e.g. --set loss=hinge --set fake_reuse=true --set g_ema=0.999 "
                        "(VALUE is JSON, or a bare string); repeatable, applied after the other flags")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to train (auto: CUDA when available); under torchrun, process k uses GPU k")


def config_from_args(args) -> TrainConfig:
    """The preset, then the config file, then the flags the user gave.

    --sigma S --steps T without --epsilon: run T steps and report epsilon (no cap).
    --epsilon E --steps T without --sigma: calibrate sigma to spend E in T steps.
    --steps T alone: keep the preset's sigma (a calibrating preset: calibrated for its own steps).
    """
    file = read_config_file(args.config) if getattr(args, "config", None) else {}
    name = preset_name(args, file)
    file.pop("preset", None)
    if name == "auto":
        cfg, args.auto_reasons = auto_from_args(args, file)
    else:
        cfg = preset(name)
    try:
        cfg = cfg.replace(**file)
    except TypeError as e:
        raise ConfigError(f"--config {args.config}: {e}") from e
    # epsilon, sigma and steps combine by config.apply_budget (the API's rule too)
    cfg = apply_budget(cfg, epsilon=args.epsilon, sigma=args.sigma, steps=args.steps)
    changes = {field: getattr(args, flag) for flag, field in FIELD_FLAGS.items()
               if getattr(args, flag, None) is not None and flag not in ("epsilon", "sigma", "steps")}
    if getattr(args, "label_names", None):
        names = tuple(read_label_names(args.label_names))
        changes["label_names"] = names
        changes.setdefault("num_classes", len(names))
    elif cfg.label_names is not None and "num_classes" not in changes:
        changes["num_classes"] = len(cfg.label_names)
    return cfg.replace(**changes, **parse_set(getattr(args, "set", None) or []))


def auto_from_args(args, file: dict) -> tuple[TrainConfig, list[str]]:
    """The auto recipe for the data the flags name, from public facts only: n from the file's headers (or the
    folder's file count), the shape from the arrays' header or --channels/--image-size, K from the label set,
    epsilon and delta as given. Flags and the config file still override each choice."""
    def given(flag: str, field: str):
        value = getattr(args, flag, None)
        return value if value is not None else file.get(field)

    dataset = given("dataset", "dataset") or "mnist"
    if is_benchmark(dataset):
        shape, k = (1, 28, 28), BENCHMARKS[dataset].num_classes
    else:
        if not Path(dataset).exists():
            raise DataError(not_a_dataset(dataset))
        names = read_label_names(args.label_names) if getattr(args, "label_names", None) else file.get("label_names")
        k = given("num_classes", "num_classes") or (len(names) if names else None)
        if k is None:
            raise ConfigError(missing_label_set_message(dataset))
        shape = public_image_shape(dataset, given("channels", "channels"), given("image_size", "image_size"))
    return auto_config(dataset_size(dataset), shape, k, given("epsilon", "target_epsilon"), given("delta", "delta"))


def parse_set(items: list[str]) -> dict:
    """--set FIELD=VALUE pairs as config changes; VALUE is parsed as JSON when it can be (lists become tuples)."""
    import dataclasses
    import json

    from ..config import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {sorted(known)}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def resume(args, world, device) -> int:
    from ..modality import for_record
    from ..train import train
    from ..train.run_dir import check_resumable, partial_path, read_private_record

    given = [f"--{flag.replace('_', '-')}" for flag in [*FIELD_FLAGS, "preset", "config", "label_names", "schema", "label_column",
                                                         "schema_is_public", "out",
                                                         "overwrite", "dry_run"]
             if getattr(args, flag, None) not in (None, False)]
    if given:
        raise ConfigError(f"--resume continues the run with its saved configuration and data; drop {', '.join(given)} "
                          "(only --data-dir, --force, --device, --no-progress apply)")
    out = Path(args.resume)

    def saved() -> tuple[dict, dict]:  # rank 0's file system holds the run
        config = partial_path(out) / "config.json"
        if not config.is_file():
            raise ConfigError(f"nothing to resume: {partial_path(out)} holds no interrupted run")
        check_resumable(partial_path(out))  # its run had finished: refused before any record is read
        return json.loads(config.read_text())["config"], read_private_record(partial_path(out))

    config, record = world.from_main(saved, share=True)
    # config.json names the data only; its location (and --data-dir) is in the private record
    cfg = TrainConfig.from_dict(config).replace(dataset=record.get("dataset") or config["dataset"])
    data_dir = args.data_dir or record.get("data_dir")
    data = for_record(record).resume_data(cfg, record, data_dir, progress=world.main and not args.no_progress)
    result = train(cfg, data, out, resume=True, progress=not args.no_progress, device=device, world=world,
                   force=args.force, data_location={"data_dir": data_dir} if data_dir else None)
    if world.main:
        print(final_line(result, cfg, world, device))
    return 0


def run(args) -> int:
    from .. import distributed

    world, device = distributed.init_from_env(args.device)
    try:
        return resume(args, world, device) if args.resume else _train(args, world, device)
    finally:
        distributed.shutdown()


def _train(args, world, device) -> int:
    from ..modality import TABLES, for_dataset

    modality = for_dataset(args.dataset, schema=getattr(args, "schema", None), preset=args.preset)
    if modality is TABLES and not args.preset and not args.config:
        from ..config import DEFAULT_TABLE_PRESET

        args.preset = DEFAULT_TABLE_PRESET
    cfg = config_from_args(args)
    if args.force:
        raise ConfigError("--force only applies to --resume")
    return modality.train(args, cfg, world, device)
