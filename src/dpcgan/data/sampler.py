"""Poisson sampling: the only way training code reads private records.

Each step includes every record independently with probability q, so the batch size varies (and may be 0).
This is the sampling scheme the RDP accountant for the subsampled Gaussian mechanism assumes.

With several training processes, process `rank` of `world_size` owns the records rank, rank + N, rank + 2N, ...
and samples each of them with the same global rate q (from its own, independent generator): every record is
still included independently with probability q, so the union over processes is exactly one Poisson sample of
the whole dataset and the accounting does not change.
"""

from __future__ import annotations

import torch

from .datasets import LabeledImages


class PoissonSampler:
    def __init__(self, data: LabeledImages, sample_rate: float, generator, *, rank: int = 0,
                 world_size: int = 1):
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.data = data
        self.sample_rate = sample_rate
        self.generator = generator
        self.rank, self.world_size = rank, world_size
        self.shard_size = len(range(rank, len(data), world_size))

    def sample_indices(self) -> torch.Tensor:
        """Indices into the whole dataset of this shard's Poisson batch."""
        if isinstance(self.generator, torch.Generator):
            u = torch.rand(self.shard_size, generator=self.generator)
        else:  # release mode: a source with fresh OS entropy per call (dpcgan.rng.OSEntropyUniform)
            u = self.generator.rand(self.shard_size)
        mask = u < self.sample_rate
        local = mask.nonzero().squeeze(1)
        return local if self.world_size == 1 else local.mul_(self.world_size).add_(self.rank)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One Poisson batch: pixels (m, C, H, W) in [0, 1] and labels (m,), m ~ Binomial(shard size, q)."""
        idx = self.sample_indices()
        return self.data.float_images(idx), self.data.y[idx]
