"""One discriminator step (the only code that reads private records) and one generator step.

D step, per mode (B = expected real batch size, C = clip norm, sigma = noise multiplier):
  split (DP-CGAN): sum_i clip_C(g_real_i) + sum_j clip_C(g_fake_j) + N(0, sigma^2 C^2), over B.
  joint (basic DP-GAN): each real record brings one fresh fake sample; sum_i clip_C(g_real_i + g_fake_i)
        + N(0, sigma^2 C^2), over B. Adding/removing a record adds/removes exactly one clipped pair term, and
        the other pairs' fakes are independent of it, so the sensitivity is C here too. That needs each fake to
        be a function of its own latent and label only: the number of fakes is the private batch size m, so a
        generator with batch statistics (BatchNorm in train mode) would couple every fake to m. Joint-mode fakes
        are therefore made with G in eval mode (running statistics, learnt from public G steps), from latents
        drawn in fixed-size public blocks so that fake i does not depend on m either.
  off:  plain gradient of the summed loss over B; no clipping, no noise.
The G step never sees real data: fresh latents, public labels, gradients through the current D only.

With several processes (`world`, see dpcgan.distributed) each rank clips its own units, rank 0 alone adds the
noise, the sums are all-reduced, and every rank applies the same update; the B fakes are split across ranks.
Statistics are returned as tensors (sums and counts) so that no step waits for the device; see loop.summarize.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..distributed import World
from ..privacy.clipping import LayerTape, clipped_grad_sum
from ..privacy.noise import add_gaussian_noise_
from .losses import d_row_losses, g_loss_sum, mode_seeking_term

SINGLE = World()


@dataclass(frozen=True)
class DStepSettings:
    mode: str
    expected_batch_size: int       # B: the normaliser and, in split mode, the number of fake samples
    max_grad_norm: float           # C
    noise_multiplier: float        # sigma (ignored when mode == 'off')
    loss: str = "bce"              # 'bce' or 'hinge' (train/losses.py)
    normalize_gamma: float | None = None   # None: clip to C; gamma: per-example normalisation C g/(||g|| + gamma)
    mismatch: float = 0.0          # weight of each real record's mismatched-label row (d_gradient_sum); 0: none


def public_labels(count: int, prior: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fake labels drawn from the public prior. Takes no private input by construction."""
    if count == 0:
        return torch.empty(0, dtype=torch.long, device=prior.device)
    return torch.multinomial(prior, count, replacement=True, generator=generator)


def public_latent(G: nn.Module, count: int, generator: torch.Generator) -> torch.Tensor:
    """z for `count` fakes, drawn on the generator's device (the CPU call keeps G's plain signature)."""
    if generator is not None and generator.device.type != "cpu":
        return G.sample_latent(count, generator, device=generator.device)
    return G.sample_latent(count, generator)


