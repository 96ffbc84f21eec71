"""Load a released generator and draw labeled synthetic data from it (post-processing: no privacy cost)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from .config import load_label_prior
from .errors import DataError, DPCGANError, one_line
from .io import image_grid, png_bytes, save_npz_atomic, write_bytes_atomic, write_json_atomic
from .models import ModelSpec, build_generator

GENERATOR_FORMAT = "dpcgan-generator-v1"


def generator_checkpoint(G: torch.nn.Module, spec: ModelSpec, label_prior: list[float]) -> dict:
    return {"format": GENERATOR_FORMAT, "spec": spec.to_dict(), "label_prior": list(label_prior),
            "state_dict": {k: v.detach().cpu() for k, v in G.state_dict().items()}}


def load_generator(run: str | Path) -> tuple[torch.nn.Module, dict]:
    """G from RUN/generator.pt (or a .pt path), loaded with weights_only=True: no code runs on load."""
    path = Path(run)
    if path.is_dir():
        path = path / "generator.pt"
    if not path.is_file():
        raise DPCGANError(f"{path}: no generator found; pass a run directory written by `dpcgan train`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refusals, truncation, garbage
        raise DataError(f"{path}: not a loadable dpcgan generator ({type(e).__name__}: {one_line(e)})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != GENERATOR_FORMAT:
        raise DataError(f"{path}: not a dpcgan generator checkpoint (format {GENERATOR_FORMAT})")
    spec = ModelSpec.from_dict(ckpt["spec"])
    G = build_generator(spec)
    try:
        G.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise DataError(f"{path}: weights do not match architecture {spec.arch}: {e}") from e
    G.eval()
    return G, ckpt


def balanced_labels(n: int, prior: list[float], generator: torch.Generator) -> torch.Tensor:
    """n labels whose class counts follow `prior` as closely as integers allow (largest remainder), shuffled."""
    p = np.asarray(prior, dtype=float)
    exact = p * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    y = torch.repeat_interleave(torch.arange(len(p)), torch.from_numpy(counts))
    return y[torch.randperm(n, generator=generator)]


@torch.no_grad()
def generate(G: torch.nn.Module, y: torch.Tensor, generator: torch.Generator, batch: int = 4096) -> torch.Tensor:
    """uint8 images (N, C, H, W) for labels y, from G in eval mode (normalisation layers use their running
    statistics, as after `load_generator`, and are left unchanged)."""
    out = []
    was_training = G.training
    G.eval()
    try:
        for i in range(0, len(y), batch):
            yb = y[i : i + batch]
            out.append(G(G.sample_latent(len(yb), generator), yb).mul(255).round_().clamp_(0, 255).to(torch.uint8))
    finally:
        G.train(was_training)
    return torch.cat(out) if out else torch.empty(0, *G.image_shape, dtype=torch.uint8)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(n: int, bytes_per_sample: int, what: str = "samples") -> None:
    """Refuse, before anything is drawn, an n whose output cannot fit in memory (a clear error instead of a
    RuntimeError from torch or minutes of swapping before an OOM kill)."""
    need, free = n * bytes_per_sample, available_memory()
    if free is not None and need > free:
        raise DPCGANError(f"-n {n}: {n:,} {what} need about {need / 2**30:.1f} GiB of memory and {free / 2**30:.1f} GiB "
                          f"are available; draw at most {max(free // bytes_per_sample, 1):,} at a time (several "
                          "calls with different --seed, or out files)")


def sample_synthetic(G: torch.nn.Module, n: int, prior: list[float], generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x uint8 (N, H, W) for one channel, (N, C, H, W) otherwise; y int64 (N,)."""
    # the uint8 images and int64 labels, twice (the batches' concatenation copies them)
    check_fits_in_memory(n, 2 * (int(np.prod(G.image_shape)) + 8))
    y = balanced_labels(n, prior, generator)
    x = generate(G, y, generator).numpy()
    if x.shape[1] == 1:
        x = x[:, 0]
    return x, y.numpy().astype(np.int64)


FORMATS = ("npz", "png")


def run_label_names(run_dir: Path, num_classes: int) -> list[str]:
    """The run's public label names (config.json), or '0'..'K-1'."""
    config = run_dir / "config.json"
    names = json.loads(config.read_text())["config"].get("label_names") if config.is_file() else None
    return list(names) if names else [str(k) for k in range(num_classes)]


def sidecar(run_dir: Path, generator_file: Path, *, n: int, fmt: str, prior: list[float], prior_source: str,
            label_names: list[str]) -> dict:
    """synthetic.json: what travels with the samples so that their guarantee does too."""
    report_file = run_dir / "privacy.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    return {
        "generator_sha256": hashlib.sha256(generator_file.read_bytes()).hexdigest(),
        "run": run_dir.name,
        "report_this": report.get("report_this"),
        "guarantee": report.get("guarantee", "unknown: the run's privacy.json was not found"),
        "release": report.get("release", "unknown"),
        "n": n, "format": fmt, "labels": label_names, "label_prior": prior, "label_prior_source": prior_source,
        "note": "sampled from the run's generator: post-processing, so these records carry the run's (epsilon, delta) "
                "guarantee and nothing more",
    }


def refuse_to_overwrite(out: Path, overwrite: bool) -> None:
    """One rule for every output of `sample`: an existing file or folder is replaced only with --overwrite."""
    if out.exists() and not overwrite:
        raise DPCGANError(f"--out {out} already exists: pass --overwrite to replace it, or choose another --out")


def write_synthetic(run: str | Path, n: int, labels: str = "trained", out: str | Path | None = None,
                    seed: int | None = None, fmt: str = "npz", overwrite: bool = False) -> Path:
    """n labeled samples as an .npz (x uint8, y int64) or, with fmt='png', an image folder (one subfolder per
    class, named by the run's label names); a sidecar synthetic.json goes with them (beside the .npz as
    <stem>.json, inside the folder as synthetic.json)."""
    if n < 1:
        raise DPCGANError(f"-n must be >= 1 (got {n})")
    if fmt not in FORMATS:
        raise DPCGANError(f"--format must be one of {FORMATS} (got {fmt!r})")
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    default = run_dir / ("synthetic.npz" if fmt == "npz" else "synthetic")
    out = Path(out) if out else default
    if fmt == "npz" and out.suffix != ".npz":
        raise DPCGANError(f"--out {out}: --format npz writes a .npz file; name it *.npz (or use --format png)")
    if fmt == "png" and out.suffix:
        raise DPCGANError(f"--out {out}: --format png writes a folder of class subfolders; give a folder name without "
                          "a suffix (or use --format npz)")
    refuse_to_overwrite(out, overwrite)
    G, ckpt = load_generator(run)
    generator_file = Path(run) / "generator.pt" if Path(run).is_dir() else Path(run)
    # 'trained': the prior the run's fakes used (public, or its DP label histogram: released with the generator)
    prior = list(ckpt["label_prior"]) if labels == "trained" else load_label_prior(labels, G.num_classes)
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed()))
    x, y = sample_synthetic(G, n, prior, gen)
    names = run_label_names(run_dir, G.num_classes)
    meta = sidecar(run_dir, generator_file, n=n, fmt=fmt, prior=prior, prior_source=labels, label_names=names)
    if fmt == "npz":
        save_npz_atomic(out, x=x, y=y)
        write_json_atomic(out.with_suffix(".json"), meta)
        return out
    if out.exists():   # --overwrite: the old folder goes only once the new one is complete (write_image_folder)
        old = out.with_name(f".{out.name}.replaced")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        try:
            write_image_folder(out, x, y, names, meta)
        except BaseException:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return out
    write_image_folder(out, x, y, names, meta)
    return out


def write_image_folder(out: Path, x: np.ndarray, y: np.ndarray, names: list[str], meta: dict) -> None:
    """The ImageFolder layout, built in a staging folder and renamed into place (nothing half-written)."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        folders = [n.replace(os.sep, "_").replace("/", "_") or "_" for n in names]
        for folder in folders:
            (staging / folder).mkdir()
        for i, (image, label) in enumerate(zip(x, y)):
            array = image if image.ndim == 2 else (image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
            Image.fromarray(array).save(staging / folders[int(label)] / f"{i:07d}.png")
        write_json_atomic(staging / "synthetic.json", meta)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def release_warning(run: str | Path) -> str | None:
    """A warning when the run's privacy.json says its outputs are not for release (seeded or non-private)."""
    path = Path(run)
    report_file = (path if path.is_dir() else path.parent) / "privacy.json"
    if not report_file.is_file():
        return None
    try:
        report = json.loads(report_file.read_text())
    except ValueError:
        return None
    if report.get("release") == "release":
        return None
    reasons = report.get("not_for_release_reasons")  # (older privacy.json files: seeded or --mode off)
    why = ("; ".join(map(str, reasons)) if reasons else
           "it is not private (--mode off)" if report.get("mode") == "off" else "it was seeded (--seed)")
    return f"the run {path} is NOT FOR RELEASE: {why}; do not share these samples as private synthetic data"


def write_sample_grid(G: torch.nn.Module, path: str | Path, generator: torch.Generator, per_class: int = 10) -> None:
    """samples.png: one row per class, `per_class` samples each."""
    y = torch.arange(G.num_classes).repeat_interleave(per_class)
    images = generate(G, y, generator).numpy()
    write_bytes_atomic(path, png_bytes(image_grid(images, G.num_classes, per_class)))
