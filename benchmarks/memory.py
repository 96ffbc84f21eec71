"""Peak memory of training against dataset size n and batch size B, with data kept on disk.

Builds an on-disk dataset (x.npy, y.npy) of `--n-large` records (MNIST tiled, with fresh pixel noise on each copy so no
two records are equal), then runs `dpcgan train` for a few steps in a fresh process per setting and records
its peak resident memory (ru_maxrss). Rows are read with pread when sampled, so a flat curve in n shows that
training never loads the whole dataset. Writes results/memory.md.

    python benchmarks/memory.py [--n-large 1000000] [--steps 30] [--workdir /tmp/dpcgan-memory]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _common import DEFAULT_DATA, command, commit, machine, write_result
from dpcgan.data import load_dataset


def build_mapped(path: Path, n: int, data_dir: str) -> Path:
    if (path / "y.npy").is_file() and len(np.load(path / "y.npy", mmap_mode="r")) == n:
        return path
    path.mkdir(parents=True, exist_ok=True)
    mnist = load_dataset("mnist", "train", data_dir)
    base, labels = mnist.x[:, 0].numpy(), mnist.y.numpy()
    x = np.lib.format.open_memmap(path / "x.npy", mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    rng = np.random.default_rng(0)
    for start in range(0, n, len(base)):
        k = min(len(base), n - start)
        noise = rng.integers(-8, 9, size=(k, 28, 28))
        x[start : start + k] = np.clip(base[:k].astype(np.int16) + noise, 0, 255).astype(np.uint8)
    x.flush()
    np.save(path / "y.npy", np.resize(labels, n).astype(np.int64))
    return path


# The child reports its own peak RSS: RUSAGE_CHILDREN would mix in every earlier child.
CHILD = ("import resource, sys; from dpcgan.cli import main; rc = main(sys.argv[1:]); "
         "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")


def peak_rss_mib(args: list[str]) -> tuple[float, float]:
    """Run `dpcgan ...` in a fresh process; its peak RSS (MiB) and wall time (s)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, "--threads", "2", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    kb = int(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("MAXRSS_KB")))
    return kb / 1024, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-large", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batches", default="256,1024")
    ap.add_argument("--workdir", default="/tmp/dpcgan-memory")
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    work = Path(args.workdir)
    sizes = [60_000, args.n_large]
    datasets = {n: build_mapped(work / f"mnist-{n}", n, args.data_dir) for n in sizes}
    rows = []
    for n in sizes:
        for b in [int(v) for v in args.batches.split(",")]:
            out = work / "runs" / f"n{n}-b{b}"
            shutil.rmtree(out, ignore_errors=True)
            rss, wall = peak_rss_mib(["train", "--dataset", str(datasets[n]), "--num-classes", "10", "--batch-size", str(b), "--sigma", "1.0",
                                      "--steps", str(args.steps), "--delta", f"{0.1 / n:.1e}", "--seed", "0",
                                      "--out", str(out), "--no-progress"])
            rows.append((n, b, rss, wall))
            print(f"n={n} B={b}: peak RSS {rss:.0f} MiB, {wall:.1f} s", flush=True)
    data_mib = {n: n * 784 / 2**20 for n in sizes}
    lines = ["# Peak memory of training vs dataset size and batch size (data kept on disk)", "",
             f"- command: `{command()}`", f"- machine: {machine()}",
             f"- commit: {commit()}; date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
             f"- each setting: a fresh `dpcgan train` process, paper FC model, split mode, {args.steps} D steps, run "
             "directory written; data: MNIST tiled with ±8 pixel noise, stored as uint8 x.npy (read on demand) + y.npy",
             "- peak RSS: the training process's own ru_maxrss (includes ~340 MiB for importing torch, opacus and "
             "dp-accounting)", "",
             "| n | dataset on disk | B | peak RSS | wall time |", "|---|---|---|---|---|"]
    lines += [f"| {n:,} | {data_mib[n]:.0f} MiB | {b} | {rss:.0f} MiB | {wall:.1f} s |" for n, b, rss, wall in rows]
    lines.append("")
    write_result("memory.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
