"""Privacy properties of the D step and the loop: sensitivity, independence of the fake half, the budget."""

import dataclasses
import json

import numpy as np

import pytest
import torch
from torch import nn

from dpcgan.config import preset, resolve_plan
from dpcgan.errors import ConfigError
from dpcgan.models import FCDiscriminator, FCGenerator, ModelSpec, build_models, check_private_discriminator
from dpcgan.models.conv import ConvProjectionDiscriminator
from dpcgan.privacy import accountant
from dpcgan.privacy import pld as dpcgan_pld
from dpcgan.privacy.accountant import PrivacyLedger
from dpcgan.train import DStepSettings, d_gradient_sum, discriminator_step, train
from dpcgan.train import loop as loop_module
from dpcgan.train.losses import d_row_losses
from dpcgan.train.steps import mismatched_labels


def flat(grads: dict) -> torch.Tensor:
    return torch.cat([g.flatten() for g in grads.values()])


@pytest.mark.parametrize("mode", ["split", "joint"])
def test_removing_one_record_moves_the_pre_noise_sum_by_at_most_C(mode):
    torch.manual_seed(0)
    D = FCDiscriminator((1, 28, 28), 10).double()
    G = FCGenerator((1, 28, 28), 10).double()
    C = 0.05  # small, so every unit is clipped and the bound is tight
    m = 20
    real_x = torch.rand(m, 1, 28, 28, dtype=torch.float64)
    real_y = torch.randint(0, 10, (m,))
    with torch.no_grad():
        fake_y = torch.randint(0, 10, (m,))
        fake_x = G(G.sample_latent(m).double(), fake_y)
    full, _, _ = d_gradient_sum(D, real_x, real_y, fake_x, fake_y, mode=mode, max_grad_norm=C)
    diffs = []
    for i in range(m):
        keep = torch.arange(m) != i
        # split: the fake half is fixed; joint: record i leaves together with its own fake sample
        fx, fy = (fake_x, fake_y) if mode == "split" else (fake_x[keep], fake_y[keep])
        without, _, _ = d_gradient_sum(D, real_x[keep], real_y[keep], fx, fy, mode=mode, max_grad_norm=C)
        diffs.append(float((flat(full) - flat(without)).norm()))
    assert max(diffs) <= C * (1 + 1e-9)
    assert max(diffs) >= 0.99 * C  # clipping was active: the bound is attained, the test is not vacuous


