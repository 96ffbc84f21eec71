"""One discriminator step (the only code that reads private records) and one generator step.

D step, per mode (B = expected real batch size, C = clip norm, sigma = noise multiplier):
  split (DP-CGAN): sum_i clip_C(g_real_i) + sum_j clip_C(g_fake_j) + N(0, sigma^2 C^2), over B.
  joint (basic DP-GAN): each real record brings one fresh fake sample; sum_i clip_C(g_real_i + g_fake_i)
        + N(0, sigma^2 C^2), over B. Adding/removing a record adds/removes exactly one clipped pair term, and
        the other pairs' fakes are independent of it, so the sensitivity is C here too.
  off:  plain gradient of the summed loss over B; no clipping, no noise.
The G step never sees real data: fresh latents, public labels, gradients through the current D only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..privacy.clipping import LayerTape, clipped_grad_sum
from ..privacy.noise import add_gaussian_noise_


@dataclass(frozen=True)
class DStepSettings:
    mode: str
    expected_batch_size: int       # B: the normaliser and, in split mode, the number of fake samples
    max_grad_norm: float           # C
    noise_multiplier: float        # sigma (ignored when mode == 'off')


def public_labels(count: int, prior: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fake labels drawn from the public prior. Takes no private input by construction."""
    if count == 0:
        return torch.empty(0, dtype=torch.long)
    return torch.multinomial(prior, count, replacement=True, generator=generator)


@torch.no_grad()
def public_fake_batch(G: nn.Module, count: int, prior: torch.Tensor, generator: torch.Generator) -> tuple:
    """`count` fake samples G(z, y~) with y~ from the public prior: a function of G and public randomness only."""
    y = public_labels(count, prior, generator)
    z = G.sample_latent(count, generator)
    return G(z, y), y


def d_gradient_sum(D: nn.Module, real_x: torch.Tensor, real_y: torch.Tensor, fake_x: torch.Tensor,
                   fake_y: torch.Tensor, *, mode: str, max_grad_norm: float) -> tuple[dict, torch.Tensor, dict]:
    """The D gradient *sum* before noise and normalisation: clipped per unit (split/joint) or plain (off).

    Returns (grads per parameter, row losses (m + f,), stats). With mode 'joint', fake row i pairs with real row i.
    """
    m, f = real_x.shape[0], fake_x.shape[0]
    x, y = torch.cat([real_x, fake_x]), torch.cat([real_y, fake_y])
    targets = torch.cat([torch.ones(m), torch.zeros(f)]).to(x)
    params = [p for p in D.parameters() if p.requires_grad]
    stats: dict = {}
    if x.shape[0] == 0:  # joint mode, empty Poisson batch: the step is pure noise (still taken and counted)
        return {p: torch.zeros_like(p) for p in params}, targets, stats
    if mode == "off":
        row_losses = F.binary_cross_entropy_with_logits(D(x, y), targets, reduction="none")
        return dict(zip(params, torch.autograd.grad(row_losses.sum(), params))), row_losses.detach(), stats
    with LayerTape(D) as tape:
        logits = D(x, y)
    row_losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    units = None
    if mode == "joint":
        if f != m:
            raise ValueError(f"joint clipping pairs each real record with one fake sample (got {m} real, {f} fake)")
        units = torch.stack([torch.arange(m), m + torch.arange(m)], dim=1)  # (real i, its fake i)
    clipped = clipped_grad_sum(tape, row_losses, max_norm=max_grad_norm, units=units)
    stats["clipped_fraction"] = float((clipped.norms > max_grad_norm).float().mean())
    return clipped.grads, row_losses.detach(), stats


def discriminator_step(D: nn.Module, d_opt: torch.optim.Optimizer, G: nn.Module, real_x: torch.Tensor,
                       real_y: torch.Tensor, *, settings: DStepSettings, prior: torch.Tensor,
                       latent_gen: torch.Generator, noise_gen: torch.Generator | None) -> dict:
    """One D update on a Poisson batch (real_x, real_y), possibly empty. Returns float statistics
    (d_loss_real is computed on private data without noise: for monitoring only, never for release)."""
    m = real_x.shape[0]
    B = settings.expected_batch_size
    fake_count = m if settings.mode == "joint" else B  # split/off: a public constant, independent of the data
    fake_x, fake_y = public_fake_batch(G, fake_count, prior, latent_gen)
    grads, row_losses, stats = d_gradient_sum(D, real_x, real_y, fake_x, fake_y, mode=settings.mode,
                                              max_grad_norm=settings.max_grad_norm)
    if settings.mode != "off":
        add_gaussian_noise_(grads, settings.noise_multiplier * settings.max_grad_norm, noise_gen)
    for p, g in grads.items():
        p.grad = g.div_(B)
    d_opt.step()
    stats["real_batch_size"] = m
    stats["d_loss_real"] = float(row_losses[:m].mean()) if m else float("nan")
    stats["d_loss_fake"] = float(row_losses[m:].mean()) if fake_count else float("nan")
    return stats


def generator_step(G: nn.Module, g_opt: torch.optim.Optimizer, D: nn.Module, *, batch_size: int,
                   prior: torch.Tensor, latent_gen: torch.Generator) -> float:
    """Non-saturating G update through the current D: post-processing of D, no private data."""
    D.requires_grad_(False)  # D's gradients are not needed (and must not leak into its next update)
    try:
        y = public_labels(batch_size, prior, latent_gen)
        z = G.sample_latent(batch_size, latent_gen)
        logits = D(G(z, y), y)
        loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
    finally:
        D.requires_grad_(True)
    return float(loss.detach())
