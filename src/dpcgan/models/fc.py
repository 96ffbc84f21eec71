"""The paper's fully connected CGAN (method note §1): one hidden layer of 128 units in G and in D."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def init_paper(module: nn.Module) -> None:
    """Weights N(0, std = sqrt(2 / fan_in)) and zero biases, as in the original code's xavier_init."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / layer.in_features))
            nn.init.zeros_(layer.bias)


def one_hot(y: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    # Comparison instead of F.one_hot: the latter does not work under torch.func.vmap (used in tests).
    return (y.unsqueeze(-1) == torch.arange(num_classes, device=y.device)).to(dtype)


class FCGenerator(nn.Module):
    """[z ; onehot(y)] -> Linear -> ReLU -> Linear -> sigmoid, reshaped to (N, C, H, W) pixels in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 100, hidden: int = 128):
        super().__init__()
        self.image_shape, self.num_classes, self.latent_dim = tuple(image_shape), num_classes, latent_dim
        self.fc1 = nn.Linear(latent_dim + num_classes, hidden)
        self.fc2 = nn.Linear(hidden, math.prod(image_shape))
        init_paper(self)

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        # The paper draws z uniformly from [-1, 1]^100.
        return torch.rand(n, self.latent_dim, generator=generator, device=device).mul_(2).sub_(1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc1(torch.cat([z, one_hot(y, self.num_classes, z.dtype)], dim=1)))
        return torch.sigmoid(self.fc2(h)).view(-1, *self.image_shape)  # (N, C, H, W)


class FCDiscriminator(nn.Module):
    """[x (flattened) ; onehot(y)] -> Linear -> ReLU -> Linear -> one logit per example."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, hidden: int = 128):
        super().__init__()
        self.image_shape, self.num_classes = tuple(image_shape), num_classes
        self.fc1 = nn.Linear(math.prod(image_shape) + num_classes, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        init_paper(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x.flatten(1), one_hot(y, self.num_classes, x.dtype)], dim=1)
        return self.fc2(F.relu(self.fc1(h))).squeeze(-1)  # (N,) logits
