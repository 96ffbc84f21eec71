"""Clipped gradient sums from ghost norms / book-keeping against an explicit per-example reference (torch.func)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from dpcgan.models import ConvProjectionDiscriminator, FCDiscriminator
from dpcgan.models.fc import one_hot
from dpcgan.privacy import clipping
from dpcgan.privacy.clipping import LayerTape, clipped_grad_sum
from dpcgan.tensor_census import largest_tensor_elements


class ConvEmbedD(nn.Module):
    """Exercises Conv2d (Gram and explicit paths), Embedding and Linear-on-sequence handlers."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)     # 14x14 output: many positions -> explicit product
        self.conv2 = nn.Conv2d(4, 16, 4, stride=2, padding=1)    # 7x7 output, wide kernel -> Gram trick
        self.embed = nn.Embedding(num_classes, 16)
        self.seq = nn.Linear(16, 8)                              # applied to (N, 49, 16): a "sequence" Linear
        self.head = nn.Linear(8, 1)

    def forward(self, x, y):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)                     # (N, 16, 7, 7)
        h = h.flatten(2).transpose(1, 2) + self.embed(y).unsqueeze(1)  # (N, 49, 16)
        h = torch.tanh(self.seq(h)).mean(1)                      # (N, 8)
        return self.head(h).squeeze(-1)


def reference_clipped_sum(D, x, y, targets, units, max_norm):
    """Explicit: per-row gradients by vmap, summed within units, clipped, summed."""
    params = {k: v.detach() for k, v in D.named_parameters()}

    def row_loss(p, xi, yi, ti):
        logit = functional_call(D, p, (xi[None], yi[None]))
        return F.binary_cross_entropy_with_logits(logit, ti[None], reduction="sum")

    per_row = vmap(grad(row_loss), in_dims=(None, 0, 0, 0))(params, x, y, targets)
    flat = torch.cat([g.reshape(len(x), -1) for g in per_row.values()], dim=1)       # (N, P)
    unit_grads = flat[units].sum(1) if units is not None else flat                    # (U, P)
    norms = unit_grads.norm(dim=1)
    factors = (max_norm / (norms + 1e-6)).clamp(max=1.0) if max_norm is not None else torch.ones_like(norms)
    total = (unit_grads * factors[:, None]).sum(0)
    out, offset = {}, 0
    for k, v in params.items():
        out[k] = total[offset: offset + v.numel()].view_as(v)
        offset += v.numel()
    return out, norms


def ours(D, x, y, targets, units, max_norm):
    with LayerTape(D) as tape:
        logits = D(x, y)
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    res = clipped_grad_sum(tape, losses, max_norm=max_norm, units=units)
    names = {p: k for k, p in D.named_parameters()}
    return {names[p]: g for p, g in res.grads.items()}, res.norms


def make_batch(n, seed, image=(1, 28, 28)):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *image, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (n,), generator=g)
    t = (torch.rand(n, generator=g) < 0.5).double()
    return x, y, t


def make_d(model):
    if model == "paper-fc":
        return FCDiscriminator((1, 28, 28), 10)
    if model == "conv-projection":
        D = ConvProjectionDiscriminator((1, 28, 28), 10, width=8, groups=4)
        nn.init.normal_(D.embed.weight, 0, 0.1)  # the default N(0, 1) init makes logits huge
        return D
    if model == "conv-projection-rgb64":   # one more stride-2 stage (models/conv.extra_stages)
        D = ConvProjectionDiscriminator((3, 64, 64), 10, width=4, groups=2)
        nn.init.normal_(D.embed.weight, 0, 0.1)
        return D
    if model == "conv-projection-pooled":   # a model side below the image's: D pools each image first (36 -> 28)
        D = ConvProjectionDiscriminator((1, 36, 36), 10, width=8, groups=4, model_side=28)
        nn.init.normal_(D.embed.weight, 0, 0.1)
        return D
    return ConvEmbedD()


IMAGE_OF = {"conv-projection-rgb64": (3, 64, 64), "conv-projection-pooled": (1, 36, 36)}


@pytest.mark.parametrize("model", ["paper-fc", "conv-embed", "conv-projection", "conv-projection-rgb64",
                                   "conv-projection-pooled"])
