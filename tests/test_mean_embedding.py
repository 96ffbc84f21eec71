"""The warm start's second release (issue 22 item 3, DP-MERF / FETA-Pro): per-class mean embeddings of random
Fourier features. Each record's features have norm 1 (sensitivity 1 without clipping), the noise has std s, the
frequencies are public (drawn before any record is read, the same whatever the data), the release is in the plan
and the ledger once with its exact PLD, and G's match to it is post-processing."""

import json
import math

import numpy as np
import pytest
import torch
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant

from dpcgan.config import resolve_plan
from dpcgan.errors import ConfigError
from dpcgan.privacy import class_means
from dpcgan.privacy.events import SampledGaussianEvent
from dpcgan.privacy.mean_embedding import (class_embedding_sums, default_bandwidth, embeddings_from_release,
                                           noisy_class_embedding_sums, rff_features, rff_frequencies)
from dpcgan.privacy.noise import SeededNoise
from dpcgan.privacy.pld import events_epsilon
from dpcgan.train import loop, train
from dpcgan.train.checkpoint import CHECKPOINT_NAME
from dpcgan.train.losses import ClassEmbeddingAnchor, class_embedding_matching_loss

from conftest import assert_same_run, train_interrupted
from test_levers import tiny


def test_features_have_norm_one_and_their_inner_products_are_the_gaussian_kernel():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(6, 49, generator=gen, dtype=torch.float64)
    bandwidth = default_bandwidth(49)
    W = rff_frequencies(49, 20000, bandwidth, seed=3)
    phi = rff_features(x, W)
    assert phi.shape == (6, 40000)
    np.testing.assert_allclose(phi.norm(dim=1).numpy(), 1.0, rtol=0, atol=1e-12)
    # Rahimi & Recht: E <phi(x), phi(x')> = exp(-||x - x'||^2 / (2 l^2)); 20,000 frequencies: error ~ 0.01
    kernel = torch.exp(-torch.cdist(x, x) ** 2 / (2 * bandwidth ** 2))
    np.testing.assert_allclose((phi @ phi.T).numpy(), kernel.numpy(), atol=0.03)
    # a public draw: the same seed gives the same frequencies, another seed others
    assert torch.equal(W, rff_frequencies(49, 20000, bandwidth, seed=3))
    assert not torch.equal(W, rff_frequencies(49, 20000, bandwidth, seed=4))


def test_sums_match_a_record_by_record_reference_and_one_record_moves_them_by_exactly_one(mnist_small, monkeypatch):
    data = mnist_small.subset(torch.arange(150))
    W = rff_frequencies(49, 64, default_bandwidth(49), seed=0)
    monkeypatch.setattr(class_means, "CHUNK", 37)     # the release reads in chunks
    sums = class_embedding_sums(data, 10, W, side=7)
    pooled = torch.nn.functional.adaptive_avg_pool2d(data.float_images(), 7).reshape(150, 49).double().numpy()
    want = np.zeros((10, 128))
    for xi, yi in zip(pooled, data.y.numpy()):
        proj = W.numpy() @ xi
        want[yi] += np.concatenate([np.cos(proj), np.sin(proj)]) / 8.0
    np.testing.assert_allclose(sums.numpy(), want, rtol=1e-10, atol=1e-10)
    for extra in (150, 151, 152):   # add one record: one row moves by its feature vector, norm 1
        bigger = mnist_small.subset(torch.cat([torch.arange(150), torch.tensor([extra])]))
        moved = (class_embedding_sums(bigger, 10, W, side=7) - sums).norm().item()
        assert moved == pytest.approx(1.0, abs=1e-9)


def test_the_release_adds_noise_of_std_s_and_divides_by_the_warm_starts_counts(mnist_small):
    W = rff_frequencies(784, 500, default_bandwidth(784), seed=0)
    exact = class_embedding_sums(mnist_small, 10, W)
    noisy = noisy_class_embedding_sums(mnist_small, 10, W, 4.0, SeededNoise(torch.Generator().manual_seed(1)))
    diff = (noisy - exact).flatten()
    assert diff.std().item() == pytest.approx(4.0, rel=0.03) and abs(diff.mean().item()) < 0.1
    counts = torch.tensor([200, 0, -3, 150, 1, 2, 3, 4, 5, 6])
    emb = embeddings_from_release(noisy, counts)
    assert emb.dtype == torch.float32
    torch.testing.assert_close(emb[0], (noisy[0] / 200).float())
    torch.testing.assert_close(emb[1], noisy[1].float())   # a count below 1 counts as 1
    with pytest.raises(ValueError, match="noise_multiplier"):
        noisy_class_embedding_sums(mnist_small, 10, W, 0.0, None)


def test_the_embedding_release_is_in_the_plan_and_its_pld_is_the_gaussian_mechanisms():
    cfg = tiny(noise_multiplier=None, target_epsilon=3.0, steps=100, warm_start_noise=15.0)
    means_only = resolve_plan(cfg, 2000, 10)
    both = resolve_plan(cfg.replace(warm_start_rff_noise=8.0), 2000, 10)
    assert both.noise_multiplier > means_only.noise_multiplier and both.planned_epsilon <= 3.0
    event = SampledGaussianEvent(1.0, 8.0, 1, "warm-start-embedding")
    reference = pld_privacy_accountant.PLDAccountant().compose(dp_event.GaussianDpEvent(8.0))
    assert events_epsilon([event], 1e-5) == pytest.approx(reference.get_epsilon(1e-5), rel=1e-3)


@pytest.mark.parametrize("bad, match", [
    (dict(warm_start_rff_noise=-1.0), "warm_start_rff_noise"),
    (dict(warm_start_rff_noise=math.inf), "warm_start_rff_noise"),
    (dict(warm_start_rff_noise=5.0, warm_start_rff_features=0), "warm_start_rff_features"),
    (dict(warm_start_rff_noise=5.0, warm_start_rff_bandwidth=-1.0), "warm_start_rff_bandwidth"),
    (dict(warm_start_rff_anchor=math.nan), "warm_start_rff_anchor")])
def test_bad_embedding_settings_are_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        resolve_plan(tiny(warm_start_noise=15.0).replace(**bad), 2000, 10)


def test_without_the_warm_start_the_embedding_release_is_off_too():
    """It divides by the warm start's counts: --set warm_start_noise=0 over auto turns both off, not an error."""
    cfg = tiny(noise_multiplier=None, target_epsilon=3.0, steps=100)
    off = resolve_plan(cfg.replace(warm_start_rff_noise=8.0, warm_start_rff_anchor=5.0), 2000, 10)
    assert off.noise_multiplier == resolve_plan(cfg, 2000, 10).noise_multiplier


def test_the_embedding_match_is_the_squared_mmd_of_the_class_features():
    gen = torch.Generator().manual_seed(0)
    phi, emb = torch.rand(9, 6, generator=gen), torch.rand(3, 6, generator=gen)
    y = torch.tensor([0, 2, 2, 0, 0, 2, 2, 2, 0])     # class 1 absent: it does not count
    direct = np.mean([((phi[y == k].mean(0) - emb[k]) ** 2).sum().item() for k in (0, 2)])
    assert class_embedding_matching_loss(phi, y, emb).item() == pytest.approx(direct, rel=1e-6)
    W = rff_frequencies(4, 8, 1.0, seed=0).float()
    fakes = torch.rand(5, 1, 4, 4, generator=gen)
    anchor = ClassEmbeddingAnchor(W, torch.rand(2, 16, generator=gen), 2, 3.0)
    labels = torch.tensor([0, 1, 1, 0, 1])
    phi_fakes = rff_features(torch.nn.functional.adaptive_avg_pool2d(fakes, 2).flatten(1), W)
    assert anchor(fakes, labels).item() == pytest.approx(
        3.0 * class_embedding_matching_loss(phi_fakes, labels, anchor.embeddings).item(), rel=1e-6)


def test_a_run_records_both_releases_once_draws_public_frequencies_and_resumes(mnist_small, mnist_train, tmp_path,
                                                                              monkeypatch):
    cfg = tiny(steps=8, d_steps_per_g=2, warm_start_noise=25.0, warm_start_steps=3, warm_start_side=7,
               warm_start_clip=2.0, warm_start_anchor=10.0, warm_start_rff_noise=12.0, warm_start_rff_features=64,
               warm_start_rff_anchor=5.0, checkpoint_every=4, log_every=2)
    train(cfg, mnist_small, tmp_path / "ref", progress=False)
    report = json.loads((tmp_path / "ref" / "privacy.json").read_text())
    assert [(e["release"], e["noise_multiplier"], e["count"]) for e in report["events"] if e["sample_rate"] == 1.0] \
        == [("warm-start", 25.0, 1), ("warm-start-embedding", 12.0, 1)]
    assert report["warm_start_embedding"]["noise_multiplier"] == 12.0
    assert "mean embeddings" in report["levers"]["warm_start"]
    plan = resolve_plan(cfg, len(mnist_small), 10)
    assert report["epsilon"] == pytest.approx(plan.planned_epsilon, rel=1e-6)   # the plan counted both
    # the match is post-processing: without it, the same events and epsilon
    train(cfg.replace(warm_start_rff_anchor=0.0), mnist_small, tmp_path / "no-anchor", progress=False)
    no_anchor = json.loads((tmp_path / "no-anchor" / "privacy.json").read_text())
    assert no_anchor["events"] == report["events"] and no_anchor["epsilon"] == report["epsilon"]
    # the frequencies are public: the same run on other records draws the same ones
    other = mnist_train.subset(torch.arange(2000, 4000))
    train_interrupted(cfg, other, tmp_path / "other", monkeypatch, 6)
    train_interrupted(cfg, mnist_small, tmp_path / "resumed", monkeypatch, 6)
    ckpts = [torch.load(tmp_path / f"{r}.partial" / CHECKPOINT_NAME, weights_only=True) for r in ("other", "resumed")]
    assert torch.equal(ckpts[0]["warm_start_embedding"]["frequencies"],
                       ckpts[1]["warm_start_embedding"]["frequencies"])
    assert not torch.equal(ckpts[0]["warm_start_embedding"]["embeddings"],
                           ckpts[1]["warm_start_embedding"]["embeddings"])
    # resumed: the released embeddings come back from the checkpoint, and the run is the uninterrupted one
    train(cfg, mnist_small, tmp_path / "resumed", progress=False, resume=True)
    assert_same_run(tmp_path / "ref", tmp_path / "resumed", log_every=2, steps=8)
    assert json.loads((tmp_path / "resumed" / "privacy.json").read_text())["events"] == report["events"]



def test_the_embeddings_may_have_their_own_resolution(mnist_small, tmp_path, monkeypatch):
    """warm_start_rff_side pools the embeddings' images apart from the means' (same sensitivity, same epsilon):
    the public frequencies have that many inputs, the report says so, and a side larger than the images is refused."""
    cfg = tiny(steps=2, warm_start_noise=25.0, warm_start_steps=2, warm_start_side=7, warm_start_clip=2.0,
               warm_start_anchor=10.0, warm_start_rff_noise=12.0, warm_start_rff_features=16, warm_start_rff_anchor=5.0,
               checkpoint_every=1)
    drawn = []   # the inputs of the public frequencies each run draws
    monkeypatch.setattr(loop, "rff_frequencies", lambda in_dim, *a: drawn.append(in_dim) or rff_frequencies(in_dim, *a))
    eps = {}
    for name, rff_side, inputs in (("as-means", None, 49), ("own", 14, 196), ("full", 0, 784)):
        run = tmp_path / name
        train(cfg.replace(warm_start_rff_side=rff_side, steps=1), mnist_small, run, progress=False)
        assert drawn.pop() == inputs
        report = json.loads((run / "privacy.json").read_text())
        eps[name] = report["epsilon"]
        mechanism = report["warm_start_embedding"]["mechanism"]
        pooled = {49: "pooled to 7 x 7", 196: "pooled to 14 x 14", 784: None}[inputs]
        assert (pooled in mechanism) if pooled else ("pooled" not in mechanism)
        assert "pooled to 7 x 7" in report["warm_start"]["mechanism"]    # the means keep their own side
    assert eps["as-means"] == eps["own"] == eps["full"]   # the pooling is a function of one record: sensitivity 1
    with pytest.raises(ConfigError, match="warm_start_rff_side = 29"):
        train(cfg.replace(warm_start_rff_side=29), mnist_small, tmp_path / "too-big", progress=False)
    with pytest.raises(ConfigError, match="warm_start_rff_side must be >= 0"):
        resolve_plan(cfg.replace(warm_start_rff_side=-2), 2000, 10)
