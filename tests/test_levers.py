"""The training levers of the SOTA presets: each changes only what it says, and each is accounted exactly.

n_D D steps per G step, Adam for D, EMA of G, warm-up, and the DP label histogram (the one lever with a privacy
cost: its Gaussian-mechanism RDP must be composed into every epsilon the tool computes or prints).
"""

import json
import math

import numpy as np
import pytest
import torch

from dpcgan.config import PRESETS, preset, resolve_plan
from dpcgan.errors import ConfigError
from dpcgan.privacy import accountant
from dpcgan.privacy.label_histogram import noisy_label_prior
from dpcgan.privacy.noise import SeededNoise
from dpcgan.privacy.report import lever_notes
from dpcgan.train import loop as loop_module
from dpcgan.train import train

from conftest import assert_same_run, train_interrupted

dp_event = pytest.importorskip("dp_accounting.dp_event")
rdp_accountant = pytest.importorskip("dp_accounting.rdp.rdp_privacy_accountant")


def tiny(**changes):
    """A few-second private conv run on 2,000 records."""
    base = dict(dataset="mnist", arch="conv", hidden=8, d_hidden=8, latent_dim=16, batch_size=64,
                noise_multiplier=1.0, target_epsilon=None, steps=6, seed=0, log_every=1, checkpoint_every=0,
                d_optimizer="adam", d_lr=1e-3, d_lr_final=1e-3)
    return preset("paper").replace(**(base | changes))


def independent_epsilon(events: list[dict], delta: float) -> float:
    """dp-accounting's RDP accountant on the same events (integer orders: its fractional orders over-estimate)."""
    acc = rdp_accountant.RdpAccountant(orders=list(range(2, 64)))
    for e in events:
        inner = dp_event.GaussianDpEvent(e["noise_multiplier"])
        event = inner if e["sample_rate"] == 1.0 else dp_event.PoissonSampledDpEvent(e["sample_rate"], inner)
        acc.compose(dp_event.SelfComposedDpEvent(event, e["count"]))
    return acc.get_epsilon(delta)


def test_gaussian_rdp_is_the_unsampled_gaussian_mechanism():
    # Opacus' sampled-Gaussian analysis at q = 1 is the plain Gaussian mechanism: alpha / (2 sigma^2)
    np.testing.assert_allclose(accountant.gaussian_rdp(30.0), accountant.rdp_curve(1.0, 30.0, 1), rtol=1e-12)
    np.testing.assert_allclose(accountant.gaussian_rdp(2.0)[:3], np.array([1.1, 1.2, 1.3]) / 8.0, rtol=1e-12)


def test_histogram_cost_is_in_the_plan_and_sigma_is_calibrated_around_it():
    cfg = preset("paper").replace(noise_multiplier=None, steps=500, target_epsilon=2.0, conversion="classic")
    plain = resolve_plan(cfg, 60000, 10)
    with_hist = resolve_plan(cfg.replace(label_prior="dp-histogram", label_histogram_noise=5.0), 60000, 10)
    assert with_hist.noise_multiplier > plain.noise_multiplier  # the histogram's share leaves less for D
    assert with_hist.planned_epsilon <= 2.0
    # the planned epsilon is the composition of both mechanisms, not the D steps alone
    composed = accountant.gaussian_rdp(5.0) + accountant.rdp_curve(with_hist.sample_rate, with_hist.noise_multiplier, 500)
    assert with_hist.planned_epsilon == pytest.approx(accountant.epsilon_from_rdp(composed, 1e-5, "classic")[0])
    d_alone = accountant.epsilon(with_hist.sample_rate, with_hist.noise_multiplier, 500, 1e-5, "classic")
    assert with_hist.planned_epsilon > d_alone + 0.01
    with pytest.raises(Exception, match="already spend"):  # the histogram alone over budget
        resolve_plan(cfg.replace(label_prior="dp-histogram", label_histogram_noise=0.3), 60000, 10)


def test_noisy_label_prior_is_the_gaussian_mechanism_on_counts():
    labels = torch.tensor([0] * 600 + [1] * 300 + [2] * 100)
    draws = np.array([noisy_label_prior(labels, 3, 20.0, SeededNoise(torch.Generator().manual_seed(s)))
                      for s in range(400)]) * 1000  # back to (approximate) counts: the total is ~1000
    assert draws.mean(0) == pytest.approx([600, 300, 100], abs=6)
    assert draws[:, 2].std() == pytest.approx(20.0, rel=0.2)  # noise std s per count (up to normalisation)
    # counts that the noise drives below 0 are clamped, never negative probabilities
    prior = noisy_label_prior(torch.tensor([0] * 5 + [1]), 2, 1e6, SeededNoise(torch.Generator().manual_seed(0)))
    assert min(prior) >= 0 and sum(prior) == pytest.approx(1.0)