@pytest.mark.parametrize("one_pass", [True, False])
def test_a_records_mismatched_label_row_shares_its_clipping_unit(one_pass):
    """d_mismatch: record i's (x_i, y_i) row and its (x_i, y'_i) row are clipped together. The clipped sum equals an
    explicit per-unit reference, and removing one record moves it by at most C (attained: clipping was active).
    Both paths: the conv D scores both labels from one pass (one_pass), any other D runs the image twice."""
    torch.manual_seed(0)
    D = ConvProjectionDiscriminator((1, 28, 28), 10, width=8).double()
    if not one_pass:
        D.scores_label_sets = False   # the instance attribute hides the class's: the two-row-unit path
    m, f, C, w = 6, 5, 0.05, 0.7
    real_x, real_y = torch.rand(m, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (m,))
    fake_x, fake_y = torch.rand(f, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (f,))
    wrong_y = mismatched_labels(real_y, 10, torch.Generator().manual_seed(1))
    assert (wrong_y != real_y).all()
    full, _, stats = d_gradient_sum(D, real_x, real_y, fake_x, fake_y, mode="split", max_grad_norm=C, mismatch=w,
                                    mismatch_y=wrong_y)
    assert int(stats["units"]) == m + f
    params = [p for p in D.parameters() if p.requires_grad]
    reference = [torch.zeros_like(p) for p in params]

    def add_clipped(loss):
        g = torch.autograd.grad(loss, params)
        scale = min(1.0, C / float(torch.sqrt(sum((x ** 2).sum() for x in g))))
        for r, x in zip(reference, g):
            r += scale * x

    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for i in range(m):
        add_clipped(d_row_losses(D(real_x[i:i + 1], real_y[i:i + 1]), one).sum()
                    + w * d_row_losses(D(real_x[i:i + 1], wrong_y[i:i + 1]), zero).sum())
    for j in range(f):
        add_clipped(d_row_losses(D(fake_x[j:j + 1], fake_y[j:j + 1]), zero).sum())
    assert torch.allclose(flat(full), torch.cat([r.flatten() for r in reference]), rtol=1e-6, atol=1e-9)
    diffs = []
    for i in range(m):
        keep = torch.arange(m) != i
        without, _, _ = d_gradient_sum(D, real_x[keep], real_y[keep], fake_x, fake_y, mode="split", max_grad_norm=C,
                                       mismatch=w, mismatch_y=wrong_y[keep])
        diffs.append(float((flat(full) - flat(without)).norm()))
    assert C * 0.99 <= max(diffs) <= C * (1 + 1e-9)
    with pytest.raises(ValueError, match="split"):
        d_gradient_sum(D, real_x, real_y, real_x, real_y, mode="joint", max_grad_norm=C, mismatch=w,
                       mismatch_y=wrong_y)
    # without privacy (mode off): the plain gradient of the same loss
    plain, rows, _ = d_gradient_sum(D, real_x, real_y, fake_x, fake_y, mode="off", max_grad_norm=C, mismatch=w,
                                    mismatch_y=wrong_y)
    total = sum(d_row_losses(D(real_x[i:i + 1], real_y[i:i + 1]), one).sum()
                + w * d_row_losses(D(real_x[i:i + 1], wrong_y[i:i + 1]), zero).sum() for i in range(m)) \
        + sum(d_row_losses(D(fake_x[j:j + 1], fake_y[j:j + 1]), zero).sum() for j in range(f))
    assert torch.allclose(flat(plain), torch.cat([g.flatten() for g in torch.autograd.grad(total, params)]),
                          rtol=1e-6, atol=1e-9)
    # the reported losses: the matched real rows, then the fakes
    expected = d_row_losses(D(torch.cat([real_x, fake_x]), torch.cat([real_y, fake_y])),
                            torch.cat([torch.ones(m), torch.zeros(f)]).double())
    assert torch.allclose(rows, expected)


class RecordingGenerator(nn.Module):
    """Wraps G and records every (z, y) it is asked to generate from."""

    def __init__(self, G):
        super().__init__()
        self.G, self.calls = G, []
        self.latent_dim, self.num_classes, self.image_shape = G.latent_dim, G.num_classes, G.image_shape

    def sample_latent(self, n, generator=None):
        return self.G.sample_latent(n, generator)

    def forward(self, z, y):
        self.calls.append((z.detach().clone(), y.clone()))
        return self.G(z, y)


def run_recorded(data, steps=6, mode="split", mismatch=0.0, n_for_rate=None):
    cfg = preset("paper").replace(batch_size=50, steps=steps, target_epsilon=None, seed=7, mode=mode)
    plan = resolve_plan(cfg, len(data), data.num_classes)
    from dpcgan.rng import make_generators
    from dpcgan.data import PoissonSampler

    gens = make_generators(cfg.seed)
    torch.manual_seed(0)
    G, D = build_models(ModelSpec("paper-fc", (1, 28, 28), 10))
    rec = RecordingGenerator(G)
    d_opt, g_opt = torch.optim.SGD(D.parameters(), lr=0.1), torch.optim.Adam(G.parameters(), lr=1e-3)
    sampler = PoissonSampler(data, plan.sample_rate, gens.sampling)
    prior = torch.tensor(plan.label_prior)
    settings = DStepSettings(mode, cfg.batch_size, cfg.max_grad_norm, plan.noise_multiplier, mismatch=mismatch)
    from dpcgan.train.steps import generator_step

    for _ in range(steps):
        x, y = sampler.sample()
        discriminator_step(D, d_opt, rec, x, y, settings=settings, prior=prior, latent_gen=gens.latent,
                           noise_gen=gens.noise)
        generator_step(rec, g_opt, D, batch_size=cfg.batch_size, prior=prior, latent_gen=gens.latent)
    return rec.calls


