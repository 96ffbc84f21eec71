"""Joint mode: how far the public latent stream advances must not depend on the private batch size (privacy
review 2, item 9). Each real record brings one fake, so the number of fakes m is private; the fakes are drawn in
public fixed-size blocks from a per-step subgenerator keyed by one draw of the latent stream, so after the step the
stream is where it would be for any m, and later public latents (G steps, samples) carry nothing of m."""

import torch

from dpcgan.models import ModelSpec, build_models
from dpcgan.train.steps import independent_fakes


def tiny_generator():
    G, _ = build_models(ModelSpec("paper-fc", (1, 4, 4), 3, latent_dim=8, hidden=16))
    return G


def test_the_latent_stream_advances_the_same_whatever_the_private_batch_size():
    G, prior, block = tiny_generator(), torch.full((3,), 1 / 3), 8
    states, firsts = [], []
    for m in (0, 3, block, block + 5, 4 * block + 1):      # 0 to 5 blocks
        gen = torch.Generator().manual_seed(11)
        x, y = independent_fakes(G, m, prior, gen, block=block)
        assert x.shape[0] == m == y.shape[0]
        states.append(gen.get_state())
        firsts.append(x[:3])
    assert all(torch.equal(s, states[0]) for s in states[1:])
    # and fake i is still a function of its own public (z, y) only: the first fakes agree across m
    assert all(torch.allclose(f, firsts[1], atol=1e-6) for f in firsts[2:])  # (batched matmuls: not bitwise)
