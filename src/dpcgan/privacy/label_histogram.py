"""A differentially private label distribution for the fake labels: the discrete Gaussian mechanism on class counts.

Adding or removing one record changes one count by 1, so the L2 sensitivity is 1 and counts + N_Z(0, s^2) per
count (the discrete Gaussian, privacy/discrete_gaussian.py) has the Gaussian mechanism's RDP alpha / (2 s^2): one
ledger event with sample rate 1, composed with the D steps. The noisy counts are integers; clamping at 0 and
normalising are post-processing, so the released prior is a ratio of integers and carries nothing of the noise's
floating-point structure.
"""

from __future__ import annotations

import torch

from .discrete_gaussian import add_discrete_gaussian

DP_HISTOGRAM = "dp-histogram"  # the --label-prior value that selects this mechanism
# The DP warm start's release already holds noisy integer class counts (privacy/class_means.py): with this
# --label-prior value they are the prior (clamped, normalised: post-processing, no further release).
WARM_START_COUNTS = "warm-start-counts"


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(labels.long().cpu(), minlength=num_classes)


def noisy_label_counts(labels: torch.Tensor, num_classes: int, noise_std: float, noise) -> list[int]:
    """The released integer counts: class counts + N_Z(0, noise_std^2) each."""
    return add_discrete_gaussian(class_counts(labels, num_classes).numpy(), noise_std, noise).tolist()


def prior_from_counts(noisy_counts: list[int]) -> list[float]:
    """max(count, 0) / their sum (uniform if every noisy count is <= 0): post-processing of integers."""
    clamped = [max(int(c), 0) for c in noisy_counts]
    total = sum(clamped)
    if total <= 0:
        return [1.0 / len(clamped)] * len(clamped)
    return [c / total for c in clamped]


def noisy_label_prior(labels: torch.Tensor, num_classes: int, noise_std: float, noise) -> list[float]:
    """The released prior: the DP integer counts, clamped at 0 and normalised."""
    return prior_from_counts(noisy_label_counts(labels, num_classes, noise_std, noise))