def test_fake_half_and_generator_inputs_do_not_depend_on_private_data(mnist_small):
    data = mnist_small
    relabeled = data.subset(torch.arange(len(data)))
    relabeled = type(data)(255 - data.x, (data.y + 3) % 10, 10, "relabeled")  # every label and pixel changed
    a, b = run_recorded(data), run_recorded(relabeled)
    assert len(a) == len(b) == 12
    for (za, ya), (zb, yb) in zip(a, b):
        assert torch.equal(za, zb) and torch.equal(ya, yb)
        assert len(ya) == 50  # the public fake count B, whatever the Poisson batch size was


def test_mismatched_labels_do_not_move_the_public_latent_stream(mnist_small):
    """d_mismatch draws one wrong label per real record, a private count, from a per-step subgenerator: G's inputs
    are the same whatever the records and however many were sampled (here 40 fewer records, so other batches)."""
    fewer = mnist_small.subset(torch.arange(len(mnist_small) - 40))
    a, b = run_recorded(mnist_small, mismatch=1.0), run_recorded(fewer, mismatch=1.0)
    assert len(a) == len(b) == 12
    for (za, ya), (zb, yb) in zip(a, b):
        assert torch.equal(za, zb) and torch.equal(ya, yb)


def test_empty_poisson_batch_still_takes_a_noisy_step():
    torch.manual_seed(0)
    G, D = FCGenerator((1, 28, 28), 10), FCDiscriminator((1, 28, 28), 10)
    for mode in ("split", "joint"):
        before = [p.detach().clone() for p in D.parameters()]
        opt = torch.optim.SGD(D.parameters(), lr=0.1)
        stats = discriminator_step(D, opt, G, torch.empty(0, 1, 28, 28), torch.empty(0, dtype=torch.long),
                                   settings=DStepSettings(mode, 50, 1.0, 1.0), prior=torch.full((10,), 0.1),
                                   latent_gen=torch.Generator().manual_seed(0), noise_gen=torch.Generator().manual_seed(1))
        assert stats["real_batch_size"] == 0
        assert all(not torch.equal(b, p) for b, p in zip(before, D.parameters()))


def test_budget_is_met_and_the_next_step_would_exceed_it(mnist_small):
    cfg = preset("paper").replace(batch_size=100, noise_multiplier=2.0, target_epsilon=0.8, conversion="opacus",
                                  seed=0, log_every=10)
    result = train(cfg, mnist_small, None, progress=False)
    q = 100 / len(mnist_small)
    assert result.steps == accountant.max_steps(q, 2.0, 1e-5, 0.8, "opacus") > 0
    assert result.ledger.epsilon(1e-5, "opacus") <= 0.8
    assert result.ledger.epsilon_after_next_step(sample_rate=q, noise_multiplier=2.0, delta=1e-5,
                                                 conversion="opacus") > 0.8


def test_loop_refuses_to_cross_the_budget_even_if_the_plan_says_so(mnist_small, monkeypatch):
    real_resolve = loop_module.resolve_plan

    def overlong_plan(cfg, n, k, **releases):
        plan = real_resolve(cfg, n, k, **releases)
        return dataclasses.replace(plan, steps=plan.steps + 25)

    monkeypatch.setattr(loop_module, "resolve_plan", overlong_plan)
    cfg = preset("paper").replace(batch_size=100, noise_multiplier=2.0, target_epsilon=0.8, conversion="classic", seed=0)
    result = train(cfg, mnist_small, None, progress=False)
    assert result.steps == accountant.max_steps(100 / len(mnist_small), 2.0, 1e-5, 0.8, "classic")
    assert result.ledger.epsilon(1e-5, "classic") <= 0.8


