"""Training-step throughput with 1 and N processes (torchrun), paper preset on MNIST, release mode.

Each configuration is launched with `python -m torch.distributed.run --standalone --nproc-per-node N` running this
file with --worker: every process calls dpcgan.train.train (the real loop: its shard's Poisson batch, its share of
the B = 600 fakes, clipping, rank 0's noise, the all-reduces, the G step, the budget check) for K1 and then K2 steps;
steps/s = (K2 - K1) / (loop time of K2 - loop time of K1), which removes warm-up and set-up. On the CPU each
process has one thread. Writes results/scaling.md (or --out).

    python benchmarks/scaling.py [--procs 1 2] [--device cpu|cuda] [--steps 60 260] [--reps 3] [--out scaling.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from _common import DEFAULT_DATA, REPO, command, commit, machine, write_result


def worker(args) -> None:
    from dpcgan import distributed
    from dpcgan.config import preset
    from dpcgan.data import load_dataset
    from dpcgan.train import train

    torch.set_num_threads(args.threads)
    world, device = distributed.init_from_env(args.device)
    try:
        data = load_dataset("mnist", "train", args.data_dir)
        walls = []
        for steps in args.steps:
            # The paper preset as it runs for release (no seed: OS-entropy noise), for a fixed number of steps.
            cfg = preset("paper").replace(steps=steps, target_epsilon=None)
            walls.append(train(cfg, data, None, progress=False, device=device, world=world).wall_time_s)
        if world.main:
            Path(args.result).write_text(json.dumps({"walls": walls, "steps": args.steps}))
    finally:
        distributed.shutdown()


def measure(procs: int, args) -> float:
    """Steps per second of one launch of `procs` processes."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               str(Path(__file__).resolve()), "--worker", "--device", args.device, "--threads", str(args.threads),
               "--data-dir", args.data_dir, "--result", str(result), "--steps", *map(str, args.steps)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(REPO / "src"))
        subprocess.run(cmd, env=env, check=True, cwd=REPO)
        r = json.loads(result.read_text())
    (k1, k2), (w1, w2) = r["steps"], r["walls"]
    return (k2 - k1) / (w2 - w1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--steps", type=int, nargs=2, default=[60, 260], metavar=("K1", "K2"))
    ap.add_argument("--reps", type=int, default=3, help="launches per configuration (median reported)")
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default="scaling.md", help="file name under results/")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    torch.set_num_threads(args.threads)  # so that machine() reports the per-process thread count

    if args.device == "cuda":
        gpus = torch.cuda.device_count()
        skipped = [n for n in args.procs if n > gpus]
        args.procs = [n for n in args.procs if n <= gpus]
        if not args.procs:
            sys.exit(f"no CUDA device for {skipped} processes ({gpus} visible)")
    rates = {}
    for n in args.procs:
        runs = [measure(n, args) for _ in range(args.reps)]
        rates[n] = (statistics.median(runs), runs)
        print(f"{n} process(es): {rates[n][0]:.1f} steps/s (runs: {', '.join(f'{r:.1f}' for r in runs)})", flush=True)

    base = rates[min(rates)][0]
    device = args.device + (f" ({torch.cuda.get_device_name(0)})" if args.device == "cuda" else "")
    lines = [
        "# Training-step throughput: 1 vs several processes (torch.distributed)",
        "",
        f"- command: `{command()}`",
        f"- machine: {machine()}; device: {device}",
        f"- commit: {commit()}; date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- what: the real training loop (`dpcgan.train.train`), paper preset (FC model, B = 600, sigma = 1.12, "
        f"C = 1.1, split clipping), MNIST (n = 60,000), release mode (OS-entropy noise, drawn by rank 0 only); "
        f"one D step + one G step per step; {args.threads} thread(s) per process; "
        f"steps/s from the loop time of {args.steps[1]} minus {args.steps[0]} steps; median of {args.reps} launches",
        "",
        "| processes | steps/s | speed-up | efficiency | launches (steps/s) |",
        "|---|---|---|---|---|",
    ]
    for n, (rate, runs) in rates.items():
        speedup = rate / base
        lines.append(f"| {n} | {rate:.1f} | {speedup:.2f}× | {speedup / n * min(rates):.0%} | "
                     f"{', '.join(f'{r:.1f}' for r in runs)} |")
    lines += ["", "Each process samples its shard at the global rate q and generates its share of the fakes; the clipped "
              "sums and G's gradients are all-reduced once per step (gloo on the CPU, NCCL on GPUs). The privacy "
              "accounting is the same for every row.", ""]
    path = write_result(args.out, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
