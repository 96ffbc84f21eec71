"""Refuse discriminators that per-example clipping cannot protect.

DP-SGD bounds one record's influence by clipping that record's gradient. A layer that mixes examples
(BatchNorm and its relatives use batch statistics) makes every example's output depend on the whole batch,
so the per-example gradient no longer captures a record's influence and clipping bounds nothing.
Layers with parameters must also be ones whose per-example gradient norms we compute exactly.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from ..privacy.clipping import SUPPORTED_LAYERS

CROSS_EXAMPLE_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.SyncBatchNorm, nn.LazyBatchNorm1d,
                        nn.LazyBatchNorm2d, nn.LazyBatchNorm3d)


def check_private_discriminator(module: nn.Module) -> None:
    for name, layer in module.named_modules():
        where = name or type(module).__name__
        if isinstance(layer, CROSS_EXAMPLE_LAYERS):
            raise ConfigError(
                f"discriminator layer {where!r} ({type(layer).__name__}) normalises with statistics of the whole "
                "batch, so each example's output depends on the others and per-example clipping bounds nothing. "
                "Use GroupNorm/LayerNorm without affine parameters, or no normalisation."
            )
        if isinstance(layer, (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)) and layer.track_running_stats:
            raise ConfigError(f"discriminator layer {where!r}: InstanceNorm with track_running_stats=True keeps "
                              "running statistics across examples; set track_running_stats=False")
        own_params = [p for p in layer.parameters(recurse=False) if p.requires_grad]
        if own_params and not isinstance(layer, SUPPORTED_LAYERS):
            raise ConfigError(
                f"discriminator layer {where!r} ({type(layer).__name__}) has trainable parameters but no exact "
                f"per-example gradient norm; supported parametrised layers: "
                f"{', '.join(t.__name__ for t in SUPPORTED_LAYERS)}"
            )
        if isinstance(layer, nn.Conv2d) and layer.groups != 1:
            raise ConfigError(f"discriminator layer {where!r}: grouped convolutions are not supported")