def test_privacy_report_epsilon_recomputes_from_its_events(mnist_small, tmp_path):
    cfg = preset("paper").replace(batch_size=100, steps=30, target_epsilon=None, seed=0)
    train(cfg, mnist_small, tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "privacy.json").read_text())
    ledger = PrivacyLedger.from_events(report["events"])
    assert ledger.steps == report["d_steps"] == 30
    assert report["sample_rate"] == pytest.approx(100 / len(mnist_small))
    for conv, eps in report["epsilon_by_conversion"].items():
        assert ledger.epsilon(report["delta"], conv) == pytest.approx(eps, rel=1e-12)
        if conv == "pld":
            assert dpcgan_pld.plan_epsilon(report["sample_rate"], report["noise_multiplier"], 30, report["delta"]) == \
                pytest.approx(eps, rel=1e-9) and eps == pytest.approx(report["epsilon_pld"], rel=1e-12)
            continue
        assert accountant.epsilon(report["sample_rate"], report["noise_multiplier"], 30, report["delta"], conv) == pytest.approx(eps, rel=1e-9)
    assert report["epsilon"] == report["epsilon_by_conversion"][report["headline_conversion"]]
    assert report["release"] == "not for release"  # seeded
    # Independently, with Google's dp-accounting, from nothing but the report's recorded events:
    from dp_accounting import dp_event
    from dp_accounting.pld import pld_privacy_accountant
    from dp_accounting.rdp import rdp_privacy_accountant

    events = [dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(e["sample_rate"],
              dp_event.GaussianDpEvent(e["noise_multiplier"])), e["count"]) for e in report["events"]]
    integer_orders = [a for a in report["rdp_orders"] if float(a).is_integer()]
    rdp = rdp_privacy_accountant.RdpAccountant(integer_orders)
    pld = pld_privacy_accountant.PLDAccountant()
    for e in events:
        rdp.compose(e)
        pld.compose(e)
    np.testing.assert_allclose(ledger.rdp()[[float(a).is_integer() for a in report["rdp_orders"]]], rdp._rdp, rtol=1e-6)
    assert pld.get_epsilon(report["delta"]) <= report["epsilon_by_conversion"]["opacus"]
    assert report["epsilon_pld"] == pytest.approx(pld.get_epsilon(report["delta"]), rel=0.02)


class BatchNormD(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(794, 32)
        self.bn = nn.BatchNorm1d(32)
        self.out = nn.Linear(32, 1)


class CustomParamD(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))


@pytest.mark.parametrize("model,match", [
    (BatchNormD(), "statistics of the whole batch"),
    (nn.Sequential(nn.Linear(4, 4), nn.LazyBatchNorm1d()), "statistics of the whole batch"),
    (nn.Sequential(nn.InstanceNorm2d(3, track_running_stats=True)), "running statistics"),
    (CustomParamD(), "no exact per-example gradient norm"),
])
def test_discriminators_that_clipping_cannot_protect_are_refused(model, match):
    with pytest.raises(ConfigError, match=match):
        check_private_discriminator(model)


def test_paper_model_is_accepted_and_sized_as_in_the_paper():
    G, D = build_models(ModelSpec("paper-fc", (1, 28, 28), 10))
    assert [tuple(p.shape) for p in D.parameters()] == [(128, 794), (128,), (1, 128), (1,)]
    assert [tuple(p.shape) for p in G.parameters()] == [(128, 110), (128,), (784, 128), (784,)]
    out = G(G.sample_latent(5), torch.arange(5))
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1


def test_poisson_sampler_batch_sizes(mnist_small):
    from dpcgan.data import PoissonSampler

    sampler = PoissonSampler(mnist_small, 0.05, torch.Generator().manual_seed(0))
    sizes = torch.tensor([len(sampler.sample_indices()) for _ in range(400)], dtype=torch.float)
    n, q = len(mnist_small), 0.05
    assert abs(sizes.mean() - n * q) < 4 * (n * q * (1 - q) / 400) ** 0.5
    assert abs(sizes.var() - n * q * (1 - q)) < 0.3 * n * q * (1 - q)  # Binomial variance: it really is Poisson
