"""Shared helpers for benchmarks: machine description, commit, writing results atomically."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
DEFAULT_DATA = Path(os.environ.get("DPCGAN_DATA", REPO.parent / "shared" / "data"))


def run_like_the_cli() -> None:
    """Training benchmarks run with the allocator setting `dpcgan train` applies to itself (dpcgan/allocator.py)."""
    from dpcgan.allocator import keep_freed_memory

    keep_freed_memory()


def start_training_benchmark(threads: int) -> str:
    """Set up a training benchmark like `dpcgan train` (allocator, thread count) and return the commit of the code
    this process runs, read now: HEAD may move while it trains."""
    run_like_the_cli()
    torch.set_num_threads(threads)
    return commit()


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{mem}; torch {torch.__version__} with {torch.get_num_threads()} threads; "
            f"Python {platform.python_version()}")


def commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def command() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])


def write_result(name: str, text: str) -> Path:
    from dpcgan.io import write_bytes_atomic

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    write_bytes_atomic(path, text.encode())
    return path


def parse_sets(items: list[str]) -> dict:
    """--set key=JSON items as TrainConfig changes (a JSON list becomes a tuple; a bare word stays a string)."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def train_or_reuse(cfg, data, out: Path, reuse: bool, progress: bool = True) -> float:
    """Train cfg into out, or with reuse keep a finished run there whose config is cfg's (any other is retrained,
    so a row never describes a run it did not measure). Returns the training wall time in seconds."""
    from dpcgan.train import train
    from dpcgan.train.run_dir import public_config, read_private_record

    if reuse and (out / "privacy.json").is_file():
        if json.loads((out / "config.json").read_text())["config"] == public_config(cfg):
            return read_private_record(out)["wall_time_s"]  # private: not in privacy.json
    return train(cfg, data, out, overwrite=True, progress=progress).wall_time_s
