"""Refuse discriminators that per-example clipping cannot protect.

DP-SGD bounds one record's influence by clipping that record's gradient. A layer that mixes examples
(BatchNorm and its relatives use batch statistics) makes every example's output depend on the whole batch,
so the per-example gradient no longer captures a record's influence and clipping bounds nothing.
Layers with parameters must also be ones whose per-example gradient norms we compute exactly.
"""

from __future__ import annotations

import torch
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
        for base in SUPPORTED_LAYERS:
            if isinstance(layer, base) and type(layer).forward is not base.forward:
                raise ConfigError(f"discriminator layer {where!r} ({type(layer).__name__}) subclasses {base.__name__} "
                                  "and overrides forward: the per-example norms assume the plain layer's computation")
        if isinstance(layer, nn.Embedding):
            for option, off in (("max_norm", layer.max_norm is None), ("padding_idx", layer.padding_idx is None),
                                ("scale_grad_by_freq", not layer.scale_grad_by_freq), ("sparse", not layer.sparse)):
                if not off:
                    raise ConfigError(
                        f"discriminator layer {where!r}: Embedding with {option} is not supported (max_norm renormalises "
                        "rows in place outside the clipping; padding_idx and scale_grad_by_freq change the gradient "
                        "the norms are computed for); build the Embedding without it")
    buffers = [name for name, _ in module.named_buffers()]
    if buffers:
        raise ConfigError(f"the discriminator has buffer(s) {buffers}: state that a forward pass can update (running "
                          "statistics, counters) is carried from one batch to the next outside the clipping; remove it")
    image_shape, num_classes = getattr(module, "image_shape", None), getattr(module, "num_classes", None)
    if image_shape is not None and num_classes is not None:
        check_rows_are_independent(module, tuple(image_shape), int(num_classes))


def check_rows_are_independent(module: nn.Module, image_shape: tuple, num_classes: int, rows: int = 4) -> None:
    """A one-off self-test at construction: row 0's output and the gradient of row 0's output with respect to every
    parameter must not change when the other rows of the batch change. Per-example clipping bounds one record's
    influence only if its gradient is its own. Catches cross-example computations that no layer type reveals
    (e.g. a batch mean taken inside forward)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(rows, *image_shape, generator=gen, dtype=torch.float64)
    y = torch.randint(0, num_classes, (rows,), generator=gen)
    x2, y2 = x.clone(), y.clone()
    x2[1:] = torch.rand(rows - 1, *image_shape, generator=gen, dtype=torch.float64)
    y2[1:] = torch.randint(0, num_classes, (rows - 1,), generator=gen)
    probe = _double_copy(module)
    params = [p for p in probe.parameters() if p.requires_grad]
    outputs = []
    for xb, yb in ((x, y), (x2, y2)):
        out = probe(xb, yb)[0]
        grads = torch.autograd.grad(out, params, allow_unused=True)
        outputs.append([out.detach()] + [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params)])
    for a, b in zip(*outputs):
        if not torch.allclose(a, b, rtol=1e-9, atol=1e-12):
            raise ConfigError("the discriminator's output (or its gradient) for one row depends on other rows of "
                              "the batch, so per-example clipping bounds nothing; remove the cross-example "
                              "computation (batch statistics, batch means) from D")


def _double_copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).double().train()