@pytest.mark.parametrize("units_kind", ["split", "joint"])
@pytest.mark.parametrize("max_norm", [0.05, 1.1, None])
@pytest.mark.parametrize("chunk", [128, 5])  # 5: norms computed in chunks of units (with a ragged last chunk)
def test_clipped_sum_matches_explicit_per_example_reference(model, units_kind, max_norm, chunk, monkeypatch):
    monkeypatch.setattr(clipping, "NORM_CHUNK_UNITS", chunk)
    torch.manual_seed(0)
    D = make_d(model).double()
    x, y, t = make_batch(24, seed=1, image=IMAGE_OF.get(model, (1, 28, 28)))
    units = None if units_kind == "split" else torch.stack([torch.arange(12), 12 + torch.arange(12)], 1)
    ref, ref_norms = reference_clipped_sum(D, x, y, t, units, max_norm)
    got, got_norms = ours(D, x, y, t, units, max_norm)
    torch.testing.assert_close(got_norms, ref_norms, rtol=1e-5, atol=1e-8)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-7, msg=f"parameter {k}")
    if max_norm == 0.05:  # the test must actually exercise clipping
        assert (ref_norms > max_norm).all()


def test_float32_paper_model_within_1e5():
    torch.manual_seed(0)
    D = FCDiscriminator((1, 28, 28), 10)
    x, y, t = make_batch(64, seed=2)
    x, t = x.float(), t.float()
    ref, _ = reference_clipped_sum(D, x, y, t, None, 1.1)
    got, _ = ours(D, x, y, t, None, 1.1)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-5)


def test_each_clipped_unit_has_norm_at_most_C():
    torch.manual_seed(0)
    D = FCDiscriminator((1, 28, 28), 10).double()
    x, y, t = make_batch(30, seed=3)
    C = 1e-3
    for i in range(5):  # the sum over a single unit is that unit's clipped gradient
        got, norms = ours(D, x[i: i + 1], y[i: i + 1], t[i: i + 1], None, C)
        total = torch.sqrt(sum(g.square().sum() for g in got.values()))
        assert norms[0] > C and total <= C * (1 + 1e-9)


def test_tape_refuses_a_layer_called_twice():
    D = FCDiscriminator((1, 28, 28), 10)
    x, y, _ = make_batch(4, seed=0)
    with pytest.raises(RuntimeError, match="called twice"):
        with LayerTape(D):
            D(x.float(), y)
            D(x.float(), y)


def test_one_hot_matches_torch():
    y = torch.tensor([0, 3, 9])
    assert torch.equal(one_hot(y, 10, torch.float32), F.one_hot(y, 10).float())


def test_memory_does_not_grow_with_batch_times_parameters():
    # Two conv Ds with the same activations but 100x more parameters in the class projection: materialised
    # per-example gradients would need N x P elements; ghost clipping's largest tensor depends on activations.
    torch.manual_seed(0)
    n = 64
    x, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
    largest, params = [], []
    for num_classes in (10, 1000):
        D = ConvProjectionDiscriminator((1, 28, 28), num_classes, width=16)
        params.append(sum(p.numel() for p in D.parameters()))

        def step():
            with LayerTape(D) as tape:
                logits = D(x, y)
            clipped_grad_sum(tape, F.binary_cross_entropy_with_logits(logits, torch.ones(n), reduction="none"),
                             max_norm=1.0)

        largest.append(largest_tensor_elements(step))
    assert params[1] > 50 * params[0]
    # the larger D only adds its parameter-sized gradient buffer, never n copies of it
    assert largest[1] <= max(largest[0], params[1]) and largest[1] < n * params[1] / 20
    assert largest[0] < n * params[0] / 2


def test_memory_does_not_grow_with_the_batch_beyond_the_activations(monkeypatch):
    # Norms are computed NORM_CHUNK_UNITS units at a time: the unfolded conv inputs stay chunk-sized, so the
    # largest tensor grows with B only as the activations of the forward pass itself do.
    monkeypatch.setattr(clipping, "NORM_CHUNK_UNITS", 16)
    D = ConvProjectionDiscriminator((1, 28, 28), 10, width=16)
    sizes = []
    for n in (64, 256):
        x, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))

        def step():
            with LayerTape(D) as tape:
                logits = D(x, y)
            clipped_grad_sum(tape, F.binary_cross_entropy_with_logits(logits, torch.ones(n), reduction="none"),
                             max_norm=1.0)

        activations = n * 16 * 14 * 14  # conv1's output, held by the forward pass
        sizes.append(largest_tensor_elements(step))
        assert sizes[-1] <= activations
    unfolded_conv2 = 256 * (16 * 4 * 4) * 49  # what one unchunked unfold of conv2's input would hold at n = 256
    assert sizes[1] < unfolded_conv2 / 2
