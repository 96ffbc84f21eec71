"""GAN losses per row (what per-example clipping needs), G's optional mode-seeking term and its warm-start anchors.

D's losses are per row so that each real record's and each fake sample's gradient can be clipped (or normalised)
alone: privacy/clipping.py takes one loss per row of the forward pass. Which loss is used changes only what the
clipped gradients point at, never their sensitivity (bounded by C whatever the loss), so it has no privacy cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..privacy.class_means import pool
from ..privacy.mean_embedding import rff_features

LOSSES = ("bce", "hinge")


def d_row_losses(logits: torch.Tensor, targets: torch.Tensor, loss: str = "bce") -> torch.Tensor:
    """(N,) losses of D's logits against targets (1: real, 0: fake).

    bce: binary cross-entropy on logits. hinge (Lim & Ye 2017; Miyato et al. 2018): relu(1 - logit) for real rows,
    relu(1 + logit) for fake rows; a row D already separates by a margin of 1 has zero loss and zero gradient, so D
    stops pushing on rows it has won instead of saturating."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if loss == "hinge":
        sign = 2 * targets - 1  # +1 real, -1 fake
        return F.relu(1 - sign * logits)
    raise ValueError(f"loss must be one of {LOSSES} (got {loss!r})")


def g_loss_sum(logits: torch.Tensor, loss: str = "bce") -> torch.Tensor:
    """Sum over fakes of G's loss: non-saturating BCE (-log sigmoid(logit)), or hinge's -logit."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="sum")
    if loss == "hinge":
        return -logits.sum()
    raise ValueError(f"loss must be one of {LOSSES} (got {loss!r})")


def mode_seeking_term(images: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mao et al. 2019 (MSGAN): rows i and i + N/2 share a label and differ in z; the ratio
    r = mean|G(z1) - G(z2)| / mean|z1 - z2| is large when different latents give different images, and the
    term 1 / (r + eps), added to G's loss, penalises a G that maps many latents of a class to one image."""
    half = images.shape[0] // 2
    if half == 0:
        return images.new_zeros(())
    dx = (images[:half] - images[half : 2 * half]).abs().mean()
    dz = (z[:half] - z[half : 2 * half]).abs().mean()
    return 1.0 / (dx / dz + eps)


def _batch_class_means(rows: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean row of each class present in the batch, and the (K,) mask of those classes."""
    sums = torch.zeros(num_classes, rows.shape[1], dtype=rows.dtype, device=rows.device).index_add(0, y, rows)
    counts = torch.bincount(y, minlength=num_classes).to(rows.dtype)
    present = counts > 0
    return sums[present] / counts[present, None], present


def class_mean_matching_loss(fakes: torch.Tensor, y: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Mean over the classes present in the batch of ||mean of that class's fakes - its released mean||^2 / d."""
    batch_means, present = _batch_class_means(fakes.flatten(1), y, means.shape[0])
    return (batch_means - means.flatten(1)[present]).pow(2).mean(dim=1).mean()


@dataclass(frozen=True)
class ClassMeanAnchor:
    """G's extra loss term: weight x the class-mean match of its (pooled) fakes to the released DP means. It reads
    only the release, public labels and G's own fakes: post-processing, no privacy cost."""

    means: torch.Tensor        # (K, C, side, side) or (K, *record shape): the released means
    side: int | None           # pooling applied to the fakes first (the release's), None: full resolution
    weight: float

    def __call__(self, fakes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.weight * class_mean_matching_loss(pool(fakes, self.side), y, self.means)


def class_embedding_matching_loss(phi: torch.Tensor, y: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """Mean over the classes present of ||mean of that class's features - its released mean embedding||^2: the
    squared MMD (random-feature estimate) between the class's fakes and its records, as DP-MERF trains."""
    batch_means, present = _batch_class_means(phi, y, embeddings.shape[0])
    return (batch_means - embeddings[present]).pow(2).sum(dim=1).mean()


@dataclass(frozen=True)
class ClassEmbeddingAnchor:
    """G's extra loss term: weight x the per-class squared MMD between its (pooled) fakes and the released DP mean
    embeddings (privacy/mean_embedding.py). Reads the release, the public frequencies, public labels and G's fakes
    only: post-processing."""

    frequencies: torch.Tensor  # (F, d) public random frequencies, d = values of a (pooled) record
    embeddings: torch.Tensor   # (K, 2F) released mean embeddings
    side: int | None
    weight: float

    def __call__(self, fakes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = rff_features(pool(fakes, self.side).flatten(1), self.frequencies)
        return self.weight * class_embedding_matching_loss(phi, y, self.embeddings)


@dataclass(frozen=True)
class Anchors:
    """The sum of G's anchor terms (class means, mean embeddings); None where there are none."""

    terms: tuple

    @staticmethod
    def of(*terms):
        kept = tuple(t for t in terms if t is not None)
        return Anchors(kept) if kept else None

    def __call__(self, fakes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum(term(fakes, y) for term in self.terms)
