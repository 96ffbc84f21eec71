"""Convolutional CGAN for square images of 1 or 3 channels: a DCGAN-style generator and a discriminator with label
conditioning by projection (Miyato & Koyama 2018). D has no cross-example normalisation (GroupNorm without
affine parameters only), so per-example clipping bounds each record's influence.

Depth follows the image size: 28 and 32 px take two x2 stages each way (the presets' models, unchanged); larger
images one more stage per doubling, so that G starts from (and D ends on) a feature map of at most 8 x 8
(extra_stages). Without them a 64 px D would end on 16 x 16 x 64 = 16,384 features, four times the per-example
gradient work of its last layers, and G's first layer would grow as much.

With a model side s smaller than the images' (model_side), the pair works at s x s: D average-pools each image to
s x s before its first layer (a fixed function of one record: per-example clipping and the sensitivity are
unchanged), and G draws s x s images and upsamples them (bilinear) to the data's side. A larger image then costs a
D step little more than an s px one; what is lost is the detail finer than s px."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _init_dcgan(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Embedding):
            nn.init.normal_(layer.weight, 0.0, 0.02)


def extra_stages(side: int) -> int:
    """x2 stages beyond the two of a 28/32 px model: one per halving until the base map is at most 8 px."""
    base, extra = side // 4, 0
    while base > 8 and base % 2 == 0:
        base, extra = base // 2, extra + 1
    return extra


def discriminator_macs(image_shape: tuple[int, int, int], width: int) -> int:
    """Multiply-accumulates of ConvProjectionDiscriminator's convolutions for one example: what its per-example
    forward and backward passes (and a G step's pass through D) cost, up to a constant. auto plans run time with it."""
    c, h, w = image_shape
    h, w = h // 2, w // 2                                  # conv1: 4x4, stride 2, padding 1
    macs = c * width * 16 * h * w
    h, w = h // 2, w // 2                                  # conv2
    macs += width * 2 * width * 16 * h * w
    for _ in range(extra_stages(image_shape[1])):
        h, w = h // 2, w // 2
        macs += (2 * width) ** 2 * 16 * h * w
    return macs


def model_shape(image_shape: tuple[int, int, int], model_side: int | None) -> tuple[int, int, int]:
    """The (C, s, s) the convolutions work at: the image's own shape unless a smaller model side is given."""
    c, h, w = image_shape
    if not model_side or (model_side == h == w):
        if h != w or h % 4 != 0:
            raise ValueError(f"the conv pair needs square images with side divisible by 4, got {tuple(image_shape)}")
        return tuple(image_shape)
    if model_side % 4 or not 8 <= model_side <= min(h, w):
        raise ValueError(f"model_side must be a multiple of 4, at least 8 and at most the image side, got "
                         f"{model_side} for {tuple(image_shape)}")
    return c, model_side, model_side


class ConvGenerator(nn.Module):
    """[z ; embed(y)] -> 4x4 (or 7x7) feature map -> two x2 transposed convolutions -> sigmoid pixels (upsampled
    to image_shape when the model side is smaller)."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 64, width: int = 32,
                 model_side: int | None = None):
        super().__init__()
        c, h, w = model_shape(image_shape, model_side)
        self.image_shape, self.num_classes, self.latent_dim = tuple(image_shape), num_classes, latent_dim
        self.model_side = h
        self.extra = extra_stages(h)
        self.base = h // 4 // 2**self.extra
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.fc = nn.Linear(2 * latent_dim, 4 * width * self.base * self.base)
        self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)
        if self.extra:   # larger images: more x2 stages at the last width (absent at 28/32 px: same state dict)
            self.extra_up = nn.ModuleList(nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
                                          for _ in range(self.extra))
            self.extra_norm = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(self.extra))
        self.out = nn.Conv2d(width, c, 3, padding=1)
        # G is trained on public inputs only, so cross-example normalisation is allowed here.
        self.norm0, self.norm1, self.norm2 = nn.BatchNorm2d(4 * width), nn.BatchNorm2d(2 * width), nn.BatchNorm2d(width)
        self.width = width
        _init_dcgan(self)
        # Channels-last feature maps and weights: on CPU the (transposed) convolutions then take oneDNN's fast
        # kernels, ~1.6x faster for G's forward and backward (benchmarks/step_speed.py); the outputs are the
        # same up to float rounding. The weights keep this layout through load_state_dict, .to() and copies.
        self.to(memory_format=torch.channels_last)

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], dim=1)).view(-1, 4 * self.width, self.base, self.base)
        h = F.relu(self.norm0(h.contiguous(memory_format=torch.channels_last)))
        h = F.relu(self.norm1(self.up1(h)))
        h = F.relu(self.norm2(self.up2(h)))
        for up, norm in zip(getattr(self, "extra_up", ()), getattr(self, "extra_norm", ())):
            h = F.relu(norm(up(h)))
        x = torch.sigmoid(self.out(h)).contiguous()  # (N, C, H, W) in [0, 1], the usual layout
        if x.shape[-2:] != self.image_shape[1:]:   # bilinear weights are convex: pixels stay in [0, 1]
            x = F.interpolate(x, size=self.image_shape[1:], mode="bilinear", align_corners=False).contiguous()
        return x


class ConvProjectionDiscriminator(nn.Module):
    """Two stride-2 convolutions -> pooled features phi(x); logit = w.phi(x) + embed(y).phi(x)."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32, groups: int = 8,
                 model_side: int | None = None):
        super().__init__()
        c, h, w = model_shape(image_shape, model_side)
        self.image_shape, self.num_classes = tuple(image_shape), num_classes
        self.model_side = h
        self.conv1 = nn.Conv2d(c, width, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)
        self.norm = nn.GroupNorm(groups, 2 * width, affine=False)  # per-example statistics only
        self.extra = extra_stages(h)
        if self.extra:   # larger images: more stride-2 stages (absent at 28/32 px: same state dict)
            self.extra_conv = nn.ModuleList(nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1)
                                            for _ in range(self.extra))
            self.extra_norm = nn.ModuleList(nn.GroupNorm(groups, 2 * width, affine=False)
                                            for _ in range(self.extra))
        side_h, side_w = math.ceil(h / 4), math.ceil(w / 4)
        for _ in range(self.extra):
            side_h, side_w = side_h // 2, side_w // 2
        feat = 2 * width * side_h * side_w
        self.fc = nn.Linear(feat, 1)
        self.embed = nn.Embedding(num_classes, feat)
        # PyTorch's default (Kaiming-uniform) init, not DCGAN's N(0, 0.02): with tiny weights GroupNorm divides
        # by a tiny std, and on the near-constant early fakes ~90% of each clipped per-example gradient went to
        # conv2's bias, leaving the output layers' share of the clipped signal below the noise.
        # Start unconditional: with N(0, 1) class embeddings the projection term's logits are ~sqrt(feat) large;
        # D learns the class templates from zero.
        nn.init.zeros_(self.embed.weight)

    # y may be (N, k): k labels per image, scored from one pass of phi(x) (the matching-aware D's (x, y) and (x, y')
    # rows of one record: train/steps.py), logits (N, k). The embedding is still called once per forward.
    scores_label_sets = True

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.model_side or x.shape[-2] != self.model_side:
            x = F.adaptive_avg_pool2d(x, self.model_side)   # per example: each record's influence stays its own
        h = F.leaky_relu(self.conv1(x * 2 - 1), 0.2)
        h = F.leaky_relu(self.norm(self.conv2(h)), 0.2)
        for conv, norm in zip(getattr(self, "extra_conv", ()), getattr(self, "extra_norm", ())):
            h = F.leaky_relu(norm(conv(h)), 0.2)
        h = h.flatten(1)  # (N, feat)
        if y.dim() == 2:
            return self.fc(h) + (self.embed(y) * h.unsqueeze(1)).sum(-1)
        return self.fc(h).squeeze(-1) + (self.embed(y) * h).sum(1)
