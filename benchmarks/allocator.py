"""Kernel time with glibc's default allocator vs `dpcgan.allocator.keep_freed_memory` (what `dpcgan train` applies).

    python benchmarks/allocator.py [--batch-size 2048] [--steps 12] [--threads 1] [--reps 2]

Each measurement is a fresh process training the mnist-eps10 models for a few D steps (seeded, nothing written);
the two settings alternate, so machine noise hits both. Reports user, system (kernel) and wall seconds per run
and writes results/allocator.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone

from _common import DEFAULT_DATA, command, commit, machine, write_result

CHILD = r"""
import json, resource, sys, time, torch
mode, batch, steps, threads, data_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
if mode == "keep_freed_memory":
    from dpcgan.allocator import keep_freed_memory
    assert keep_freed_memory()
from dpcgan.config import preset
from dpcgan.data import load_dataset
from dpcgan.train import train
data = load_dataset("mnist", "train", data_dir, download=False)
cfg = preset("mnist-eps10").replace(batch_size=batch, steps=steps, noise_multiplier=1.0, target_epsilon=None, seed=0,
                                    progress_grids=0)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
train(cfg, data, None, progress=False)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime, "wall": time.perf_counter() - t0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    runs = {"glibc default": [], "keep_freed_memory": []}
    for _ in range(args.reps):
        for mode in runs:
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(args.batch_size), str(args.steps),
                                  str(args.threads), args.data_dir], capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    for mode, rs in runs.items():
        mean = {k: sum(r[k] for r in rs) / len(rs) for k in ("user", "sys", "wall")}
        rows.append(f"| {mode} | {mean['user']:.1f} | {mean['sys']:.1f} | {mean['wall']:.1f} | {len(rs)} |")
    base, tuned = ({k: sum(r[k] for r in rs) / len(rs) for k in ("sys", "wall")} for rs in runs.values())
    text = (f"# Allocator: kernel time of a training process\n\n"
            f"`{command()}` — {machine()}, {args.threads} thread(s), commit {commit()}, "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. mnist-eps10 models, B = {args.batch_size}, "
            f"{args.steps} D steps (n_D = 2) per run, a fresh process per run, the two settings alternating.\n\n"
            "| allocator | user s | system (kernel) s | wall s | runs |\n|---|---|---|---|---|\n" + "\n".join(rows) +
            f"\n\nkeep_freed_memory (mallopt M_MMAP_MAX = 0, M_TRIM_THRESHOLD = 2^31 - 1; `dpcgan train` applies it "
            f"to itself, `DPCGAN_DEFAULT_MALLOC=1` turns it off): kernel time x{tuned['sys'] / base['sys']:.2f}, "
            f"wall time x{tuned['wall'] / base['wall']:.2f}. Machines here are shared and noisy: compare the two "
            "rows of one run, not absolute times.\n")
    print(text)
    write_result("allocator.md", text)


if __name__ == "__main__":
    main()
