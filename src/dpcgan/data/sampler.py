"""Poisson sampling: the only way training code reads private records.

Each step includes every record independently with probability q, so the batch size varies (and may be 0).
This is the sampling scheme the RDP accountant for the subsampled Gaussian mechanism assumes.
"""

from __future__ import annotations

import torch

from .datasets import LabeledImages


class PoissonSampler:
    def __init__(self, data: LabeledImages, sample_rate: float, generator: torch.Generator):
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        self.data = data
        self.sample_rate = sample_rate
        self.generator = generator

    def sample_indices(self) -> torch.Tensor:
        mask = torch.rand(len(self.data), generator=self.generator) < self.sample_rate
        return mask.nonzero().squeeze(1)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One Poisson batch: pixels (m, C, H, W) in [0, 1] and labels (m,), m ~ Binomial(n, q)."""
        idx = self.sample_indices()
        return self.data.float_images(idx), self.data.y[idx]
