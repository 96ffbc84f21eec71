"""What `dpcgan train` shares between its image and table paths (images/cli.py, tables/train_cli.py): the
config file, the preset name, the printed plan and the final line. Outside commands/ so that neither modality
climbs back into the command layer that dispatches to it (modality.py)."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from .config import TrainConfig, describe_plan, plural, read_preset_file, resolve_plan
from .errors import ConfigError
from .io import read_toml_or_json


# When the command began, for the final line's whole-command time: set by command_started() (cli.main); until then,
# when this module was imported.
COMMAND_START = time.perf_counter()


def process_age_s() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat's start time against /proc/uptime); None where
    that cannot be read."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def command_started(*, whole_process: bool) -> None:
    """Start the whole-command clock. whole_process: the command is this process's command line (`dpcgan train ...`,
    cli.main() without argv), so it began when the process did (Python's start and the imports, about 4 s with
    torch, are part of what the user waited for); else (cli.main([...]) from tests or a notebook) it begins now."""
    global COMMAND_START
    now = time.perf_counter()
    age = process_age_s() if whole_process else None
    if age is not None:
        COMMAND_START = now - age
    elif not whole_process:
        COMMAND_START = now


def read_config_file(path: str) -> dict:
    """TrainConfig fields from TOML or JSON (a run's config.json: its "config" part; a preset file of
    src/dpcgan/presets/: all its fields), plus an optional 'preset'."""
    p = Path(path)
    d = read_toml_or_json(p, flag="--config", default_format="json")
    if not isinstance(d, dict):
        raise ConfigError(f"--config {p}: expected a table of settings")
    if isinstance(d.get("config"), dict) and {"use_for", "results", "unset"} & set(d):   # a preset file
        d = read_preset_file(p).config.to_dict()   # every field: the file is the whole recipe
    elif isinstance(d.get("config"), dict):  # a run's config.json
        d = d["config"]
    known = {f.name for f in dataclasses.fields(TrainConfig)} | {"preset"}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"--config {p}: unknown setting(s) {unknown}; known: {sorted(known)}")
    for key in ("g_betas", "d_betas", "label_names"):
        if isinstance(d.get(key), list):
            d[key] = tuple(d[key])
    return d


def preset_name(args, file: dict | None = None) -> str:
    """The preset given (flag, then config file); else auto for your own images and paper for the benchmarks or
    when a config file gives the settings."""
    if file is None:
        file = read_config_file(args.config) if getattr(args, "config", None) else {}
    given = args.preset or file.get("preset")
    if given:
        return given
    from .config import DEFAULT_TABLE_PRESET
    from .data.datasets import is_benchmark
    from .tables.csvio import is_table

    dataset = getattr(args, "dataset", None) or file.get("dataset") or "mnist"
    if is_table(dataset) or getattr(args, "schema", None):
        return DEFAULT_TABLE_PRESET
    # a config file is the recipe (a run's config.json holds every field): auto's choices would only be overridden
    return "paper" if is_benchmark(dataset) or getattr(args, "config", None) else "auto"


def final_line(result, cfg, world, device) -> str:
    """The last line of `dpcgan train`: the run, the training time (the D steps, or the table run's releases and
    fit) and the whole command's time (with starting up, reading the data, the warm start and writing the run),
    epsilon and delta."""
    eps = "inf (non-private)" if result.epsilon is None else f"{result.epsilon:.4f}"
    procs = f" on {world.size} processes" if world.size > 1 else ""
    total = time.perf_counter() - COMMAND_START
    work = (f"{result.steps} D steps" if result.plan.table_features is None else
            f"{plural(sum(e.count for e in result.ledger.events if e.release == 'marginals'), 'release')} of count "
            "tables, "
            "G fitted to them,")
    line = (f"wrote {result.run_dir}: {work} in {result.wall_time_s:.0f} s{procs} ({device.type}; "
            f"{total:.0f} s for the whole command, with reading the data and writing the run), "
            f"epsilon = {eps} ({'PLD accounting' if cfg.conversion == 'pld' else cfg.conversion + ' conversion'}), delta = {cfg.delta + result.plan.delta_threshold:g}")
    if cfg.seed is not None or cfg.mode == "off":
        line += " -- NOT FOR RELEASE (" + ("non-private run" if cfg.mode == "off" else "seeded with --seed") + ")"
    return line


def print_plan(cfg, n: int, num_classes: int, schema_release=None, num_features: int | None = None) -> None:
    line, warnings = describe_plan(cfg, resolve_plan(cfg, n, num_classes, schema_release=schema_release,
                                                     num_features=num_features))
    print(line, flush=True)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr, flush=True)
