"""DP per-class mean records (images or encoded table rows): the Gaussian mechanism behind the DP warm start.

Each record i contributes the vector v_i = (clip(x_i) / C_w, 1) / sqrt(2) to the row of its class, where clip
scales x_i to L2 norm at most C_w. ||v_i|| <= 1, and adding or removing one record changes exactly one class's
row by v_i: the (K x (d + 1)) table of per-class sums has L2 sensitivity 1. Adding N(0, s^2) to every entry is
the Gaussian mechanism with noise multiplier s (RDP alpha / (2 s^2)), recorded in the ledger as one event with
sample rate 1 and composed with the D steps. The class counts ride in the same release (the last coordinate),
so the means need no other private input; dividing, clamping and everything done with the means afterwards
(pretraining G) is post-processing.
"""

from __future__ import annotations

import math

import torch

from .noise import add_gaussian_noise_

CHUNK = 8192  # records read at a time: memory stays flat in n (table rows may live on disk)


def clipped_class_sums(data, num_classes: int, clip_norm: float) -> torch.Tensor:
    """The exact (un-noised) (K, d + 1) sums of v_i, in float64. Private: only `noisy_class_means` releases them."""
    n = len(data)
    d = math.prod(data.image_shape)
    sums = torch.zeros(num_classes, d + 1, dtype=torch.float64)
    for start in range(0, n, CHUNK):
        index = slice(start, min(n, start + CHUNK))
        x = data.float_images(index).reshape(-1, d).to(torch.float64)
        scale = clip_norm / x.norm(dim=1, keepdim=True).clamp(min=clip_norm)   # min(1, C_w / ||x||)
        v = torch.cat([x * scale / clip_norm, torch.ones(len(x), 1, dtype=torch.float64)], dim=1) / math.sqrt(2)
        sums.index_add_(0, data.y[index].long(), v)
    return sums


def means_from_sums(sums: torch.Tensor, clip_norm: float, image_shape, value_range=(0.0, 1.0)) -> torch.Tensor:
    """(K, *image_shape) mean records from (noisy) sums of v_i; a class whose noisy count is below 1 counts as 1."""
    counts = sums[:, -1] * math.sqrt(2)
    totals = sums[:, :-1] * (math.sqrt(2) * clip_norm)
    means = totals / counts.clamp(min=1.0)[:, None]
    if value_range is not None:
        means = means.clamp(*value_range)
    return means.to(torch.float32).reshape(len(sums), *image_shape)


def noisy_class_means(data, num_classes: int, clip_norm: float, noise_multiplier: float, noise,
                      value_range=(0.0, 1.0)) -> torch.Tensor:
    """The released per-class means: sums + N(0, noise_multiplier^2) per entry (sensitivity 1), then divided."""
    if not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 (got {clip_norm})")
    release = {"sums": clipped_class_sums(data, num_classes, clip_norm)}
    add_gaussian_noise_(release, noise_multiplier, noise)
    return means_from_sums(release["sums"], clip_norm, data.image_shape, value_range)
