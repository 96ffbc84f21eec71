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

With `side`, each image is first average-pooled to side x side (a fixed function of one record, so the sensitivity
argument is unchanged: the clipping comes after it). A pooled pixel averages a block of k x k pixels and the pooled
norm is at most ||x|| / k (Jensen), so with C_w scaled by 1 / k the noise on each released pooled pixel is k times
lower than on a full-resolution pixel: at a few hundred records per class only coarse shapes survive the noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .discrete_gaussian import add_discrete_gaussian, scale_at_least
from .noise import add_gaussian_noise_

CHUNK = 8192  # records read at a time: memory stays flat in n (table rows may live on disk)


def pooled_shape(image_shape, side: int | None) -> tuple[int, ...]:
    """The shape of a released mean: the record's, or (C, side, side) when images are pooled."""
    return tuple(image_shape) if side is None else (image_shape[0], side, side)


def pool(images: torch.Tensor, side: int | None) -> torch.Tensor:
    """(N, C, H, W) images average-pooled to (N, C, side, side); unchanged when side is None."""
    return images if side is None else F.adaptive_avg_pool2d(images, side)


def clipped_class_sums(data, num_classes: int, clip_norm: float,
                       side: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact (un-noised) (K, d) sums of u_i in float64 and the (K,) int64 class counts. Private: only
    `noisy_class_release` releases them."""
    n = len(data)
    if side is not None and len(data.image_shape) != 3:
        raise ValueError(f"pooled class means need images (C, H, W), not records of shape {data.image_shape}")
    d = math.prod(pooled_shape(data.image_shape, side))
    sums = torch.zeros(num_classes, d, dtype=torch.float64)
    counts = torch.zeros(num_classes, dtype=torch.int64)
    for start in range(0, n, CHUNK):
        index = slice(start, min(n, start + CHUNK))
        x = data.float_images(index)
        x = pool(x.reshape(-1, *data.image_shape), side).reshape(-1, d).to(torch.float64)
        scale = clip_norm / x.norm(dim=1, keepdim=True).clamp(min=clip_norm)   # min(1, C_w / ||x||)
        labels = data.y[index].long()
        sums.index_add_(0, labels, x * scale / clip_norm)
        counts += torch.bincount(labels, minlength=num_classes)
    return sums, counts


def noisy_class_release(data, num_classes: int, clip_norm: float, noise_multiplier: float,
                        noise, side: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The release: (sums + N(0, 2 s^2), counts + N_Z(0, 2 s^2)), s = noise_multiplier (sensitivity 1 overall)."""
    if not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 (got {clip_norm})")
    sums, counts = clipped_class_sums(data, num_classes, clip_norm, side)
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
                      value_range=(0.0, 1.0), side: int | None = None) -> torch.Tensor:
    """The released per-class means (one Gaussian release of sensitivity 1, noise multiplier s), then divided;
    (K, C, side, side) pooled means when side is given."""
    sums, counts = noisy_class_release(data, num_classes, clip_norm, noise_multiplier, noise, side)
    return means_from_release(sums, counts, clip_norm, pooled_shape(data.image_shape, side), value_range)