def test_dp_histogram_run_reports_the_composed_epsilon(mnist_small, tmp_path):
    cfg = tiny(label_prior="dp-histogram", label_histogram_noise=50.0)
    result = train(cfg, mnist_small, tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "privacy.json").read_text())
    hist = [e for e in report["events"] if e["sample_rate"] == 1.0]
    assert hist == [{"sample_rate": 1.0, "noise_multiplier": 50.0, "count": 1, "release": "label-histogram",
                     "coordinates": 1}]
    # the PLD cross-check sees the histogram as the discrete Gaussian it is (privacy/pld.py)
    from dpcgan.privacy.accountant import PrivacyLedger
    from dpcgan.privacy.pld import ledger_epsilon
    assert report["epsilon_pld"] == pytest.approx(ledger_epsilon(PrivacyLedger.from_events(report["events"]), 1e-5))
    assert report["d_steps"] == 6 == result.ledger.d_steps
    # the headline composes D steps and histogram: recomputed here from the events by dp-accounting
    assert report["epsilon_by_conversion"]["classic"] >= independent_epsilon(report["events"], 1e-5) - 1e-6
    assert report["epsilon_by_conversion"]["classic"] == pytest.approx(
        accountant.epsilon(64 / 2000, 1.0, 6, 1e-5, "classic", base_rdp=accountant.gaussian_rdp(50.0)), rel=1e-9)
    without = accountant.epsilon(64 / 2000, 1.0, 6, 1e-5, "classic")
    assert report["epsilon"] > without
    # the prior the fakes used is the noisy one, released with G and in the report; not the exact counts
    prior = torch.load(tmp_path / "run" / "generator.pt", weights_only=True)["label_prior"]
    assert prior == report["fake_samples"]["label_prior"]
    exact = (torch.bincount(mnist_small.y, minlength=10).double() / len(mnist_small)).tolist()
    assert sum(prior) == pytest.approx(1.0) and prior != pytest.approx(exact, abs=1e-6)
    assert report["label_histogram"]["noise_multiplier"] == 50.0


def test_budget_guard_counts_the_histogram(mnist_small):
    # a target the D steps alone would meet for all 6 steps, but not together with the histogram
    q, delta = 64 / 2000, 1e-5
    hist = accountant.gaussian_rdp(3.0)
    step = accountant.rdp_curve(q, 1.0, 1)
    eps = [accountant.epsilon_from_rdp(hist + k * step, delta, "classic")[0] for k in range(7)]
    target = (eps[3] + eps[4]) / 2  # histogram + 3 steps fits, a 4th would cross
    assert accountant.epsilon(q, 1.0, 6, delta, "classic") < target
    cfg = tiny(label_prior="dp-histogram", label_histogram_noise=3.0, steps=None, target_epsilon=target,
               conversion="classic")
    result = train(cfg, mnist_small, progress=False)
    assert result.ledger.d_steps == 3 and result.epsilon <= target


def test_n_d_steps_per_g_step_and_every_d_step_is_accounted(mnist_small, monkeypatch):
    g_calls = []
    real = loop_module.generator_step
    monkeypatch.setattr(loop_module, "generator_step", lambda *a, **k: g_calls.append(1) or real(*a, **k))
    result = train(tiny(steps=7, d_steps_per_g=3), mnist_small, progress=False)
    assert result.ledger.d_steps == 7 and len(g_calls) == 2  # G after D steps 3 and 6
    g_calls.clear()
    result = train(tiny(steps=7, d_steps_per_g=3, g_steps_per_round=3), mnist_small, progress=False)
    assert result.ledger.d_steps == 7 and len(g_calls) == 6  # 3 G steps after D steps 3 and 6; same ledger
    assert result.epsilon == pytest.approx(accountant.epsilon(64 / 2000, 1.0, 7, 1e-5, "classic"))


