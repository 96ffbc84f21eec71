"""Gaussian noise for the summed clipped gradient: N(0, (sigma * C)^2) on every coordinate, once per step.

Two sources:
  * SeededNoise (experiment mode, --seed): a torch generator, reproducible, checkpointable. Not for release.
  * SecureNoise (release mode): every draw comes from numpy's SFC64 keyed with 128 fresh bits of OS entropy, on
    every device (on a GPU the draws are made on the host and copied over, pinned and non-blocking: CUDA's Philox
    generator takes only a 64-bit seed), so no state exists that could predict or replay the noise. Each
    coordinate is (s*d1 + s*d2 + s*d3 + s*d4) / 2 for four independent standard normal draws d_i, each *scaled
    in the target dtype before the sum* (std s again): the construction of Holohan & Braghin 2021, as in Opacus'
    secure mode. A single draw s*d reaches only a sparse subset of the float grid (multiplying the grid by s maps
    it onto 83-91 % of the values of a binade), and that gap leaks the unnoised value; the sum of four scaled
    draws reaches every float of the grid (tests/test_secure_noise.py: all of 200,000 float32 values sampled from
    the binade of the presets' noise scales are reachable, against 83-90 % when scaling after the sum). What it does not protect against: the normal draws themselves are
    numpy's (ziggurat) floats, not an exact sampler; counts are never released with this noise (they use the
    discrete Gaussian, privacy/discrete_gaussian.py).
"""

from __future__ import annotations

import secrets

import numpy as np
import torch


class SeededNoise:
    secure = False

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def normal(self, shape, std: float, like: torch.Tensor) -> torch.Tensor:
        """Drawn on the generator's own device (a CUDA generator cannot fill a CPU tensor), then moved to
        `like`'s device if that differs (e.g. the DP label histogram's counts, on the host in a CUDA run)."""
        device = self.generator.device if self.generator is not None else like.device
        draws = torch.randn(shape, generator=self.generator, dtype=like.dtype, device=device).mul_(std)
        return draws if device == like.device else draws.to(like.device)


class SecureNoise:
    secure = True
    DRAWS = 4  # sum of 4 draws / 2 has the same std as one draw

    KEY_BITS = 128

    def normal(self, shape, std: float, like: torch.Tensor) -> torch.Tensor:
        # numpy SFC64 keyed with 128 fresh bits: a CPU torch.Generator keeps only 32 bits of its seed, CUDA's
        # Philox 64. One call for all draws (3x faster than a loop).
        rng = np.random.Generator(np.random.SFC64(secrets.randbits(self.KEY_BITS)))
        dtype = np.float64 if like.dtype == torch.float64 else np.float32
        draws = torch.from_numpy(rng.standard_normal((self.DRAWS, *shape), dtype=dtype))
        noise = combine_draws(draws, std).to(dtype=like.dtype)
        if like.device.type == "cpu":
            return noise
        # pinned + non-blocking: the host does not wait for the GPU's queue (the copy is ordered on its stream)
        return noise.pin_memory().to(like.device, non_blocking=True)


def combine_draws(draws: torch.Tensor, std: float) -> torch.Tensor:
    """(4, *shape) standard normal draws -> (*shape) noise of std `std`: each draw scaled in its own dtype, then
    summed in a fixed order and halved (exact in binary floating point). Scaling *after* the sum would map the
    dense sum back onto the sparse image of one multiplication (the flaw this order avoids)."""
    scaled = draws * std                                   # fl(d_i * std), in the draws' dtype
    total = ((scaled[0] + scaled[1]) + scaled[2]) + scaled[3]
    return total / 2.0


def add_gaussian_noise_(grads: dict, std: float, noise) -> None:
    """In place: grads[p] += N(0, std^2 I) drawn from `noise` (a SeededNoise, SecureNoise or torch.Generator)."""
    if isinstance(noise, torch.Generator) or noise is None:
        noise = SeededNoise(noise)
    for g in grads.values():
        g.add_(noise.normal(g.shape, std, g))
