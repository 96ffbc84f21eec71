"""Training checkpoints: everything needed to continue a run exactly where it stopped.

Saved atomically in the staging directory; loaded with weights_only=True (no code runs on load); deleted when
the run completes, because it holds the sampling RNG state and (in experiment mode) the noise RNG state.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import warnings
from pathlib import Path

import torch

from ..errors import ConfigError, DataError, one_line
from ..io import save_torch_atomic, write_json_atomic

CHECKPOINT_NAME = "private/checkpoint.pt"
CHECKPOINT_FORMAT = "dpcgan-checkpoint-v2"


# --- forks: a checkpoint that its run already continued past ------------------------------------------------
# Resuming one checkpoint twice (e.g. from a copy of the run directory) releases two runs that share their first
# steps: together they cost more than one epsilon. Every checkpoint has a random id; when its run writes the next
# checkpoint or completes, the id is recorded here (per user, beside the dataset cache), and resuming a recorded
# checkpoint is a fork.

def superseded_registry() -> Path:
    from ..data.download import user_cache_dir

    return user_cache_dir() / "superseded-checkpoints"


def mark_superseded(checkpoint_id: str | None, step: int) -> None:
    if not checkpoint_id:
        return
    try:
        registry = superseded_registry()
        registry.mkdir(parents=True, exist_ok=True)
        write_json_atomic(registry / checkpoint_id, {"continued_past_step": step})
    except OSError as e:  # never fail a run over it, but say that forks of it will go unnoticed
        warnings.warn(f"could not record checkpoint {checkpoint_id} as continued ({e}); a later resume of a copy "
                      "of it would not be detected as a fork", RuntimeWarning, stacklevel=2)


def supersede_checkpoint(path: Path, checkpoint_id: str | None, step: int) -> None:
    """The run at staging dir `path` finished its D steps: before any final file is written, mark that (a marker
    written atomically, then the checkpoint deleted, then the id recorded as continued past), so that a failure
    while writing them leaves nothing that `--resume` would turn into a second generator."""
    from .run_dir import FINISHED_MARKER

    write_json_atomic(path / FINISHED_MARKER, {
        "finished_at_step": step,
        "note": "the run finished its D steps; its checkpoint is superseded and this folder cannot be resumed"})
    (path / CHECKPOINT_NAME).unlink(missing_ok=True)
    mark_superseded(checkpoint_id, step)


def superseded_at(checkpoint_id: str | None) -> int | None:
    """The step its run had continued past this checkpoint to, or None if it never did (as far as recorded)."""
    file = superseded_registry() / checkpoint_id if checkpoint_id else None
    if file is None or not file.is_file():
        return None
    try:
        return int(json.loads(file.read_text())["continued_past_step"])
    except (ValueError, KeyError, TypeError):
        return -1


def data_fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """Identifies the training data so a resume on other data is refused. Kept only in the (private,
    temporary) checkpoint, never in a released file."""
    h = hashlib.sha256()
    h.update(str((tuple(x.shape), str(x.dtype))).encode())
    if hasattr(x, "raw_bytes"):  # memory-mapped: stream the file, never the whole array in memory
        for block in x.raw_bytes():
            h.update(block)
    else:
        h.update(x.contiguous().numpy().tobytes())
    h.update(y.contiguous().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: Path, *, step: int, G, D, d_opt, g_opt, ledger, gens, spec, fingerprint: str,
                    rng_by_rank: list | None = None, device_type: str = "cpu", G_ema=None,
                    label_prior: list | None = None, schedule: dict | None = None,
                    warm_start_means: torch.Tensor | None = None, warm_start_embedding: dict | None = None) -> str:
    """rng_by_rank: with several processes, every rank's generator states (rank 0 writes the checkpoint).
    Returns the new checkpoint's random id."""
    checkpoint_id = secrets.token_hex(16)
    save_torch_atomic(path / CHECKPOINT_NAME, {
        "checkpoint_id": checkpoint_id,
        "format": CHECKPOINT_FORMAT, "step": step, "spec": spec.to_dict(),
        "G": G.state_dict(), "D": D.state_dict(), "d_opt": d_opt.state_dict(), "g_opt": g_opt.state_dict(),
        "ledger": ledger.to_dict(), "rng": gens.state(), "seeded": gens.seeded, "data_fingerprint": fingerprint,
        "world_size": len(rng_by_rank) if rng_by_rank else 1, "rng_by_rank": rng_by_rank or [],
        "device_type": device_type, "G_ema": G_ema.state_dict() if G_ema is not None else None,
        "label_prior": label_prior, "schedule": schedule,
        "warm_start_means": warm_start_means,  # released (DP) means, kept when G's loss keeps matching them
        "warm_start_embedding": warm_start_embedding,  # released mean embeddings and their public frequencies
    })
    return checkpoint_id


def load_checkpoint(path: Path, *, spec, fingerprint: str, world_size: int = 1,
                    device_type: str = "cpu") -> dict | None:
    """The checkpoint in run staging dir `path`, or None if there is none yet. It must have been written by as
    many processes on the same kind of device: each process's sampling and latent generator states are in it."""
    file = path / CHECKPOINT_NAME
    if not file.is_file():
        return None
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"{file}: unreadable or tampered checkpoint ({type(e).__name__}: {one_line(e)}); "
                        "delete it to restart the run from scratch") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{file}: not a dpcgan checkpoint")
    if ckpt["spec"] != spec.to_dict():
        raise DataError(f"{file}: checkpoint is for architecture {ckpt['spec']}, the run is {spec.to_dict()}")
    if ckpt["data_fingerprint"] != fingerprint:
        raise DataError(f"{file}: the checkpoint was made on different training data; resume with the same "
                        "--dataset and --data-dir")
    saved_world = ckpt.get("world_size", 1)
    if saved_world != world_size:
        how = "without torchrun" if saved_world == 1 else f"with `torchrun --nproc-per-node {saved_world} -m dpcgan`"
        raise ConfigError(f"{file}: the run was checkpointed by {saved_world} training process(es) and this is "
                          f"{world_size}; resume it {how} (in all {saved_world} processes)")
    saved_device = ckpt.get("device_type", "cpu")
    if saved_device != device_type:
        raise ConfigError(f"{file}: the run was checkpointed on {saved_device} and this is {device_type} (their "
                          f"random generators differ); resume with --device {saved_device}")
    return ckpt
