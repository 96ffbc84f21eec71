"""A differentially private label distribution for the fake labels: the Gaussian mechanism on class counts.

Adding or removing one record changes one count by 1, so the L2 sensitivity is 1 and counts + N(0, s^2 I) is
the Gaussian mechanism with noise multiplier s: RDP alpha / (2 s^2), recorded in the ledger as one event with
sample rate 1 and composed with the D steps. Clamping at 0 and normalising are post-processing.
"""

from __future__ import annotations

import torch

from .noise import add_gaussian_noise_

DP_HISTOGRAM = "dp-histogram"  # the --label-prior value that selects this mechanism


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(labels.long(), minlength=num_classes).to(torch.float64)


def noisy_label_prior(labels: torch.Tensor, num_classes: int, noise_std: float, noise) -> list[float]:
    """The released prior: max(counts + N(0, noise_std^2), 0), normalised (uniform if every noisy count is <= 0)."""
    noisy = {"counts": class_counts(labels, num_classes)}
    add_gaussian_noise_(noisy, noise_std, noise)
    clamped = noisy["counts"].clamp(min=0.0)
    if clamped.sum() <= 0:
        return [1.0 / num_classes] * num_classes
    return (clamped / clamped.sum()).tolist()
