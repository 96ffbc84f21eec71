"""Poisson sampling: the only way training code reads private records.

Each step includes every record independently with probability q (exactly: see `poisson_sample_rate`), so the batch size varies (and may be 0).
This is the sampling scheme the RDP accountant for the subsampled Gaussian mechanism assumes.

With several training processes, process `rank` of `world_size` owns the records rank, rank + N, rank + 2N, ...
and samples each of them with the same global rate q (from its own, independent generator): every record is
still included independently with probability q, so the union over processes is exactly one Poisson sample of
the whole dataset and the accounting does not change.
"""

from __future__ import annotations

import math

import torch

from .records import LabeledImages

# Inclusion is decided by comparing a uniform 53-bit integer k with an integer threshold T: P(include) = T / 2^53
# exactly. (Float32 uniforms compared with q in float32 include a record with probability ceil(q 2^24) / 2^24,
# which can exceed q, e.g. by 19% for n = 10^7, B = 1, while the accountant would be fed q.)
UNIFORM_BITS = 53
UNIFORM_RANGE = 1 << UNIFORM_BITS


def inclusion_threshold(q: float) -> int:
    """T = floor(q * 2^53): records with k < T are included, so P(include) = T / 2^53 <= q."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"sample rate must be in (0, 1], got {q}")
    return min(math.floor(q * UNIFORM_RANGE), UNIFORM_RANGE)  # q * 2^53 is exact in float64 (a power-of-2 scaling)


def poisson_sample_rate(q: float) -> float:
    """The inclusion probability the sampler really uses for a requested rate q: T / 2^53 <= q (exact in float64).
    This is the rate the accountant must be fed."""
    return inclusion_threshold(q) / UNIFORM_RANGE


class PoissonSampler:
    def __init__(self, data: LabeledImages, sample_rate: float, generator, *, rank: int = 0,
                 world_size: int = 1):
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.data = data
        self.threshold = inclusion_threshold(sample_rate)
        self.sample_rate = self.threshold / UNIFORM_RANGE  # the exact inclusion probability (<= the requested rate)
        self.generator = generator
        self.rank, self.world_size = rank, world_size
        self.shard_size = len(range(rank, len(data), world_size))

    def sample_indices(self) -> torch.Tensor:
        """Indices into the whole dataset of this shard's Poisson batch."""
        if isinstance(self.generator, torch.Generator):
            # randint over [0, 2^53) reduces a 64-bit draw mod 2^53: exactly uniform (2^53 divides 2^64)
            k = torch.randint(0, UNIFORM_RANGE, (self.shard_size,), generator=self.generator, dtype=torch.int64)
        else:  # release mode: a source with fresh OS entropy per call (dpcgan.rng.OSEntropyUniform)
            k = self.generator.integers(self.shard_size, UNIFORM_RANGE)
        mask = k < self.threshold
        local = mask.nonzero().squeeze(1)
        return local if self.world_size == 1 else local.mul_(self.world_size).add_(self.rank)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One Poisson batch: pixels (m, C, H, W) in [0, 1] and labels (m,), m ~ Binomial(shard size, q)."""
        idx = self.sample_indices()
        return self.data.float_images(idx), self.data.y[idx]
