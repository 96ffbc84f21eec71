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


def test_a_smaller_model_side_pools_for_d_and_upsamples_g():
    """model_side (auto's rule 5 above 32 px): the pair works at s x s. D's logit for an image is the s px D's logit
    for its average-pooled copy (a fixed function of one record: what the clipping bounds is unchanged), G's samples
    are its s px samples upsampled to the data's side, and the layers are exactly those of an s px model."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    G = ConvGenerator((3, 64, 64), 10, latent_dim=16, width=8, model_side=32)
    D = ConvProjectionDiscriminator((3, 64, 64), 10, width=8, groups=4, model_side=32)
    G32 = ConvGenerator((3, 32, 32), 10, latent_dim=16, width=8)
    D32 = ConvProjectionDiscriminator((3, 32, 32), 10, width=8, groups=4)
    assert {k: v.shape for k, v in G.state_dict().items()} == {k: v.shape for k, v in G32.state_dict().items()}
    assert {k: v.shape for k, v in D.state_dict().items()} == {k: v.shape for k, v in D32.state_dict().items()}
    G32.load_state_dict(G.state_dict())
    D32.load_state_dict(D.state_dict())
    check_private_discriminator(D)
    z, y = torch.randn(6, 16), torch.arange(6)
    G.eval(), G32.eval()
    x = G(z, y)
    assert x.shape == (6, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    small = G32(z, y)
    torch.testing.assert_close(F.avg_pool2d(x, 2), small, atol=0.02, rtol=0)   # bilinear x2, pooled back: ~itself
    torch.testing.assert_close(x, F.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False))
    real = torch.rand(6, 3, 64, 64)
    torch.testing.assert_close(D(real, y), D32(F.avg_pool2d(real, 2), y))
    # detail finer than the model side does not reach D: images with the same 2 x 2 block means score the same
    shuffled = real.clone()
    shuffled[..., ::2, :], shuffled[..., 1::2, :] = real[..., 1::2, :], real[..., ::2, :]
    torch.testing.assert_close(D(shuffled, y), D(real, y))
    # sides the convolutions cannot take natively (not a multiple of 4, not square) work through the pooling
    G, D = ConvGenerator((1, 30, 42), 10, 16, 8, model_side=28), ConvProjectionDiscriminator((1, 30, 42), 10, 8, 4, 28)
    assert G(z, y).shape == (6, 1, 30, 42) and D(G(z, y), y).shape == (6,)
    for bad in (30, 36, 6):
        with pytest.raises(ValueError, match="model_side"):
            ConvGenerator((1, 32, 32), 10, model_side=bad)
