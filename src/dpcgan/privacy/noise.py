"""Gaussian noise for the summed clipped gradient: N(0, (sigma * C)^2) on every coordinate, once per step."""

from __future__ import annotations

import torch


def add_gaussian_noise_(grads: dict, std: float, generator: torch.Generator | None) -> None:
    """In place: grads[p] += N(0, std^2 I). `generator` is the dedicated noise RNG."""
    for p, g in grads.items():
        g.add_(torch.randn(g.shape, generator=generator, dtype=g.dtype, device=g.device), alpha=std)
