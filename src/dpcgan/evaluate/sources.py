"""Where an evaluation's real data came from, and therefore where its result may go.

An evaluation reads real data twice: the training records (the FID-like feature network, its floor, the real
reference row) and the test records. Its numbers describe that data, outside any DP guarantee. Only when both are
public benchmarks (mnist, fashion-mnist: downloaded and checksummed) does it describe nothing private; then it is
RUN/evaluation.json and the releasable report embeds it. Anything else (your own folder, .npz, CSV, the run's own
training data) is private: RUN/private/evaluation.json, left out of the releasable report unless asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PUBLIC_BENCHMARK = "public-benchmark"
PRIVATE = "private"
EVALUATION_FILE = "evaluation.json"                   # RUN/: both real data sets public benchmarks
PRIVATE_EVALUATION_FILE = "private/evaluation.json"   # RUN/private/: everything else


def data_source(spec: str | None, split: str) -> dict[str, Any] | None:
    """{kind, name[, split]} of the real records read from `spec`: a benchmark by name and split, anything else
    as private, named by its file name only (never located)."""
    from ..data.download import BENCHMARKS

    if not spec:
        return None
    if str(spec) in BENCHMARKS:
        return {"kind": PUBLIC_BENCHMARK, "name": str(spec), "split": split}
    return {"kind": PRIVATE, "name": Path(str(spec)).name}


def is_public(result: dict[str, Any] | None) -> bool:
    """True only when the result records both its real training and test data as public benchmarks. A result
    without data_sources (written by an older dpcgan) counts as private."""
    sources = (result or {}).get("data_sources")
    if not isinstance(sources, dict):
        return False
    return all(isinstance(sources.get(k), dict) and sources[k].get("kind") == PUBLIC_BENCHMARK
               for k in ("train", "test"))


def describe(result: dict[str, Any] | None) -> str:
    """'train: NAME, test: NAME' (by name only), or a note that the sources were not recorded."""
    sources = (result or {}).get("data_sources")
    if not isinstance(sources, dict):
        return "data sources not recorded (an older evaluation.json: treated as private)"
    parts = []
    for key in ("train", "test"):
        s = sources.get(key)
        if isinstance(s, dict):
            split = f" {s['split']} split" if s.get("split") else ""
            parts.append(f"{key}: {s.get('name')}{split} ({s.get('kind')})")
        else:
            parts.append(f"{key}: none")
    return ", ".join(parts)


def strip_locations(result: dict[str, Any], run_dir: Path | None = None) -> dict[str, Any]:
    """The result with every path on this machine reduced to a name (the synthetic file relative to the run, the
    feature network's cache file by name): evaluation.json may be released, and paths say who ran it where."""
    out = dict(result)
    if out.get("synthetic_file"):
        path = Path(out["synthetic_file"])
        try:
            out["synthetic_file"] = str(path.resolve().relative_to(Path(run_dir).resolve())) if run_dir else path.name
        except ValueError:
            out["synthetic_file"] = path.name
    fidelity = out.get("fidelity")
    if isinstance(fidelity, dict) and isinstance(fidelity.get("feature_net"), dict):
        net = dict(fidelity["feature_net"])
        if net.get("cache_file"):
            net["cache_file"] = Path(net["cache_file"]).name
        if net.get("cache_error"):
            net["cache_error"] = str(net["cache_error"]).split(":")[0] + ": could not write the cache"
        out["fidelity"] = dict(fidelity, feature_net=net)
    if isinstance(out.get("real_reference"), dict):
        out["real_reference"] = strip_locations(out["real_reference"], run_dir)
    return out
