"""The tabular CGAN ("table-mlp"): rows encoded by the public schema (dpcgan.tables.encode) as (N, 1, 1, d).

G: [z (latent, N(0, I)) ; onehot(y)] -> Linear -> ReLU -> Linear -> ReLU -> Linear -> d outputs, activated per
   block of the layout: a straight-through Gumbel-softmax per categorical block (forward: the one-hot of
   argmax(logits + Gumbel noise), a draw from softmax(logits), so D sees rows shaped like real ones; backward: the
   gradient of softmax((logits + Gumbel) / tau)), tanh per numeric value (in [-1, 1] like the encoded bounds).
   The Gumbel noise is part of the latent (its last d coordinates are uniforms), so G(z, y) is a function of its
   inputs and a seeded run is reproducible.
D: [x (d) ; onehot(y)] -> Linear -> LeakyReLU -> Linear -> LeakyReLU -> Linear -> one logit. Linear layers only
   (exact per-example norms), no buffers, no cross-example operation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fc import one_hot

CAT, NUM = "cat", "num"


GUMBEL_TAU = 0.2   # temperature of the relaxed sample whose gradient the straight-through estimator uses (CTGAN's)


def activate(h: torch.Tensor, blocks: list[tuple[str, int]], u: torch.Tensor | None = None) -> torch.Tensor:
    """(N, d) raw outputs -> encoded rows: straight-through one-hot per 'cat' block (sampled with Gumbel noise
    from the uniforms u (N, d) when given, else the argmax), tanh per 'num' block."""
    parts, pos = [], 0
    if u is not None:
        gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-7)))
    for kind, w in blocks:
        b = h[:, pos : pos + w]
        if kind == CAT:
            if u is not None:
                b = (b + gumbel[:, pos : pos + w]) / GUMBEL_TAU
            soft = torch.softmax(b, dim=1)
            hard = (b == b.max(dim=1, keepdim=True).values).to(b.dtype)
            hard = hard / hard.sum(dim=1, keepdim=True)  # exact ties (measure zero) share the mass
            parts.append(hard + soft - soft.detach())
        else:
            parts.append(torch.tanh(b))
        pos += w
    return torch.cat(parts, dim=1)


class TableGenerator(nn.Module):
    def __init__(self, blocks: list[tuple[str, int]], num_classes: int, latent_dim: int = 64, hidden: int = 128):
        super().__init__()
        self.blocks = [(k, int(w)) for k, w in blocks]
        d = sum(w for _, w in self.blocks)
        self.image_shape, self.num_classes, self.latent_dim = (1, 1, d), num_classes, latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim + num_classes, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, d))

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """(n, latent_dim + d): N(0, I) for the network, then d uniforms for the Gumbel noise."""
        d = self.image_shape[-1]
        return torch.cat([torch.randn(n, self.latent_dim, generator=generator, device=device),
                          torch.rand(n, d, generator=generator, device=device)], dim=1)

    def raw_outputs(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N, d) outputs before the per-block activation, from the network's part of the latent and the labels."""
        return self.net(torch.cat([z[:, : self.latent_dim], one_hot(y, self.num_classes, z.dtype)], dim=1))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u = z[:, self.latent_dim :]
        return activate(self.raw_outputs(z, y), self.blocks, u if u.shape[1] else None).view(-1, *self.image_shape)


class TableDiscriminator(nn.Module):
    """An MLP on [x ; onehot(y)] with a projection head for the label (Miyato & Koyama 2018): the logit is
    w . h + e_y . h, so a class-conditional difference between real and fake rows is read directly."""

    def __init__(self, d: int, num_classes: int, hidden: int = 128, projection: bool = True):
        super().__init__()
        self.image_shape, self.num_classes = (1, 1, d), num_classes
        self.fc1 = nn.Linear(d + num_classes, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)
        # a Linear on the one-hot label (no bias) rather than an Embedding: the same map, exact ghost norms
        self.embed = nn.Linear(num_classes, hidden, bias=False) if projection else None

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y1 = one_hot(y, self.num_classes, x.dtype)
        h = F.leaky_relu(self.fc1(torch.cat([x.flatten(1), y1], dim=1)), 0.2)
        h = F.leaky_relu(self.fc2(h), 0.2)
        out = self.fc3(h).squeeze(-1)  # (N,) logits
        if self.embed is not None:
            out = out + (self.embed(y1) * h).sum(1)
        return out


class MarginalTableGenerator(TableGenerator):
    """The generator of the marginal-fitted tables ("table-marginals", tables/marginal_fit.py): the same network and
    layout, trained on per-block softmax probabilities. A row draws each categorical block from its softmax (the
    Gumbel-max trick on the latent's uniforms, an exact draw) and places a numeric value uniformly within its bin
    (the uniform of the same latent): the fitting matched bin probabilities, not positions within bins."""

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u = z[:, self.latent_dim :]
        out = activate(self.raw_outputs(z, y), self.blocks, u).detach()
        pos = 0
        for kind, w in self.blocks:
            if kind == NUM:
                out[:, pos : pos + w] = 2.0 * u[:, pos : pos + w] - 1.0
            pos += w
        return out.view(-1, *self.image_shape)
