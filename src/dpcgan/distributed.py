"""Devices and several processes (torch DDP via torchrun), without changing the mechanism.

With N processes, one DP-SGD step of D is still exactly one Poisson-subsampled Gaussian mechanism:
  * rank r Poisson-samples the records r, r+N, r+2N, ... with the global rate q, so the union of the ranks'
    batches is a Poisson sample of the whole dataset (the accountant does not change);
  * every rank clips its own units; the clipped sums are all-reduced (SUM);
  * the Gaussian noise N(0, sigma^2 C^2) is drawn once, by rank 0, and added to its sum before the all-reduce
    (as Opacus' DistributedDPOptimizer does): noise on every rank would be sqrt(N) times too large in std;
  * the B public fake samples of a step are split across ranks (World.share).
All ranks then apply the same reduced gradient, so the models stay identical (checked by World.check_identical).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.distributed as dist
from torch import nn

from .errors import ConfigError, DPCGANError, one_line

DEVICES = ("auto", "cpu", "cuda")
CPU_SEED_MASK = 0xFFFF_FFFF  # a CPU torch.Generator seeds its Mersenne twister with the low 32 bits only


def resolve_device(name: str | torch.device | None, local_rank: int = 0) -> torch.device:
    """'auto' is CUDA when available; with several processes on a machine, process k uses GPU k."""
    if name is None:
        return torch.device("cpu")
    if isinstance(name, torch.device):
        return name
    if name not in DEVICES:
        raise ConfigError(f"--device must be one of {DEVICES} (got {name!r})")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (or this torch build has no CUDA); "
                          "use --device cpu, or install a CUDA build of torch (DPCGAN_TORCH in scripts/setup.sh)")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(f"process {local_rank} of this machine has no GPU of its own ({torch.cuda.device_count()} "
                          "visible): use --nproc-per-node at most the number of GPUs")
    return torch.device("cuda", local_rank)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy that does not make the host wait for the GPU (pinned, non-blocking)."""
    if device.type == "cpu":
        return t
    return t.pin_memory().to(device, non_blocking=True)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes. World() is a single process: every collective is a no-op."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the only process that draws the noise and writes files."""
        return self.rank == 0

    @classmethod
    def current(cls) -> "World":
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def share(self, total: int) -> int:
        """This rank's part of `total` public items (the fake samples of a step): B//N, one more for r < B%N."""
        return total // self.size + (1 if self.rank < total % self.size else 0)

    def all_reduce_sum_(self, tensors: Iterable[torch.Tensor]) -> None:
        """In place: every tensor becomes its sum over ranks (one flat buffer, one collective)."""
        tensors = list(tensors)
        if self.size == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()

    def broadcast_module_(self, *modules: nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (release-mode initialisation differs per rank)."""
        if self.size == 1:
            return
        with torch.no_grad():
            for m in modules:
                for t in [*m.parameters(), *m.buffers()]:
                    dist.broadcast(t.data, src=0)

    def all_gather_object(self, obj) -> list:
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank."""
        if self.size == 1:
            return obj
        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def from_main(self, fn: Callable, *, share: bool = False):
        """Run fn() on rank 0 only (file-system work: the run directory, the checkpoint). Its failure is raised on
        every rank, so that no rank waits forever in a collective. Returns its result on rank 0 (on every rank
        with share=True), None elsewhere."""
        ok, result, error = True, None, None
        if self.main:
            try:
                result = fn()
            except Exception as e:
                ok, error = False, e
        if self.size > 1:
            status = self.broadcast_object((ok, result if share and ok else None,
                                            None if ok else f"{type(error).__name__}: {one_line(error)}"))
            if not self.main:
                ok, result, message = status
                if not ok:
                    raise DPCGANError(f"rank 0 stopped: {message}")
        if not ok:
            raise error
        return result

    def check_identical(self, *modules: nn.Module) -> None:
        """Every rank must hold exactly rank 0's weights: they apply the same reduced updates, so a difference
        is a bug (a rank that skipped a step or a collective), never rounding."""
        if self.size == 1:
            return
        with torch.no_grad():
            mine = torch.cat([p.detach().reshape(-1) for m in modules for p in m.parameters()])
            ref = mine.clone()
            dist.broadcast(ref, src=0)
            differs = torch.tensor([float(not torch.equal(mine, ref))], device=mine.device)
            dist.all_reduce(differs, op=dist.ReduceOp.SUM)
        if differs.item():
            raise RuntimeError(f"the model weights differ between the {self.size} training processes")

    def check_same_data(self, n: int, fingerprint: str) -> None:
        """Every rank must hold the same dataset: each samples its own shard of it by index, so ranks with
        different data (or a different n) could include one record twice in a step, or use a wrong q."""
        if self.size == 1:
            return
        seen = self.all_gather_object((n, fingerprint))
        if len(set(seen)) != 1:
            sizes = ", ".join(f"rank {r}: n={s[0]}" for r, s in enumerate(seen))
            raise ConfigError(f"the training processes hold different datasets ({sizes}; SHA-256 fingerprints "
                              f"{'equal' if len({s[1] for s in seen}) == 1 else 'differ'}): every process needs the "
                              "same --dataset file (and --data-dir contents)")

    def make_sampling_streams_distinct(self, gens) -> None:
        """The ranks' Poisson sampling generators must be independent: with one seed, records r + jN of every shard
        would be included together and the union would not be a Poisson sample. Seeded mode (seeds derived from
        seed and rank) refuses a collision; release mode keys every draw afresh from OS entropy."""
        if self.size == 1 or not gens.seeded:
            return  # release mode: every call draws a fresh 128-bit key from OS entropy on each rank
        while True:
            seeds = self.all_gather_object(gens.sampling.initial_seed() & CPU_SEED_MASK)
            if len(set(seeds)) == self.size:
                return
            if gens.seeded:
                raise ConfigError("two processes got the same Poisson sampling seed from --seed: choose another --seed")
            gens.sampling.manual_seed(secrets.randbits(63))


def init_from_env(device: str | None = "auto") -> tuple[World, torch.device]:
    """Join the process group that torchrun describes in the environment (WORLD_SIZE > 1): gloo on CPU, nccl on
    CUDA. Without torchrun: a single process. Returns the world and this process's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if size <= 1:
        return World(), dev
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed: run a single process")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size()), dev


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
