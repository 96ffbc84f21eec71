"""The conv pair at every supported size: depth grows with the image (models/conv.extra_stages), the 28/32 px
models (the presets', whose results and checkpoints exist) keep their exact layers, and a larger D stays one that
per-example clipping protects."""

from __future__ import annotations

import pytest
import torch

from dpcgan.models import ConvProjectionDiscriminator
from dpcgan.models.conv import ConvGenerator, extra_stages
from dpcgan.models.validate import check_private_discriminator

PRESET_G_KEYS = {"embed.weight", "fc.weight", "fc.bias", "up1.weight", "up1.bias", "up2.weight", "up2.bias",
                 "out.weight", "out.bias"}


@pytest.mark.parametrize("side, extra", [(28, 0), (32, 0), (48, 1), (64, 1), (128, 2)])
def test_depth_follows_the_image_size(side, extra):
    assert extra_stages(side) == extra
    for c in (1, 3):
        G = ConvGenerator((c, side, side), 10, latent_dim=16, width=8)
        D = ConvProjectionDiscriminator((c, side, side), 10, width=8, groups=4)
        check_private_discriminator(D)   # no cross-example layer, no buffer, rows independent
        x = G(torch.randn(5, 16), torch.arange(5))
        assert x.shape == (5, c, side, side) and 0 <= x.min() and x.max() <= 1
        assert D(x, torch.arange(5)).shape == (5,)
        assert G.base <= 8 and D.fc.in_features <= 2 * 8 * 8 * 8   # starts / ends on at most 8 x 8 maps


def test_the_presets_sizes_keep_their_layers():
    for side in (28, 32):
        G = ConvGenerator((1, side, side), 10)
        keys = {k for k in G.state_dict() if "norm" not in k}
        assert keys == PRESET_G_KEYS
        D = ConvProjectionDiscriminator((1, side, side), 10)
        assert set(D.state_dict()) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight",
                                       "fc.bias", "embed.weight"}
        assert D.fc.in_features == 2 * 32 * (side // 4) ** 2