def test_ema_generator_is_released_and_is_the_average(mnist_small, tmp_path):
    avg = torch.nn.Linear(3, 2)
    cur = torch.nn.Linear(3, 2)
    expected = 0.9 * avg.weight.detach() + 0.1 * cur.weight.detach()
    loop_module.ema_update_(avg, cur, 0.9)
    torch.testing.assert_close(avg.weight.detach(), expected)

    plain = train(tiny(), mnist_small, progress=False).generator
    ema = train(tiny(g_ema=0.5), mnist_small, tmp_path / "ema", progress=False).generator
    released = torch.load(tmp_path / "ema" / "generator.pt", weights_only=True)["state_dict"]
    for k, v in ema.state_dict().items():
        torch.testing.assert_close(released[k], v)
    # the same run without EMA ends at different weights (the average lags): the released G is the average
    assert any(not torch.equal(v, plain.state_dict()[k]) for k, v in ema.state_dict().items() if v.is_floating_point())


def test_warmup_and_adam_change_learning_only():
    cfg = preset("paper").replace(warmup_steps=4, d_lr=0.4, d_lr_final=0.4)
    assert [loop_module.d_learning_rate(cfg, s) for s in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    assert loop_module.warmup_factor(cfg.replace(warmup_steps=0), 0) == 1.0
    D = torch.nn.Linear(2, 1)
    assert isinstance(loop_module.d_optimizer(cfg.replace(d_optimizer="adam"), D), torch.optim.Adam)
    assert isinstance(loop_module.d_optimizer(cfg, D), torch.optim.SGD)
    # the privacy plan does not depend on the optimiser or the schedule
    a = resolve_plan(cfg.replace(d_optimizer="adam", warmup_steps=100, d_steps_per_g=5), 60000, 10)
    b = resolve_plan(cfg, 60000, 10)
    assert (a.noise_multiplier, a.steps, a.planned_epsilon) == (b.noise_multiplier, b.steps, b.planned_epsilon)


@pytest.mark.parametrize("bad, message", [
    (dict(d_optimizer="rmsprop"), "d_optimizer"), (dict(d_steps_per_g=0), "d-steps-per-g"),
    (dict(g_ema=1.0), "g_ema"), (dict(warmup_steps=-1), "warmup"),
    (dict(label_prior="dp-histogram", label_histogram_noise=0.0), "label-histogram-noise"),
    (dict(label_prior="dp-histogram", mode="off", steps=10), "dp-histogram")])
def test_bad_lever_settings_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        resolve_plan(preset("paper").replace(**bad), 60000, 10)


def test_resume_with_levers_equals_the_uninterrupted_run(mnist_small, tmp_path, monkeypatch):
    cfg = tiny(steps=8, d_steps_per_g=2, g_ema=0.5, warmup_steps=3, label_prior="dp-histogram",
               label_histogram_noise=40.0, checkpoint_every=4, log_every=2)
    train(cfg, mnist_small, tmp_path / "ref", progress=False)
    train_interrupted(cfg, mnist_small, tmp_path / "resumed", monkeypatch, 6)
    train(cfg, mnist_small, tmp_path / "resumed", progress=False, resume=True)
    assert_same_run(tmp_path / "ref", tmp_path / "resumed", log_every=2, steps=8)
    ref = json.loads((tmp_path / "ref" / "privacy.json").read_text())
    assert sum(e["sample_rate"] == 1.0 for e in ref["events"]) == 1  # the histogram drawn (and counted) once


@pytest.mark.parametrize("name", ["mnist-eps10", "mnist-eps1", "fashion-mnist-eps10", "fashion-mnist-eps1"])
def test_sota_presets_plan_within_their_budget(name):
    cfg = PRESETS[name]
    plan = resolve_plan(cfg, 60000, 10)
    assert plan.planned_epsilon <= cfg.target_epsilon
    assert math.isclose(plan.sample_rate, cfg.batch_size / 60000)
    assert cfg.arch == "conv" and cfg.mode == "split"


# --- utility levers (issue #11) ------------------------------------------------------------------------------

from dpcgan.evaluate.metrics import precision_recall  # noqa: E402
from dpcgan.privacy.clipping import LayerTape, clipped_grad_sum  # noqa: E402
from dpcgan.train import steps as steps_module  # noqa: E402
from dpcgan.train.losses import d_row_losses, g_loss_sum, mode_seeking_term  # noqa: E402
from dpcgan.train.schedule import DStepScheduler, ema_decay, recalibrate_batchnorm_  # noqa: E402


def test_fake_reuse_draws_one_fake_batch_per_g_step_and_accounts_every_d_step(mnist_small, monkeypatch):
    calls = []
    real = loop_module.public_fake_batch
    monkeypatch.setattr(loop_module, "public_fake_batch", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    fresh = []
    real_step = steps_module.public_fake_batch
    monkeypatch.setattr(steps_module, "public_fake_batch", lambda *a, **k: fresh.append(1) or real_step(*a, **k))
    result = train(tiny(steps=9, d_steps_per_g=3, fake_reuse=True), mnist_small, progress=False)
    assert calls == [64, 64, 64] and not fresh  # one batch of B fakes per G step, none per D step
    assert result.ledger.d_steps == 9
    assert result.epsilon == pytest.approx(accountant.epsilon(64 / 2000, 1.0, 9, 1e-5, "classic"))
    with pytest.raises(ConfigError, match="fake_reuse"):
        resolve_plan(tiny(fake_reuse=True, mode="joint"), 60000, 10)


def test_g_batch_size_sets_g_fakes_only_and_keeps_the_d_fake_count_and_ledger(mnist_small, monkeypatch):
    d_fakes, g_fakes = [], []
    real = loop_module.public_fake_batch
    monkeypatch.setattr(loop_module, "public_fake_batch", lambda *a, **k: d_fakes.append(a[1]) or real(*a, **k))
    real_g = loop_module.generator_step
    monkeypatch.setattr(loop_module, "generator_step",
                        lambda *a, **k: g_fakes.append(k["batch_size"]) or real_g(*a, **k))
    cfg = tiny(steps=6, fake_reuse=True, g_steps_per_round=2, g_batch_size=16)
    result = train(cfg, mnist_small, progress=False)
    assert d_fakes == [64] * 6 and g_fakes == [16] * 12  # D: the public B per step; G: its own count
    base = train(tiny(steps=6, fake_reuse=True, g_steps_per_round=2), mnist_small, progress=False)
    assert result.ledger.d_steps == base.ledger.d_steps == 6
    assert result.epsilon == base.epsilon == pytest.approx(accountant.epsilon(64 / 2000, 1.0, 6, 1e-5, "classic"))
    assert "B = 64" in lever_notes(cfg)["g_batch_size"] and "g_batch_size" not in lever_notes(tiny())
    with pytest.raises(ConfigError, match="g_batch_size"):
        resolve_plan(tiny(g_batch_size=0), 60000, 10)


def test_hinge_losses_per_row():
    logits = torch.tensor([2.0, 0.5, -0.5, -2.0])
    targets = torch.tensor([1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(d_row_losses(logits, targets, "hinge"), torch.tensor([0.0, 0.5, 0.5, 0.0]))
    torch.testing.assert_close(d_row_losses(logits, targets, "bce"),
                               torch.nn.functional.softplus(-logits * (2 * targets - 1)))
    assert float(g_loss_sum(torch.tensor([1.0, -3.0]), "hinge")) == pytest.approx(2.0)
    assert float(g_loss_sum(torch.tensor([0.0]), "bce")) == pytest.approx(math.log(2))


def test_hinge_run_keeps_the_privacy_plan(mnist_small):
    a = train(tiny(loss="hinge"), mnist_small, progress=False)
    b = train(tiny(), mnist_small, progress=False)
    assert a.epsilon == pytest.approx(b.epsilon) and a.ledger.d_steps == b.ledger.d_steps == 6
    assert any(not torch.equal(v, b.discriminator.state_dict()[k]) for k, v in a.discriminator.state_dict().items())


def _per_row_grads(D, x, y, targets):
    from torch.func import functional_call, grad, vmap
    params = {k: v.detach() for k, v in D.named_parameters()}

    def row_loss(p, xi, yi, ti):
        return d_row_losses(functional_call(D, p, (xi[None], yi[None])), ti[None], "hinge").sum()

    per_row = vmap(grad(row_loss), in_dims=(None, 0, 0, 0))(params, x, y, targets)
    return params, torch.cat([g.reshape(len(x), -1) for g in per_row.values()], dim=1)


def test_per_example_normalisation_matches_the_explicit_reference_and_is_bounded_by_c():
    from dpcgan.models import ConvProjectionDiscriminator
    torch.manual_seed(0)
    D = ConvProjectionDiscriminator((1, 28, 28), 10, width=4, groups=2)
    x, y = torch.rand(12, 1, 28, 28), torch.randint(0, 10, (12,))
    targets = torch.tensor([1.0] * 6 + [0.0] * 6)
    C, gamma = 0.05, 0.01
    params, flat = _per_row_grads(D, x, y, targets)
    norms = flat.norm(dim=1)
    expected = (flat * (C / (norms + gamma))[:, None]).sum(0)
    with LayerTape(D) as tape:
        logits = D(x, y)
    res = clipped_grad_sum(tape, d_row_losses(logits, targets, "hinge"), max_norm=C, normalize_gamma=gamma)
    got = torch.cat([res.grads[p].reshape(-1) for p in D.parameters()])
    torch.testing.assert_close(res.norms, norms, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)
    # each unit's contribution: norm C ||g|| / (||g|| + gamma) < C (the sensitivity); rows with zero hinge loss add 0
    scaled = (flat * (C / (norms + gamma))[:, None]).norm(dim=1)
    assert (scaled < C).all()
    assert (d_row_losses(logits, targets, "hinge") > 0).any()


def test_normalize_run_reports_the_same_epsilon_and_says_what_it_does(mnist_small, tmp_path):
    result = train(tiny(clipping="normalize", normalize_gamma=0.01, max_grad_norm=0.1), mnist_small, tmp_path / "r",
                   progress=False)
    report = json.loads((tmp_path / "r" / "privacy.json").read_text())
    assert result.epsilon == pytest.approx(accountant.epsilon(64 / 2000, 1.0, 6, 1e-5, "classic"))
    assert "normalize" in report["levers"]["clipping"] and report["noise_std"] == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="normalize_gamma"):
        resolve_plan(tiny(clipping="normalize", normalize_gamma=0.0), 60000, 10)


def test_ema_warmup_decay_and_batchnorm_recalibration():
    assert [ema_decay(0.999, t, True) for t in (0, 1, 8)] == pytest.approx([0.1, 2 / 11, 0.5])
    assert ema_decay(0.999, 10**6, True) == pytest.approx(0.999) and ema_decay(0.9, 0, False) == 0.9
    G = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    torch.manual_seed(0)
    batches = [torch.randn(50, 3) * 3 + 1 for _ in range(4)]
    it = iter(batches)
    assert recalibrate_batchnorm_(G, lambda: (next(it),), 4)
    with torch.no_grad():
        h = [G[0](b) for b in batches]
    # the running statistics are the average of the passes' batch statistics (not an exponential trace)
    torch.testing.assert_close(G[1].running_mean, torch.stack([b.mean(0) for b in h]).mean(0))
    torch.testing.assert_close(G[1].running_var, torch.stack([b.var(0) for b in h]).mean(0))
    assert G[1].momentum == 0.1 and not recalibrate_batchnorm_(torch.nn.Linear(2, 2), lambda: (torch.ones(1, 2),), 1)


def test_released_ema_generator_has_recalibrated_statistics(mnist_small, tmp_path):
    cfg = tiny(g_ema=0.9, g_ema_warmup=True, bn_recalibrate=3, steps=4)
    G = train(cfg, mnist_small, tmp_path / "r", progress=False).generator
    raw = train(cfg.replace(bn_recalibrate=0), mnist_small, progress=False).generator
    for k, v in G.state_dict().items():
        if "running_mean" in k:
            assert not torch.allclose(v, raw.state_dict()[k])  # not the last raw G's statistics
        elif "num_batches" not in k and "running" not in k:
            torch.testing.assert_close(v, raw.state_dict()[k])  # the same averaged weights
    assert "bn_recalibrate" in json.loads((tmp_path / "r" / "privacy.json").read_text())["levers"]


def test_adaptive_scheduler_raises_n_d_after_grace_when_d_is_fooled():
    s = DStepScheduler(start=2, threshold=0.6, grace=3, beta=0.0)
    assert [s.update(a) for a in (0.5, 0.5, 0.5)] == [2, 2, 5]  # grace 3 G steps, then fooled -> next rate
    assert [s.update(a) for a in (0.9, 0.9, 0.9, 0.9)] == [5, 5, 5, 5]  # D wins: stay
    s2 = DStepScheduler(start=5, threshold=0.6, grace=1)
    s2.load_state_dict(s.state_dict())
    assert s2.state_dict() == s.state_dict()


def test_adaptive_run_counts_every_d_step(mnist_small, tmp_path, monkeypatch):
    from dpcgan.train import schedule
    monkeypatch.setattr(loop_module, "fake_accuracy", lambda *a: 0.0)  # D always fooled: n_D climbs
    cfg = tiny(steps=12, d_steps_per_g=1, adaptive_d_steps=True, adaptive_d_grace=2, log_every=1)
    result = train(cfg, mnist_small, tmp_path / "r", progress=False)
    rows = [json.loads(r) for r in (tmp_path / "r" / "private" / "metrics.jsonl").read_text().splitlines()]
    # n_D 1, 1 (grace) -> 2, 2 -> 5: G steps after D steps 1, 2, 4, 6, 11
    assert [r["n_d"] for r in rows][:3] == [1, 2, 2] and rows[-1]["n_d"] == 5 and rows[-1]["g_steps"] == 5
    assert result.ledger.d_steps == 12
    assert result.epsilon == pytest.approx(accountant.epsilon(64 / 2000, 1.0, 12, 1e-5, "classic"))
    assert "adaptive_d_steps" in json.loads((tmp_path / "r" / "privacy.json").read_text())["levers"]
    assert schedule.ADAPTIVE_RATES[:3] == (1, 2, 5)


def test_mode_seeking_term_penalises_collapse(mnist_small):
    z = torch.randn(8, 4)
    collapsed = torch.ones(8, 1, 2, 2)
    diverse = torch.rand(8, 1, 2, 2)
    assert float(mode_seeking_term(collapsed, z)) > 1e3 > float(mode_seeking_term(diverse, z))
    result = train(tiny(mode_seeking=1.0), mnist_small, progress=False)
    assert result.ledger.d_steps == 6


def test_generator_step_pairs_labels_for_mode_seeking(monkeypatch):
    seen = {}
    monkeypatch.setattr(steps_module, "generator_update", lambda G, o, D, z, y, **k: seen.update(y=y, k=k))
    prior = torch.full((10,), 0.1)
    G = type("G", (), {"sample_latent": lambda self, n, g: torch.randn(n, 2, generator=g)})()
    steps_module.generator_step(G, None, None, batch_size=7, prior=prior, latent_gen=torch.Generator(),
                                mode_seeking=0.5)
    y = seen["y"]
    assert len(y) == 7 and torch.equal(y[:3], y[3:6]) and seen["k"]["mode_seeking"] == 0.5


def test_precision_recall_detects_mode_collapse():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    good = rng.normal(size=(400, 8))
    collapsed = np.repeat(rng.normal(size=(4, 8)) * 0.1, 100, axis=0) + rng.normal(size=(400, 8)) * 1e-3
    pr_good, pr_bad = precision_recall(real, good, k=5), precision_recall(real, collapsed, k=5)
    assert pr_good["recall"] > 0.8 and pr_good["precision"] > 0.8
    assert pr_bad["recall"] < 0.1 and pr_bad["precision"] > 0.9  # collapsed samples are realistic but cover nothing


@pytest.mark.parametrize("bad, message", [
    (dict(loss="wgan"), "loss"), (dict(clipping="auto"), "clipping"), (dict(bn_recalibrate=-1), "bn_recalibrate"),
    (dict(mode_seeking=-1.0), "mode_seeking"), (dict(adaptive_d_steps=True, adaptive_d_threshold=1.5), "adaptive")])
def test_bad_utility_lever_settings_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        resolve_plan(preset("paper").replace(**bad), 60000, 10)


def test_cli_set_reaches_every_lever():
    import argparse

    from dpcgan.commands import train as train_cmd
    ap = argparse.ArgumentParser()
    train_cmd.add_parser(ap.add_subparsers())
    args = ap.parse_args(["train", "--preset", "mnist-eps10", "--set", "loss=hinge", "--set", "fake_reuse=true",
                          "--set", "g_ema=0.999", "--set", "d_betas=[0.0, 0.999]", "--set", "mode-seeking=0.5"])
    cfg = train_cmd.config_from_args(args)
    assert (cfg.loss, cfg.fake_reuse, cfg.g_ema, cfg.d_betas, cfg.mode_seeking) == ("hinge", True, 0.999,
                                                                                     (0.0, 0.999), 0.5)
    with pytest.raises(ConfigError, match="FIELD"):
        train_cmd.config_from_args(ap.parse_args(["train", "--set", "no_such_field=1"]))
