"""DP per-class mean records (images or encoded table rows): the Gaussian mechanism behind the DP warm start.

Each record i adds u_i = clip(x_i) / C_w (clip scales x_i to L2 norm at most C_w, so ||u_i|| <= 1) to its class's
row of sums S (K x d), and 1 to its class's count c (K,). Adding or removing one record changes one row of S by
u_i and one count by 1. The release is
    S + N(0, 2 s^2) per entry (continuous; the secure float construction of privacy/noise.py),
    c + N_Z(0, 2 s^2) per count (the discrete Gaussian: counts are released as integers, see discrete_gaussian.py),
whose RDP is alpha ||u_i||^2 / (4 s^2) + alpha * 1 / (4 s^2) <= alpha / (2 s^2): the Gaussian mechanism with noise
multiplier s, recorded in the ledger as one event with sample rate 1 and composed with the D steps. (It is the
same mechanism as noising the stacked vector (u_i, 1) / sqrt(2) with std s, with the counts kept integral.)
Dividing, clamping and everything done with the means afterwards (pretraining G) is post-processing.
"""

from __future__ import annotations

import math

import torch

from .discrete_gaussian import add_discrete_gaussian, scale_at_least
from .noise import add_gaussian_noise_

CHUNK = 8192  # records read at a time: memory stays flat in n (table rows may live on disk)


def clipped_class_sums(data, num_classes: int, clip_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact (un-noised) (K, d) sums of u_i in float64 and the (K,) int64 class counts. Private: only
    `noisy_class_release` releases them."""
    n = len(data)
    d = math.prod(data.image_shape)
    sums = torch.zeros(num_classes, d, dtype=torch.float64)
    counts = torch.zeros(num_classes, dtype=torch.int64)
    for start in range(0, n, CHUNK):
        index = slice(start, min(n, start + CHUNK))
        x = data.float_images(index).reshape(-1, d).to(torch.float64)
        scale = clip_norm / x.norm(dim=1, keepdim=True).clamp(min=clip_norm)   # min(1, C_w / ||x||)
        labels = data.y[index].long()
        sums.index_add_(0, labels, x * scale / clip_norm)
        counts += torch.bincount(labels, minlength=num_classes)
    return sums, counts


def noisy_class_release(data, num_classes: int, clip_norm: float, noise_multiplier: float,
                        noise) -> tuple[torch.Tensor, torch.Tensor]:
    """The release: (sums + N(0, 2 s^2), counts + N_Z(0, 2 s^2)), s = noise_multiplier (sensitivity 1 overall)."""
    if not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 (got {clip_norm})")
    sums, counts = clipped_class_sums(data, num_classes, clip_norm)
    std = scale_at_least(noise_multiplier * math.sqrt(2.0))   # never below s sqrt(2) after rounding
    release = {"sums": sums}
    add_gaussian_noise_(release, std, noise)
    noisy_counts = torch.from_numpy(add_discrete_gaussian(counts.numpy(), std, noise))
    return release["sums"], noisy_counts


def means_from_release(sums: torch.Tensor, counts: torch.Tensor, clip_norm: float, image_shape,
                       value_range=(0.0, 1.0)) -> torch.Tensor:
    """(K, *image_shape) mean records from (noisy) sums of u_i and (noisy) counts; a count below 1 counts as 1."""
    means = sums * clip_norm / counts.to(torch.float64).clamp(min=1.0)[:, None]
    if value_range is not None:
        means = means.clamp(*value_range)
    return means.to(torch.float32).reshape(len(sums), *image_shape)


def noisy_class_means(data, num_classes: int, clip_norm: float, noise_multiplier: float, noise,
                      value_range=(0.0, 1.0)) -> torch.Tensor:
    """The released per-class means (one Gaussian release of sensitivity 1, noise multiplier s), then divided."""
    sums, counts = noisy_class_release(data, num_classes, clip_norm, noise_multiplier, noise)
    return means_from_release(sums, counts, clip_norm, data.image_shape, value_range)
