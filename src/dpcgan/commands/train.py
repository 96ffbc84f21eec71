"""dpcgan train: train DP-CGAN and write a run directory.

Under torchrun (WORLD_SIZE > 1) every process runs this command: it joins the process group, trains on its shard
of the data, and rank 0 alone writes the run directory and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import sys

from ..config import MODES, PRESETS, describe_plan, preset, resolve_plan
from ..data import BENCHMARKS, load_dataset
from ..data.datasets import dataset_size, is_benchmark
from ..errors import ConfigError

EPILOG = """how --epsilon, --sigma and --steps combine (on top of the preset):
  --steps T            the preset's sigma (for a calibrating preset: the sigma calibrated for its own D steps),
                       T D steps; the epsilon spent follows (and may not exceed the preset's cap)
  --epsilon E          run until the next step would exceed E (a calibrating preset: sigma for its D steps at E)
  --epsilon E --steps T   calibrate sigma to spend E in T D steps
  --sigma S --steps T  T steps with sigma S; the epsilon spent is reported, no cap
The plan (q, sigma, D steps, epsilon, delta) is printed before the first D step; --dry-run prints it and exits
without reading a record."""


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a (DP-)CGAN and write a run directory", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="'mnist', 'fashion-mnist' or a .npz file with x and y (default: the preset's)")
    p.add_argument("--preset", default="paper", choices=sorted(PRESETS), help="hyperparameter preset")
    p.add_argument("--mode", choices=MODES, help="split: DP-CGAN; joint: basic DP-GAN; off: non-private")
    p.add_argument("--epsilon", type=float, help="target epsilon (stop before the step that would exceed it)")
    p.add_argument("--sigma", type=float, help="noise multiplier (with --epsilon --steps omitted: calibrated)")
    p.add_argument("--steps", type=int, help="number of D steps")
    p.add_argument("--delta", type=float, help="delta (must be < 1/n)")
    p.add_argument("--batch-size", type=int, help="expected real batch size B (q = B/n)")
    p.add_argument("--label-prior", help="fake-label prior: 'uniform', a file of K public weights, or 'dp-histogram' "
                   "(noisy label counts; its cost is composed into epsilon)")
    p.add_argument("--label-histogram-noise", type=float, help="noise std per count of the DP label histogram")
    p.add_argument("--d-steps-per-g", type=int, help="D steps per G step (each D step is a fresh, accounted batch)")
    p.add_argument("--num-classes", type=int, help="number of classes K of your own dataset: the label set 0..K-1 "
                   "is a public input (required for private runs on your own data; never read off the labels)")
    p.add_argument("--conversion", choices=("opacus", "classic"), help="RDP conversion enforcing the budget")
    p.add_argument("--seed", type=int, help="reproducible run (marked not for release); default: OS entropy")
    p.add_argument("--data-dir", help="where the dataset files are (else $DPCGAN_DATA, else the user cache)")
    p.add_argument("--out", help="run directory (default runs/<preset>-<dataset>-<mode>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--resume", metavar="OUT", help="continue the interrupted run of OUT from its last checkpoint")
    p.add_argument("--force", action="store_true", help="with --resume: resume even a checkpoint that its run "
                   "already continued past (a fork: the two runs together cost more than one epsilon)")
    p.add_argument("--dry-run", action="store_true", help="print the privacy plan and exit without reading a record")
    p.add_argument("--checkpoint-every", type=int, help="D steps between checkpoints (0: none)")
    p.add_argument("--log-every", type=int, help="steps between metrics.jsonl rows")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to train (auto: CUDA when available); under torchrun, process k uses GPU k")


def config_from_args(args):
    """The preset with the flags the user gave applied on top.

    --sigma S --steps T without --epsilon: run T steps and report epsilon (no target).
    --epsilon E --steps T without --sigma: calibrate sigma to spend E in T steps.
    """
    cfg = preset(args.preset)
    if args.steps is not None and args.sigma is None and args.epsilon is None and cfg.noise_multiplier is None:
        # --steps alone changes only the run's length: sigma stays the one the preset calibrates for its own steps
        cfg = cfg.replace(sigma_calibration_steps=cfg.sigma_calibration_steps or cfg.steps)
    changes = {k: v for k, v in {
        "dataset": args.dataset, "mode": args.mode, "target_epsilon": args.epsilon, "noise_multiplier": args.sigma,
        "steps": args.steps, "delta": args.delta, "batch_size": args.batch_size, "label_prior": args.label_prior,
        "label_histogram_noise": args.label_histogram_noise, "d_steps_per_g": args.d_steps_per_g,
        "num_classes": args.num_classes, "conversion": args.conversion, "seed": args.seed,
        "log_every": args.log_every, "checkpoint_every": args.checkpoint_every}.items() if v is not None}
    if args.sigma is not None and args.steps is not None and args.epsilon is None:
        changes["target_epsilon"] = None
    if args.epsilon is not None and args.steps is not None and args.sigma is None:
        changes["noise_multiplier"] = None
    return cfg.replace(**changes)


def resume(args, world, device) -> int:
    import json

    from ..config import TrainConfig
    from ..train import train
    from ..train.run_dir import partial_path, read_private_record

    out = Path(args.resume)

    def saved_config() -> dict:  # rank 0's file system holds the run
        saved = partial_path(out) / "config.json"
        if not saved.is_file():
            raise ConfigError(f"nothing to resume: {partial_path(out)} holds no interrupted run")
        return json.loads(saved.read_text())["config"]

    def saved_location() -> str | None:  # config.json names the data only; its location is in the private part
        return read_private_record(partial_path(out)).get("dataset")

    cfg = TrainConfig.from_dict(world.from_main(saved_config, share=True))
    cfg = cfg.replace(dataset=world.from_main(saved_location, share=True) or cfg.dataset)
    data = load_dataset(cfg.dataset, "train", args.data_dir, num_classes=cfg.num_classes)
    result = train(cfg, data, out, resume=True, progress=not args.no_progress, device=device, world=world,
                   force=args.force)
    if world.main:
        print(final_line(result, cfg, world, device))
    return 0


def final_line(result, cfg, world, device) -> str:
    eps = "inf (non-private)" if result.epsilon is None else f"{result.epsilon:.4f}"
    procs = f" on {world.size} processes" if world.size > 1 else ""
    line = (f"wrote {result.run_dir}: {result.steps} D steps in {result.wall_time_s:.0f} s{procs} ({device.type}), "
            f"epsilon = {eps} ({cfg.conversion} conversion), delta = {cfg.delta:g}")
    if cfg.seed is not None or cfg.mode == "off":
        line += " -- NOT FOR RELEASE (" + ("non-private run" if cfg.mode == "off" else "seeded with --seed") + ")"
    return line


def print_plan(cfg, n: int, num_classes: int) -> None:
    line, warnings = describe_plan(cfg, resolve_plan(cfg, n, num_classes))
    print(line, flush=True)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr, flush=True)


def require_public_label_set(cfg) -> None:
    own_data = not is_benchmark(cfg.dataset) and (Path(cfg.dataset).exists() or cfg.dataset.endswith(".npz"))
    if own_data and cfg.num_classes is None and cfg.mode != "off":
        raise ConfigError(f"--num-classes K is required for your own data ({cfg.dataset}): the label set 0..K-1 is a "
                          "public input; reading it off the private labels is not covered by the guarantee")


def run(args) -> int:
    from .. import distributed

    world, device = distributed.init_from_env(args.device)
    try:
        return resume(args, world, device) if args.resume else _train(args, world, device)
    finally:
        distributed.shutdown()


def _train(args, world, device) -> int:
    from ..train import train  # heavy imports only when needed
    from ..train.run_dir import check_output_dir

    cfg = config_from_args(args)
    if args.force:
        raise ConfigError("--force only applies to --resume")
    require_public_label_set(cfg)
    if args.dry_run:  # the plan from public facts only: n from the file's header, K from the benchmark or the flag
        num_classes = BENCHMARKS[cfg.dataset].num_classes if is_benchmark(cfg.dataset) else cfg.num_classes
        if num_classes is None:
            raise ConfigError("--dry-run on your own data needs --num-classes K")
        print_plan(cfg, dataset_size(cfg.dataset), num_classes)
        return 0
    out = Path(args.out) if args.out else Path("runs") / f"{args.preset}-{Path(cfg.dataset).stem}-{cfg.mode}"
    world.from_main(lambda: check_output_dir(out, args.overwrite))  # before loading data: fail fast
    data = load_dataset(cfg.dataset, "train", args.data_dir, num_classes=cfg.num_classes)
    if world.main:
        print_plan(cfg, len(data), data.num_classes)
    result = train(cfg, data, out, overwrite=args.overwrite, progress=not args.no_progress, device=device,
                   world=world)
    if world.main:
        print(final_line(result, cfg, world, device))
    return 0