@contextlib.contextmanager
def buffers_left_unchanged(G: nn.Module):
    """G's buffers (BatchNorm running statistics) are restored on exit: fakes made for a D step never update
    them, so the released generator's buffers come from the public G steps alone."""
    saved = [b.detach().clone() for b in G.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(G.buffers(), saved):
                b.copy_(s)


@torch.no_grad()
def public_fake_batch(G: nn.Module, count: int, prior: torch.Tensor, generator: torch.Generator) -> tuple:
    """`count` fake samples G(z, y~) with y~ from the public prior: a function of G and public randomness only.
    `count` must be public (it is a batch for G's batch statistics); G's buffers are left unchanged."""
    y = public_labels(count, prior, generator)
    z = public_latent(G, count, generator)
    with buffers_left_unchanged(G):
        return G(z, y), y


def step_subgenerator(generator: torch.Generator) -> torch.Generator:
    """A fresh generator keyed by exactly one draw from `generator`: whatever the subgenerator then draws (a number
    of blocks that depends on a private count), `generator` has advanced by one draw, independent of the data."""
    device = generator.device if generator is not None else torch.device("cpu")
    key = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    return torch.Generator(device=device).manual_seed(key)


@torch.no_grad()
def independent_fakes(G: nn.Module, count: int, prior: torch.Tensor, generator: torch.Generator, *,
                      block: int) -> tuple:
    """`count` fakes (count may be private: the joint mode's real batch size), each a function of its own public
    (z, y) only: G runs in eval mode (no batch statistics; buffers untouched), and (y, z) are drawn in blocks of
    the public size `block`, so the first k fakes are the same whatever `count` is. The blocks come from a per-step
    subgenerator (step_subgenerator), so how far the public latent stream advances does not depend on count."""
    blocks_gen = step_subgenerator(generator)
    ys, zs = [], []
    for _ in range(-(-count // block)):
        ys.append(public_labels(block, prior, blocks_gen))
        zs.append(public_latent(G, block, blocks_gen))
    if not ys:
        return public_fake_batch(G, 0, prior, blocks_gen)
    y, z = torch.cat(ys)[:count], torch.cat(zs)[:count]
    was_training = G.training
    G.eval()
    try:
        return G(z, y), y
    finally:
        G.train(was_training)


def mismatched_labels(real_y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """For each real label y, a label drawn uniformly from the other K - 1 classes, from `generator` (a per-step
    subgenerator: how many are drawn is the private batch size)."""
    shift = torch.randint(1, num_classes, real_y.shape, generator=generator, device=generator.device)
    return (real_y + shift.to(real_y.device)) % num_classes


def step_mismatched_labels(settings: DStepSettings, real_y: torch.Tensor, num_classes: int,
                           latent_gen: torch.Generator) -> torch.Tensor | None:
    """This D step's wrong labels (settings.mismatch > 0), else None. Drawn from a per-step subgenerator: the public
    latent stream advances by one draw whatever the (private) number of real records."""
    if settings.mismatch <= 0:
        return None
    return mismatched_labels(real_y, num_classes, step_subgenerator(latent_gen))


def d_gradient_sum(D: nn.Module, real_x: torch.Tensor, real_y: torch.Tensor, fake_x: torch.Tensor,
                   fake_y: torch.Tensor, *, mode: str, max_grad_norm: float, loss: str = "bce",
                   normalize_gamma: float | None = None, mismatch: float = 0.0,
                   mismatch_y: torch.Tensor | None = None) -> tuple[dict, torch.Tensor, dict]:
    """The D gradient *sum* before noise and normalisation: clipped per unit (split/joint) or plain (off).

    Returns (grads per parameter, row losses (m + f,), stats as tensors). With mode 'joint', fake row i pairs with
    real row i.

    mismatch > 0 (split and off; Reed et al. 2016's matching-aware D): real record i also enters as (x_i,
    mismatch_y[i]), a wrong label, with target "fake" and its loss weighted by `mismatch`, in the *same* clipping
    unit as (x_i, y_i). D then learns from the real records which label goes with which image, not only real
    against fake; each unit is still a function of one record (and public randomness), clipped to C as a whole.
    """
    if mismatch > 0:
        return _matching_aware_sum(D, real_x, real_y, fake_x, fake_y, mode=mode, max_grad_norm=max_grad_norm,
                                   loss=loss, normalize_gamma=normalize_gamma, mismatch=mismatch,
                                   mismatch_y=mismatch_y)
    m, f = real_x.shape[0], fake_x.shape[0]
    x, y = torch.cat([real_x, fake_x]), torch.cat([real_y, fake_y])
    targets = torch.cat([x.new_ones(m), x.new_zeros(f)])
    params = [p for p in D.parameters() if p.requires_grad]
    stats: dict = {}
    if x.shape[0] == 0:  # joint mode, empty Poisson batch: the step is pure noise (still taken and counted)
        return {p: torch.zeros_like(p) for p in params}, targets, stats
    if mode == "off":
        row_losses = d_row_losses(D(x, y), targets, loss)
        return dict(zip(params, torch.autograd.grad(row_losses.sum(), params))), row_losses.detach(), stats
    with LayerTape(D) as tape:
        logits = D(x, y)
    row_losses = d_row_losses(logits, targets, loss)
    units = None
    if mode == "joint":
        if f != m:
            raise ValueError(f"joint clipping pairs each real record with one fake sample (got {m} real, {f} fake)")
        units = torch.arange(m, device=x.device)
        units = torch.stack([units, m + units], dim=1)  # (real i, its fake i)
    clipped = clipped_grad_sum(tape, row_losses, max_norm=max_grad_norm, units=units, normalize_gamma=normalize_gamma)
    stats["clipped_units"] = (clipped.norms > max_grad_norm).sum()
    stats["units"] = clipped.norms.numel()
    return clipped.grads, row_losses.detach(), stats


def _matching_aware_sum(D, real_x, real_y, fake_x, fake_y, *, mode, max_grad_norm, loss, normalize_gamma, mismatch,
                        mismatch_y):
    """d_gradient_sum with each real record's mismatched-label row in its unit: two clipped sums, the real units
    (2 rows each) and the fake rows (1 each), because one call's units must all have the same number of rows."""
    if mode == "joint":
        raise ValueError("mismatched-label rows need split (or off) mode")
    if mismatch_y is None or mismatch_y.shape != real_y.shape:
        raise ValueError("mismatch > 0 needs one wrong label per real record (mismatch_y, from mismatched_labels)")
    if getattr(D, "scores_label_sets", False):
        return _matching_aware_one_pass(D, real_x, real_y, fake_x, fake_y, mode=mode, max_grad_norm=max_grad_norm,
                                        loss=loss, normalize_gamma=normalize_gamma, mismatch=mismatch,
                                        mismatch_y=mismatch_y)
    m, f = real_x.shape[0], fake_x.shape[0]
    params = [p for p in D.parameters() if p.requires_grad]
    grads = {p: torch.zeros_like(p) for p in params}
    stats: dict = {"clipped_units": real_x.new_zeros((), dtype=torch.long), "units": 0}
    parts = []
    for x, y, targets, weights, units in (
            (torch.cat([real_x, real_x]), torch.cat([real_y, mismatch_y]),
             torch.cat([real_x.new_ones(m), real_x.new_zeros(m)]),
             torch.cat([real_x.new_ones(m), real_x.new_full((m,), mismatch)]),
             torch.stack([torch.arange(m, device=real_x.device), m + torch.arange(m, device=real_x.device)], 1)),
            (fake_x, fake_y, fake_x.new_zeros(f), fake_x.new_ones(f), None)):
        if x.shape[0] == 0:
            parts.append(x.new_zeros(0))
            continue
        if mode == "off":
            rows = d_row_losses(D(x, y), targets, loss) * weights
            for p, g in zip(params, torch.autograd.grad(rows.sum(), params)):
                grads[p] += g
        else:
            with LayerTape(D) as tape:
                logits = D(x, y)
            rows = d_row_losses(logits, targets, loss) * weights
            clipped = clipped_grad_sum(tape, rows, max_norm=max_grad_norm, units=units,
                                       normalize_gamma=normalize_gamma)
            for p, g in clipped.grads.items():
                grads[p] += g
            stats["clipped_units"] = stats["clipped_units"] + (clipped.norms > max_grad_norm).sum()
            stats["units"] += clipped.norms.numel()
        parts.append(rows.detach())
    real_rows = parts[0]
    # the row losses reported: the matched real rows, then the fakes (as without mismatch)
    return grads, torch.cat([real_rows[:m], parts[1]]), stats


def _matching_aware_one_pass(D, real_x, real_y, fake_x, fake_y, *, mode, max_grad_norm, loss, normalize_gamma,
                             mismatch, mismatch_y):
    """The same clipped sum for a D that scores several labels from one pass over an image (scores_label_sets):
    each row is one clipping unit whose loss is its record's two terms, l(D(x, y), real) + mismatch * l(D(x, y'),
    fake); a fake row scores its own label twice, the second term weighted 0 (zero gradient). About the cost of a D
    step without mismatch, where _matching_aware_sum runs every real image through D twice."""
    m, f = real_x.shape[0], fake_x.shape[0]
    x = torch.cat([real_x, fake_x])
    if x.shape[0] == 0:
        return {p: torch.zeros_like(p) for p in D.parameters() if p.requires_grad}, x.new_zeros(0), \
            {"clipped_units": x.new_zeros((), dtype=torch.long), "units": 0}
    labels = torch.stack([torch.cat([real_y, fake_y]), torch.cat([mismatch_y, fake_y])], 1)
    targets = torch.stack([torch.cat([x.new_ones(m), x.new_zeros(f)]), x.new_zeros(m + f)], 1)
    weights = torch.stack([x.new_ones(m + f), torch.cat([x.new_full((m,), mismatch), x.new_zeros(f)])], 1)
    params = [p for p in D.parameters() if p.requires_grad]
    stats: dict = {}
    if mode == "off":
        both = d_row_losses(D(x, labels), targets, loss)
        rows = (both * weights).sum(1)
        grads = dict(zip(params, torch.autograd.grad(rows.sum(), params)))
    else:
        with LayerTape(D) as tape:
            logits = D(x, labels)
        both = d_row_losses(logits, targets, loss)
        rows = (both * weights).sum(1)
        clipped = clipped_grad_sum(tape, rows, max_norm=max_grad_norm, units=None, normalize_gamma=normalize_gamma)
        grads = clipped.grads
        stats["clipped_units"] = (clipped.norms > max_grad_norm).sum()
        stats["units"] = clipped.norms.numel()
    # the row losses reported: the matched real rows, then the fakes (as without mismatch)
    return grads, both[:, 0].detach(), stats


def discriminator_update(D: nn.Module, d_opt: torch.optim.Optimizer, real_x: torch.Tensor, real_y: torch.Tensor,
                         fake_x: torch.Tensor, fake_y: torch.Tensor, *, settings: DStepSettings,
                         noise_gen, world: World = SINGLE, mismatch_y: torch.Tensor | None = None) -> dict:
    """One D update from this rank's Poisson batch and its share of the fakes:
    (sum over ranks of the clipped sums + one draw of N(0, sigma^2 C^2)) / B, the same on every rank.

    Returns tensor statistics, summed over this rank's rows (d_loss_real is computed on private data without
    noise: for monitoring only, never for release)."""
    m, f = real_x.shape[0], fake_x.shape[0]
    grads, row_losses, stats = d_gradient_sum(D, real_x, real_y, fake_x, fake_y, mode=settings.mode,
                                              max_grad_norm=settings.max_grad_norm, loss=settings.loss,
                                              normalize_gamma=settings.normalize_gamma, mismatch=settings.mismatch,
                                              mismatch_y=mismatch_y)
    if settings.mode != "off" and world.main:
        # Once per step in total, before the sum over ranks: noise on every rank would be sqrt(N) sigma C.
        add_gaussian_noise_(grads, settings.noise_multiplier * settings.max_grad_norm, noise_gen)
    world.all_reduce_sum_(grads.values())
    for p, g in grads.items():
        p.grad = g.div_(settings.expected_batch_size)
    d_opt.step()
    stats.update(real_batch_size=m, fake_count=f, d_loss_real_sum=row_losses[:m].sum(),
                 d_loss_fake_sum=row_losses[m:].sum())
    return stats


def discriminator_step(D: nn.Module, d_opt: torch.optim.Optimizer, G: nn.Module, real_x: torch.Tensor,
                       real_y: torch.Tensor, *, settings: DStepSettings, prior: torch.Tensor,
                       latent_gen: torch.Generator, noise_gen, world: World = SINGLE) -> dict:
    """One D update on a Poisson batch (real_x, real_y), possibly empty, with fresh public fakes."""
    if settings.mode == "joint":  # one fake per real record: a private count
        fake_x, fake_y = independent_fakes(G, real_x.shape[0], prior, latent_gen,
                                           block=max(settings.expected_batch_size, 1))
    else:  # split/off: B fakes in all, a public constant independent of the data, split across ranks
        fake_x, fake_y = public_fake_batch(G, world.share(settings.expected_batch_size), prior, latent_gen)
    mismatch_y = step_mismatched_labels(settings, real_y, prior.numel(), latent_gen)
    return discriminator_update(D, d_opt, real_x, real_y, fake_x, fake_y, settings=settings, noise_gen=noise_gen,
                                world=world, mismatch_y=mismatch_y)


def generator_update(G: nn.Module, g_opt: torch.optim.Optimizer, D: nn.Module, z: torch.Tensor, y: torch.Tensor, *,
                     batch_size: int, world: World = SINGLE, loss: str = "bce",
                     mode_seeking: float = 0.0, anchor: Callable | None = None) -> torch.Tensor:
    """Non-saturating G update through the current D on this rank's share (z, y) of the `batch_size` fakes: the
    mean loss over all ranks' fakes, so that the all-reduced gradient is the single-process one. Post-processing
    of D, no private data. Returns this rank's part of the mean loss (a tensor; summed over ranks: the loss).
    mode_seeking > 0 adds that multiple of the mode-seeking term (rows i and i + N/2 of this rank's share must share
    labels; see generator_step). An anchor (losses.Anchors: the class-mean and mean-embedding matches to the warm
    start's releases) adds its loss."""
    D.requires_grad_(False)  # D's gradients are not needed (and must not leak into its next update)
    try:
        images = G(z, y)
        logits = D(images, y)
        loss = g_loss_sum(logits, loss) / batch_size
        if mode_seeking > 0:
            loss = loss + mode_seeking * mode_seeking_term(images, z) / world.size
        if anchor is not None:
            loss = loss + anchor(images, y)
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in G.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:  # a rank with no fakes this step still joins the sum
                p.grad = torch.zeros_like(p)
        world.all_reduce_sum_(p.grad for p in params)
        g_opt.step()
    finally:
        D.requires_grad_(True)
    return loss.detach()


def generator_step(G: nn.Module, g_opt: torch.optim.Optimizer, D: nn.Module, *, batch_size: int,
                   prior: torch.Tensor, latent_gen: torch.Generator, world: World = SINGLE, loss: str = "bce",
                   mode_seeking: float = 0.0, anchor: Callable | None = None) -> torch.Tensor:
    """One G step on `batch_size` fresh public fakes in all (this rank draws its share). With mode_seeking the
    second half of the share repeats the first half's labels with new latents (pairs for the term)."""
    count = world.share(batch_size)
    if mode_seeking > 0:
        half = public_labels(count // 2, prior, latent_gen)
        y = torch.cat([half, half, public_labels(count % 2, prior, latent_gen)])
    else:
        y = public_labels(count, prior, latent_gen)
    z = public_latent(G, count, latent_gen)
    return generator_update(G, g_opt, D, z, y, batch_size=batch_size, world=world, loss=loss,
                            mode_seeking=mode_seeking, anchor=anchor)
