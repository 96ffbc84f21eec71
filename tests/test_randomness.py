"""Release mode vs experiment mode: OS-entropy noise that cannot be replayed, or a reproducible seeded run."""

import torch

from dpcgan.config import preset
from dpcgan.privacy.noise import SecureNoise, SeededNoise, add_gaussian_noise_
from dpcgan.rng import make_generators
from dpcgan.train import train


def test_secure_noise_has_the_right_std_and_is_never_repeated():
    like = torch.zeros(1)
    a, b = SecureNoise(), SecureNoise()
    x = a.normal((400_000,), 2.5, like)
    assert abs(float(x.std()) / 2.5 - 1) < 0.01 and abs(float(x.mean())) < 0.02
    assert not torch.equal(a.normal((100,), 1.0, like), b.normal((100,), 1.0, like))
    assert not torch.equal(a.normal((100,), 1.0, like), a.normal((100,), 1.0, like))


def test_secure_noise_sums_four_draws(monkeypatch):
    import numpy as np

    shapes = []
    real_generator = np.random.Generator

    class Recording:
        def __init__(self, bit_generator):
            self.inner = real_generator(bit_generator)

        def standard_normal(self, shape, dtype):
            shapes.append(shape)
            return self.inner.standard_normal(shape, dtype=dtype)

    monkeypatch.setattr(np.random, "Generator", Recording)
    SecureNoise().normal((10,), 1.0, torch.zeros(1))
    assert shapes == [(4, 10)]  # four independent draws per coordinate, summed


def test_release_mode_keys_private_streams_with_128_bits(monkeypatch):
    """A CPU torch.Generator keeps only the low 32 bits of its seed (a searchable space): the private
    streams of release mode must not depend on one."""
    import secrets

    assert torch.equal(torch.randn(4, generator=torch.Generator().manual_seed(1)),
                       torch.randn(4, generator=torch.Generator().manual_seed(1 + 2**32)))  # the reason
    bits = []
    real = secrets.randbits
    monkeypatch.setattr(secrets, "randbits", lambda k: bits.append(k) or real(k))
    gens = make_generators(None)
    bits.clear()
    gens.noise.normal((5,), 1.0, torch.zeros(1))
    gens.sampling.integers(7, 2**53)
    assert bits == [128, 128]
    a, b = gens.sampling.integers(1000, 2**53), gens.sampling.integers(1000, 2**53)
    assert not torch.equal(a, b) and 0 <= int(a.min()) and int(a.max()) < 2**53


def test_seeded_noise_is_reproducible():
    g1, g2 = make_generators(3), make_generators(3)
    grads1, grads2 = {0: torch.zeros(50)}, {0: torch.zeros(50)}
    add_gaussian_noise_(grads1, 1.0, g1.noise)
    add_gaussian_noise_(grads2, 1.0, g2.noise)
    assert torch.equal(grads1[0], grads2[0]) and isinstance(g1.noise, SeededNoise)
    assert isinstance(make_generators(None).noise, SecureNoise)


def test_same_seed_same_run_and_no_seed_differs(mnist_small):
    cfg = preset("paper").replace(batch_size=100, steps=15, target_epsilon=None)
    a = train(cfg.replace(seed=11), mnist_small, None, progress=False).generator.state_dict()
    b = train(cfg.replace(seed=11), mnist_small, None, progress=False).generator.state_dict()
    c = train(cfg, mnist_small, None, progress=False).generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_release_mode_is_marked_in_the_report(mnist_small, tmp_path):
    import json

    cfg = preset("paper").replace(batch_size=100, steps=5, target_epsilon=None)
    train(cfg, mnist_small, tmp_path / "rel", progress=False)
    train(cfg.replace(seed=1), mnist_small, tmp_path / "exp", progress=False)
    rel = json.loads((tmp_path / "rel" / "privacy.json").read_text())
    exp = json.loads((tmp_path / "exp" / "privacy.json").read_text())
    assert rel["release"] == "release" and "OS entropy" in rel["randomness"]
    assert exp["release"] == "not for release" and "NOT FOR RELEASE" in exp["randomness"]
