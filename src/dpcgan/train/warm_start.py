"""DP warm start (issue #11, item 6): pretrain G towards DP per-class mean records before the GAN starts.

The means come from one Gaussian release (privacy/class_means.py), accounted in the same ledger as the D steps.
Pretraining reads only those released means, public labels and fresh latents: post-processing. Its loss matches,
per class, the mean of G's fakes in a batch to the released mean (a first-moment match): it moves G from noise
to roughly the right strokes per class without asking every fake to be the mean image. With pooled means
(warm_start_side) the match is between G's fakes pooled the same way and those means: coarse shapes per class.
With the mean-embedding release (warm_start_rff_noise) the squared MMD to the released embeddings is added: every
moment the kernel sees, not only the mean.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .losses import Anchors, ClassMeanAnchor, class_mean_matching_loss  # noqa: F401 (the loss is this module's API too)
from .steps import public_labels, public_latent


def pretrain_generator(G: nn.Module, means: torch.Tensor, *, steps: int, batch_size: int, lr: float,
                       betas: tuple[float, float], prior: torch.Tensor, latent_gen: torch.Generator,
                       side: int | None = None, extra: Callable | None = None) -> list[float]:
    """`steps` Adam steps of G on the class-mean matching loss (its own optimizer: G's GAN optimizer starts
    fresh afterwards), plus `extra` (fakes, labels) -> loss if given (the mean-embedding match). Single process
    (the loop refuses a warm start under torchrun). Returns the losses."""
    match = Anchors.of(ClassMeanAnchor(means.to(next(G.parameters()).device), side, 1.0), extra)
    opt = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    losses = []
    G.train()
    for _ in range(steps):
        y = public_labels(batch_size, prior, latent_gen)
        z = public_latent(G, batch_size, latent_gen)
        opt.zero_grad(set_to_none=True)
        loss = match(G(z, y), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses
