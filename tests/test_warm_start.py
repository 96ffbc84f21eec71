"""DP warm start (issue #11, item 6): the per-class means release has L2 sensitivity 1 and noise std s, its cost is
in the plan and in the ledger exactly once, and pretraining G reads nothing but the released means."""

import json
import math

import numpy as np
import pytest
import torch

from dpcgan.config import preset, resolve_plan
from dpcgan.errors import ConfigError
from dpcgan.models.conv import ConvGenerator
from dpcgan.privacy import accountant
from dpcgan.privacy import class_means
from dpcgan.privacy.class_means import clipped_class_sums, means_from_release, noisy_class_means, noisy_class_release
from dpcgan.privacy.noise import SeededNoise
from dpcgan.train import loop as loop_module
from dpcgan.train import train
from dpcgan.train.warm_start import class_mean_matching_loss, pretrain_generator

from conftest import assert_same_run, train_interrupted
from test_levers import independent_epsilon, tiny


def reference_sums(x: np.ndarray, y: np.ndarray, k: int, clip: float) -> tuple[np.ndarray, np.ndarray]:
    """Record by record, in numpy: clip(x) / C added to its class's row, 1 to its class's count."""
    out, counts = np.zeros((k, x[0].size)), np.zeros(k, dtype=np.int64)
    for xi, yi in zip(x, y):
        v = xi.reshape(-1).astype(np.float64)
        v = v * min(1.0, clip / np.linalg.norm(v))
        out[yi] += v / clip
        counts[yi] += 1
    return out, counts


def release_distance(a, b) -> float:
    """The L2 distance between two releases in units of the noise multiplier: (sums, counts) are noised with
    std s sqrt(2) each, so this is sqrt(||dS||^2 + ||dc||^2) / sqrt(2)."""
    return math.sqrt(((a[0] - b[0]) ** 2).sum().item() + ((a[1] - b[1]).double() ** 2).sum().item()) / math.sqrt(2)


def test_clipped_sums_match_a_record_by_record_reference_and_chunking(mnist_small, monkeypatch):
    data = mnist_small.subset(torch.arange(300))
    x = data.float_images().numpy()
    monkeypatch.setattr(class_means, "CHUNK", 37)  # several chunks, the last one partial
    sums, counts = clipped_class_sums(data, 10, clip_norm=6.0)
    want_sums, want_counts = reference_sums(x, data.y.numpy(), 10, 6.0)
    np.testing.assert_allclose(sums.numpy(), want_sums, rtol=1e-10, atol=1e-10)
    assert counts.dtype == torch.int64 and counts.tolist() == want_counts.tolist()


def test_adding_one_record_moves_the_sums_by_at_most_one(mnist_small):
    """The sensitivity the ledger assumes: 1, reached by a record whose norm is at least the clip norm."""
    base = mnist_small.subset(torch.arange(200))
    for clip in (2.0, 8.0, 40.0):  # below, near and far above MNIST's digit norms (~9)
        before = clipped_class_sums(base, 10, clip)
        for extra in (200, 201, 202):
            bigger = mnist_small.subset(torch.cat([torch.arange(200), torch.tensor([extra])]))
            moved = release_distance(clipped_class_sums(bigger, 10, clip), before)
            assert moved <= 1.0 + 1e-12
            if clip == 2.0:  # every digit's norm exceeds 2: the bound is attained
                assert moved == pytest.approx(1.0, abs=1e-12)


def test_the_release_adds_noise_of_std_s_sqrt2_to_every_entry_and_means_divide_by_the_noisy_count(mnist_small):
    exact_sums, exact_counts = clipped_class_sums(mnist_small, 10, 8.0)
    sums, counts = noisy_class_release(mnist_small, 10, 8.0, 3.0, SeededNoise(torch.Generator().manual_seed(1)))
    residual = (sums - exact_sums).numpy().ravel()
    assert residual.std() == pytest.approx(3.0 * math.sqrt(2), rel=0.03) and abs(residual.mean()) < 0.05
    # the counts are released as integers (the discrete Gaussian), never as floats
    assert counts.dtype == torch.int64 and (counts - exact_counts).abs().max() < 40
    # with negligible noise the means are the per-class means of the clipped records
    x = mnist_small.float_images().reshape(len(mnist_small), -1).double()
    x = x * (8.0 / x.norm(dim=1, keepdim=True).clamp(min=8.0))
    means = noisy_class_means(mnist_small, 10, 8.0, 1e-9, SeededNoise(torch.Generator().manual_seed(0)))
    for k in range(10):
        np.testing.assert_allclose(means[k].reshape(-1).numpy(), x[mnist_small.y == k].mean(0).numpy(), atol=1e-5)
    # a class whose noisy count is below 1 is divided by 1, and the means stay in the pixel range
    sums = torch.full((2, 4), 0.5, dtype=torch.float64)
    m = means_from_release(sums, torch.tensor([-3, 0]), 8.0, (1, 2, 2))
    assert m.min() >= 0.0 and m.max() <= 1.0


def test_the_warm_start_is_in_the_plan_and_sigma_is_calibrated_around_it():
    cfg = preset("mnist-eps1")
    plain = resolve_plan(cfg, 60000, 10)
    warm = resolve_plan(cfg.replace(warm_start_noise=20.0), 60000, 10)
    assert warm.noise_multiplier > plain.noise_multiplier and warm.planned_epsilon <= 1.0
    composed = accountant.gaussian_rdp(20.0) + accountant.rdp_curve(warm.sample_rate, warm.noise_multiplier, warm.steps)
    assert warm.planned_epsilon == pytest.approx(accountant.epsilon_from_rdp(composed, cfg.delta, "opacus")[0],
                                                 rel=1e-6)
    both = resolve_plan(cfg.replace(warm_start_noise=20.0, label_prior="dp-histogram", label_histogram_noise=30.0),
                        60000, 10)
    assert both.noise_multiplier > warm.noise_multiplier  # both releases are in the budget


@pytest.mark.parametrize("bad", [dict(warm_start_noise=-1.0), dict(warm_start_noise=float("inf")),
                                 dict(warm_start_noise=5.0, warm_start_clip=0.0),
                                 dict(warm_start_noise=5.0, warm_start_steps=0)])
def test_bad_warm_start_settings_are_refused(bad):
    with pytest.raises(ConfigError, match="warm_start"):
        resolve_plan(preset("paper").replace(**bad), 60000, 10)


def test_pretraining_moves_gs_class_means_to_the_released_ones():
    torch.manual_seed(0)
    G = ConvGenerator((1, 28, 28), 3, latent_dim=8, width=8)
    targets = torch.rand(3, 1, 28, 28)
    gen = torch.Generator().manual_seed(0)
    prior = torch.full((3,), 1 / 3)
    losses = pretrain_generator(G, targets, steps=60, batch_size=96, lr=1e-2, betas=(0.5, 0.999), prior=prior,
                                latent_gen=gen)
    assert losses[-1] < 0.3 * losses[0]
    # the loss is the per-class first-moment distance (checked against a direct computation)
    fakes, y = torch.rand(10, 1, 2, 2), torch.tensor([0, 1, 1, 0, 2, 2, 2, 0, 1, 0])
    m = torch.rand(3, 1, 2, 2)
    direct = np.mean([((fakes[y == k].mean(0) - m[k]) ** 2).mean().item() for k in range(3)])
    assert class_mean_matching_loss(fakes, y, m).item() == pytest.approx(direct, rel=1e-6)


def test_a_warm_started_run_records_the_release_once_and_its_epsilon_is_exact(mnist_small, tmp_path, monkeypatch):
    cfg = tiny(steps=8, d_steps_per_g=2, g_ema=0.5, warm_start_noise=25.0, warm_start_steps=5, checkpoint_every=4,
               log_every=2)
    train(cfg, mnist_small, tmp_path / "ref", progress=False)
    report = json.loads((tmp_path / "ref" / "privacy.json").read_text())
    full_data = [e for e in report["events"] if e["sample_rate"] == 1.0]
    assert full_data == [{"sample_rate": 1.0, "noise_multiplier": 25.0, "count": 1, "release": "warm-start",
                          "coordinates": 1}]
    assert report["d_steps"] == 8 and report["warm_start"]["noise_multiplier"] == 25.0
    assert report["epsilon_by_conversion"]["opacus"] == pytest.approx(independent_epsilon(report["events"], 1e-5),
                                                                      rel=0.02)
    no_warm = tiny(steps=8, d_steps_per_g=2, g_ema=0.5)
    assert report["epsilon_by_conversion"]["classic"] > resolve_plan(no_warm, len(mnist_small), 10).planned_epsilon

    # interrupted after its first checkpoint and resumed: the same run, the release drawn and counted once
    train_interrupted(cfg, mnist_small, tmp_path / "resumed", monkeypatch, 6)
    drawn = []
    real_release = loop_module.noisy_class_release
    monkeypatch.setattr(loop_module, "noisy_class_release", lambda *a, **k: drawn.append(1) or real_release(*a, **k))
    train(cfg, mnist_small, tmp_path / "resumed", progress=False, resume=True)
    assert drawn == []
    assert_same_run(tmp_path / "ref", tmp_path / "resumed", log_every=2, steps=8)
    resumed = json.loads((tmp_path / "resumed" / "privacy.json").read_text())
    assert resumed["events"] == report["events"]


def block_means(x: np.ndarray, k: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H / k, W / k): the mean of each k x k block, written out independently of torch."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))


def test_pooled_sums_are_the_clipped_block_means_and_one_record_still_moves_them_by_at_most_one(mnist_small):
    data = mnist_small.subset(torch.arange(300))
    sums, counts = clipped_class_sums(data, 10, clip_norm=2.0, side=7)
    want_sums, want_counts = reference_sums(block_means(data.float_images().numpy(), 4), data.y.numpy(), 10, 2.0)
    np.testing.assert_allclose(sums.numpy(), want_sums, rtol=1e-6, atol=1e-6)
    assert sums.shape == (10, 49) and counts.tolist() == want_counts.tolist()
    # pooling is a fixed function of one record and clipping comes after it: the sensitivity is still 1
    for clip in (0.5, 2.0, 40.0):
        before = clipped_class_sums(data, 10, clip, side=7)
        for extra in (300, 301, 302):
            bigger = mnist_small.subset(torch.cat([torch.arange(300), torch.tensor([extra])]))
            moved = release_distance(clipped_class_sums(bigger, 10, clip, side=7), before)
            assert moved <= 1.0 + 1e-12
            if clip == 0.5:  # every pooled digit's norm exceeds 0.5: the bound is attained
                assert moved == pytest.approx(1.0, abs=1e-12)
    # the pooled norm is at most ||x|| / k (Jensen), so C_w / k clips no more than C_w at full resolution
    x = data.float_images().numpy()
    pooled = block_means(x, 4).reshape(len(x), -1)
    assert (np.linalg.norm(pooled, axis=1) <= np.linalg.norm(x.reshape(len(x), -1), axis=1) / 4 + 1e-6).all()


def test_pooled_means_carry_the_class_shapes_with_k_times_less_noise_per_pixel(mnist_small):
    """The point of pooling: at 200 records per class and s = 10 the noise on a full-resolution mean (std per pixel
    s sqrt(2) C_w / count, C_w = 8: 0.57 before clamping) is larger than the means' own spread (0.17); at 7 x 7
    (C_w = 2) every class's noisy mean still sits nearest its own exact mean."""
    exact = {side: noisy_class_means(mnist_small, 10, clip, 1e-9, SeededNoise(torch.Generator().manual_seed(0)),
                                     side=side).flatten(1) for side, clip in ((None, 8.0), (7, 2.0))}
    noisy = {side: noisy_class_means(mnist_small, 10, clip, 10.0, SeededNoise(torch.Generator().manual_seed(1)),
                                     side=side).flatten(1) for side, clip in ((None, 8.0), (7, 2.0))}
    assert noisy[7].shape == (10, 49)

    def nearest_class_accuracy(side):  # does each noisy mean sit nearest its own class's exact mean?
        return (torch.cdist(noisy[side], exact[side]).argmin(dim=1) == torch.arange(10)).float().mean().item()

    assert nearest_class_accuracy(7) == 1.0
    rmse = {side: (noisy[side] - exact[side]).pow(2).mean().sqrt().item() for side in exact}
    assert rmse[7] < 0.5 * rmse[None]


def test_pooled_pretraining_matches_gs_pooled_class_means_to_the_released_ones():
    torch.manual_seed(0)
    G = ConvGenerator((1, 28, 28), 3, latent_dim=8, width=8)
    targets = torch.rand(3, 1, 7, 7)
    prior = torch.full((3,), 1 / 3)
    losses = pretrain_generator(G, targets, steps=60, batch_size=96, lr=1e-2, betas=(0.5, 0.999), prior=prior,
                                latent_gen=torch.Generator().manual_seed(0), side=7)
    assert losses[-1] < 0.3 * losses[0]
    y = torch.arange(3).repeat(64)
    with torch.no_grad():
        fakes = G(torch.randn(len(y), 8), y)
    assert fakes.shape[-1] == 28  # G still makes full-size images; only their block means were matched
    pooled = torch.from_numpy(block_means(fakes.numpy(), 4))
    assert class_mean_matching_loss(pooled, y, targets).item() < 0.3 * losses[0]


def test_a_pooled_warm_start_says_so_in_the_privacy_report_and_bad_sides_are_refused(mnist_small, tmp_path):
    cfg = tiny(steps=2, warm_start_noise=25.0, warm_start_steps=3, warm_start_side=7, warm_start_clip=2.0)
    train(cfg, mnist_small, tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "privacy.json").read_text())
    assert "average-pooled to 7 x 7" in report["warm_start"]["mechanism"]
    assert [e["release"] for e in report["events"] if e["sample_rate"] == 1.0] == ["warm-start"]
    with pytest.raises(ConfigError, match="warm_start_side"):
        resolve_plan(cfg.replace(warm_start_side=-1), 2000, 10)
    with pytest.raises(ConfigError, match="warm_start_side = 29"):
        train(cfg.replace(warm_start_side=29), mnist_small, tmp_path / "too-big", progress=False)


def test_the_anchor_adds_its_weight_times_the_pooled_class_mean_match_to_gs_loss():
    from dpcgan.models.conv import ConvProjectionDiscriminator as ConvDiscriminator
    from dpcgan.train.losses import ClassMeanAnchor
    from dpcgan.train.steps import generator_update

    torch.manual_seed(0)
    G = ConvGenerator((1, 28, 28), 3, latent_dim=8, width=8)
    D = ConvDiscriminator((1, 28, 28), 3, width=8)
    means = torch.rand(3, 1, 7, 7)
    z, y = torch.randn(30, 8), torch.arange(3).repeat(10)
    anchor = ClassMeanAnchor(means, 7, 4.0)
    with torch.no_grad():
        fakes = G(z, y)
    want = 4.0 * class_mean_matching_loss(torch.from_numpy(block_means(fakes.numpy(), 4)), y, means)
    assert anchor(fakes, y).item() == pytest.approx(want.item(), rel=1e-5)
    # in the G step: the returned loss is the GAN loss plus the anchor, and a heavy anchor pulls G to the means
    plain = generator_update(G, torch.optim.SGD(G.parameters(), lr=0.0), D, z, y, batch_size=30)
    anchored = generator_update(G, torch.optim.SGD(G.parameters(), lr=0.0), D, z, y, batch_size=30, anchor=anchor)
    assert anchored.item() == pytest.approx(plain.item() + anchor(fakes, y).item(), rel=1e-4)
    heavy = ClassMeanAnchor(means, 7, 1e4)
    opt = torch.optim.Adam(G.parameters(), lr=1e-2)
    for _ in range(40):
        generator_update(G, opt, D, z, y, batch_size=30, anchor=heavy)
    with torch.no_grad():
        assert heavy(G(z, y), y).item() < 0.3 * heavy(fakes, y).item()


def test_an_anchored_run_costs_no_more_epsilon_and_resumes_to_the_same_generator(mnist_small, tmp_path, monkeypatch):
    cfg = tiny(steps=8, d_steps_per_g=2, warm_start_noise=25.0, warm_start_steps=3, warm_start_side=7,
               warm_start_clip=2.0, warm_start_anchor=10.0, checkpoint_every=4, log_every=2)
    train(cfg, mnist_small, tmp_path / "ref", progress=False)
    train(cfg.replace(warm_start_anchor=0.0), mnist_small, tmp_path / "no-anchor", progress=False)
    ref = json.loads((tmp_path / "ref" / "privacy.json").read_text())
    no_anchor = json.loads((tmp_path / "no-anchor" / "privacy.json").read_text())
    # the anchor reads only the release: the same events and epsilon, but a different G
    assert ref["events"] == no_anchor["events"] and ref["epsilon"] == no_anchor["epsilon"]
    assert "10 x the class-mean match" in ref["levers"]["warm_start"]
    g = [torch.load(tmp_path / r / "generator.pt", weights_only=True)["state_dict"] for r in ("ref", "no-anchor")]
    assert any(not torch.equal(g[0][k], g[1][k]) for k in g[0])
    # interrupted after its first checkpoint and resumed: the released means come back from the checkpoint
    train_interrupted(cfg, mnist_small, tmp_path / "resumed", monkeypatch, 6)
    train(cfg, mnist_small, tmp_path / "resumed", progress=False, resume=True)
    assert_same_run(tmp_path / "ref", tmp_path / "resumed", log_every=2, steps=8)
    with pytest.raises(ConfigError, match="warm_start_anchor"):
        resolve_plan(cfg.replace(warm_start_anchor=-1.0), 2000, 10)
    # turning the warm start off (as a user overriding auto would, with --set warm_start_noise=0) turns the anchor
    # off with it: no release, no anchor, and the plan is the plain one
    off = cfg.replace(warm_start_noise=0.0)
    assert resolve_plan(off, 2000, 10).planned_epsilon == resolve_plan(off.replace(warm_start_anchor=0.0), 2000,
                                                                       10).planned_epsilon


def test_warm_start_counts_are_the_label_prior_at_no_further_epsilon(mnist_small, tmp_path, monkeypatch):
    """--label-prior warm-start-counts (auto's choice with a warm start): the fakes' labels, G's pretraining and the
    samples follow the class proportions of the warm start's noisy integer counts, clamped and normalised. It is
    post-processing of that release: the same ledger events and epsilon as a uniform prior. On unbalanced data the
    prior follows the imbalance (a uniform synthetic set would teach a classifier the wrong base rates)."""
    from dpcgan.privacy.label_histogram import prior_from_counts

    keep = torch.cat([torch.nonzero(mnist_small.y == k).flatten()[: (150 if k < 2 else 25)] for k in range(10)])
    unbalanced = mnist_small.subset(keep.sort().values)
    cfg = tiny(steps=6, warm_start_noise=3.0, warm_start_steps=2, label_prior="warm-start-counts",
               checkpoint_every=3, log_every=3)
    released, pretrained_with = [], []
    real_release, real_pretrain = loop_module.noisy_class_release, loop_module.pretrain_generator
    monkeypatch.setattr(loop_module, "noisy_class_release",
                        lambda *a, **k: released.append(real_release(*a, **k)) or released[-1])
    monkeypatch.setattr(loop_module, "pretrain_generator",
                        lambda G, means, **k: pretrained_with.append(k["prior"].tolist()) or real_pretrain(G, means, **k))
    train(cfg, unbalanced, tmp_path / "counts", progress=False)
    monkeypatch.undo()
    (_, counts), = released
    expected = prior_from_counts(counts.tolist())
    report = json.loads((tmp_path / "counts" / "privacy.json").read_text())
    ckpt = torch.load(tmp_path / "counts" / "generator.pt", weights_only=True)
    assert ckpt["label_prior"] == expected == report["fake_samples"]["label_prior"]
    assert pretrained_with == [pytest.approx(expected)]
    assert report["fake_samples"]["label_prior_source"] == "warm-start-counts"
    assert "warm start's noisy class counts" in report["fake_samples"]["note"]
    assert min(expected[:2]) > 3 * max(expected[2:])          # 150 against 25 records, noise std 3 sqrt(2)
    from dpcgan.report.statement import label_prior_sentence

    config = json.loads((tmp_path / "counts" / "config.json").read_text())
    said = label_prior_sentence(config, report, [str(k) for k in range(10)])
    assert "warm start's noisy counts" in said and f"0 {100 * expected[0]:.1f} %" in said
    train(cfg.replace(label_prior="uniform"), unbalanced, tmp_path / "uniform", progress=False)
    uniform = json.loads((tmp_path / "uniform" / "privacy.json").read_text())
    assert report["events"] == uniform["events"] and report["epsilon"] == uniform["epsilon"]
    # resumed after its first checkpoint: the prior comes back from the checkpoint, the release is not redrawn
    train_interrupted(cfg, unbalanced, tmp_path / "resumed", monkeypatch, 4)
    train(cfg, unbalanced, tmp_path / "resumed", progress=False, resume=True)
    assert_same_run(tmp_path / "counts", tmp_path / "resumed", log_every=3, steps=6)
    assert torch.load(tmp_path / "resumed" / "generator.pt", weights_only=True)["label_prior"] == expected
    with pytest.raises(ConfigError, match="warm-start-counts"):
        resolve_plan(cfg.replace(mode="off"), 2000, 10)
    # inert without the warm start, like its anchors (`--set warm_start_noise=0` over auto): the uniform prior
    assert cfg.replace(warm_start_noise=0.0).label_prior == "uniform"
