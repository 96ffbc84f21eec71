"""dpcgan train: train DP-CGAN and write a run directory.

Under torchrun (WORLD_SIZE > 1) every process runs this command: it joins the process group, trains on its shard
of the data, and rank 0 alone writes the run directory and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import MODES, PRESETS, preset
from ..data import load_dataset
from ..errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a (DP-)CGAN and write a run directory",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    p.add_argument("--num-classes", type=int, help="number of classes of a .npz dataset (public)")
    p.add_argument("--conversion", choices=("opacus", "classic"), help="RDP conversion enforcing the budget")
    p.add_argument("--seed", type=int, help="reproducible run (marked not for release); default: OS entropy")
    p.add_argument("--data-dir", help="where the dataset files are (else $DPCGAN_DATA, else the user cache)")
    p.add_argument("--out", help="run directory (default runs/<preset>-<dataset>-<mode>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--resume", metavar="OUT", help="continue the interrupted run of OUT from its last checkpoint")
    p.add_argument("--checkpoint-every", type=int, help="D steps between checkpoints (0: none)")
    p.add_argument("--log-every", type=int, help="steps between metrics.jsonl rows")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any TrainConfig field, e.g. --set loss=hinge --set fake_reuse=true --set g_ema=0.999 "
                        "(VALUE is JSON, or a bare string); repeatable, applied after the other flags")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to train (auto: CUDA when available); under torchrun, process k uses GPU k")


def config_from_args(args):
    """The preset with the flags the user gave applied on top.

    --sigma S --steps T without --epsilon: run T steps and report epsilon (no target).
    --epsilon E --steps T without --sigma: calibrate sigma to spend E in T steps.
    """
    cfg = preset(args.preset)
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
    return cfg.replace(**changes, **parse_set(getattr(args, "set", None) or []))


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
    import json

    from ..config import TrainConfig
    from ..train import train
    from ..train.run_dir import partial_path

    out = Path(args.resume)

    def saved_config() -> dict:  # rank 0's file system holds the run
        saved = partial_path(out) / "config.json"
        if not saved.is_file():
            raise ConfigError(f"nothing to resume: {partial_path(out)} holds no interrupted run")
        return json.loads(saved.read_text())["config"]

    cfg = TrainConfig.from_dict(world.from_main(saved_config, share=True))
    data = load_dataset(cfg.dataset, "train", args.data_dir, num_classes=cfg.num_classes)
    result = train(cfg, data, out, resume=True, progress=not args.no_progress, device=device, world=world)
    if world.main:
        print(f"wrote {result.run_dir}: {result.steps} D steps, epsilon = {result.epsilon}")
    return 0


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
    out = Path(args.out) if args.out else Path("runs") / f"{args.preset}-{Path(cfg.dataset).stem}-{cfg.mode}"
    world.from_main(lambda: check_output_dir(out, args.overwrite))  # before loading data: fail fast
    data = load_dataset(cfg.dataset, "train", args.data_dir, num_classes=cfg.num_classes)
    result = train(cfg, data, out, overwrite=args.overwrite, progress=not args.no_progress, device=device,
                   world=world)
    if world.main:
        eps = "inf (non-private)" if result.epsilon is None else f"{result.epsilon:.4f}"
        procs = f" on {world.size} processes" if world.size > 1 else ""
        print(f"wrote {result.run_dir}: {result.steps} D steps in {result.wall_time_s:.0f} s{procs} ({device.type}), "
              f"epsilon = {eps} ({cfg.conversion} conversion), delta = {cfg.delta:g}")
    return 0
