"""DP per-class kernel mean embeddings (random Fourier features): the second release of the DP warm start.

DP-MERF (Harder et al., AISTATS 2021), and FETA-Pro after it, release per class the mean of random Fourier features
phi(x) = [cos(W x), sin(W x)] / sqrt(F) of the records (F frequencies, rows of W drawn from N(0, I / l^2)): the
mean embedding of a Gaussian kernel of length scale l, so matching it matches every moment the kernel sees, not
only the mean. ||phi(x)||^2 = sum_f (cos^2 + sin^2) / F = 1 for every x: one record moves one row of the (K, 2F)
sums by a vector of norm 1 whatever it holds, so no clipping is needed. The release is
    S + N(0, s^2) per entry (the secure float construction of privacy/noise.py),
the Gaussian mechanism with noise multiplier s (a ledger event of sample rate 1, composed with the D steps). It
releases no counts: the targets divide by the warm start's noisy counts (privacy/class_means.py), post-processing.

W is public: drawn from the run's seed before any record is read (its length scale from the public image shape,
never from the data, unlike DP-MERF's median heuristic). With `side`, images are average-pooled first, as for
the class means (a fixed function of one record).
"""

from __future__ import annotations

import math

import torch

from .class_means import CHUNK, pool, pooled_shape
from .discrete_gaussian import scale_at_least
from .noise import add_gaussian_noise_

# l^2 = this x the number of released pixels: a median squared distance between MNIST digits of 0.13 per pixel at
# 28 x 28 and 0.054 at 7 x 7; half of it kept the classes apart best under noise (nearest-embedding accuracy on
# the public MNIST test set at n = 5,000, s = 10). A public constant for images with pixels in [0, 1].
BANDWIDTH2_PER_PIXEL = 0.05


def default_bandwidth(released_pixels: int) -> float:
    return math.sqrt(BANDWIDTH2_PER_PIXEL * released_pixels)


def rff_frequencies(in_dim: int, features: int, bandwidth: float, seed: int) -> torch.Tensor:
    """(F, in_dim) frequencies drawn from N(0, I / bandwidth^2) with a public seed (float64)."""
    if features < 1 or not bandwidth > 0:
        raise ValueError(f"need features >= 1 and bandwidth > 0 (got {features}, {bandwidth})")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(features, in_dim, generator=gen, dtype=torch.float64) / bandwidth


def rff_features(x: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """(N, 2F) features of (N, d) rows, each of L2 norm 1 (rescaled to at most 1 against rounding)."""
    proj = x.to(frequencies.dtype) @ frequencies.T
    phi = torch.cat([torch.cos(proj), torch.sin(proj)], dim=1) / math.sqrt(frequencies.shape[0])
    return phi / phi.norm(dim=1, keepdim=True).clamp(min=1.0)


def class_embedding_sums(data, num_classes: int, frequencies: torch.Tensor, side: int | None = None) -> torch.Tensor:
    """The exact (un-noised) (K, 2F) per-class sums of phi(x_i), float64. Private: only the release below reads it."""
    d = math.prod(pooled_shape(data.image_shape, side))
    if frequencies.shape[1] != d:
        raise ValueError(f"frequencies of width {frequencies.shape[1]} for records of {d} values")
    sums = torch.zeros(num_classes, 2 * frequencies.shape[0], dtype=torch.float64)
    for start in range(0, len(data), CHUNK):
        index = slice(start, min(len(data), start + CHUNK))
        x = pool(data.float_images(index).reshape(-1, *data.image_shape), side).reshape(-1, d)
        sums.index_add_(0, data.y[index].long(), rff_features(x, frequencies))
    return sums


def noisy_class_embedding_sums(data, num_classes: int, frequencies: torch.Tensor, noise_multiplier: float, noise,
                               side: int | None = None) -> torch.Tensor:
    """The release: the (K, 2F) sums + N(0, s^2) per entry, s = noise_multiplier (L2 sensitivity 1)."""
    release = {"sums": class_embedding_sums(data, num_classes, frequencies, side)}
    if not (noise_multiplier > 0 and math.isfinite(noise_multiplier)):
        raise ValueError(f"noise_multiplier must be > 0 (got {noise_multiplier})")
    add_gaussian_noise_(release, scale_at_least(noise_multiplier), noise)   # never below s after rounding
    return release["sums"]


def embeddings_from_release(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(K, 2F) mean embeddings: released sums / released counts (a count below 1 counts as 1), float32."""
    return (sums / counts.to(torch.float64).clamp(min=1.0)[:, None]).to(torch.float32)
