"""Issue #10: each gap the independent privacy review found, pinned by a test that failed before its fix.

Item numbers refer to the issue. Tests that need the CLI or a whole run live here too, so that the closing note
can point at one file.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from conftest import interrupt_at
from dpcgan.errors import ConfigError
from dpcgan.models import ModelSpec, build_models, check_private_discriminator
from dpcgan.train import DStepSettings, discriminator_step


def flat_params(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def buffers_of(module: nn.Module) -> list[torch.Tensor]:
    return [b.detach().clone() for b in module.buffers()]


# --- item 1: joint mode with a BatchNorm generator ----------------------------------------------------------

def _one_conv_d_step(mode: str, real_x, real_y, *, C: float, seed: int = 3):
    """D's pre-noise gradient sum after one discriminator_step (SGD, lr 1, sigma 0: the update is -sum / B),
    and G's buffers afterwards. Same initial models and latent stream for every call."""
    torch.manual_seed(0)
    G, D = build_models(ModelSpec("conv", (1, 28, 28), 10, latent_dim=16, hidden=8, d_hidden=8))
    G, D = G.double(), D.double()
    G.train()
    before = flat_params(D)
    opt = torch.optim.SGD(D.parameters(), lr=1.0)
    B = 16
    discriminator_step(D, opt, G, real_x, real_y, settings=DStepSettings(mode, B, C, 0.0),
                       prior=torch.full((10,), 0.1, dtype=torch.float64),
                       latent_gen=torch.Generator().manual_seed(seed), noise_gen=torch.Generator().manual_seed(1))
    return (before - flat_params(D)) * B, buffers_of(G)


@pytest.mark.parametrize("mode", ["joint", "split"])
def test_item1_adding_one_record_moves_the_pre_noise_sum_by_at_most_C_with_a_batchnorm_generator(mode):
    gen = torch.Generator().manual_seed(5)
    m = 12
    x = torch.rand(m + 1, 1, 28, 28, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (m + 1,), generator=gen)
    C = 1e-3  # far below every unit's gradient norm: each unit is clipped, so the bound is tight
    without, buffers_without = _one_conv_d_step(mode, x[:m], y[:m], C=C)
    with_, buffers_with = _one_conv_d_step(mode, x, y, C=C)
    moved = float((with_ - without).norm())
    assert moved <= C * (1 + 1e-9), f"one record moved the pre-noise sum by {moved / C:.4f} C"
    assert moved >= 0.99 * C  # the added unit was clipped to exactly C: not vacuous
    # G's normalisation statistics are not touched by D steps (whatever the private batch size)
    for a, b in zip(buffers_without, buffers_with):
        assert torch.equal(a, b)


def test_item1_d_steps_never_change_the_generators_buffers():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(9, 1, 28, 28, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (9,), generator=gen)
    torch.manual_seed(0)
    G, _ = build_models(ModelSpec("conv", (1, 28, 28), 10, latent_dim=16, hidden=8, d_hidden=8))
    initial = buffers_of(G.double())
    for mode in ("joint", "split"):
        _, after = _one_conv_d_step(mode, x, y, C=1.0)
        assert all(torch.equal(a, b) for a, b in zip(initial, after)), mode


# --- item 3: the Poisson inclusion probability never exceeds the accounted q ---------------------------------

class FixedIntegers:
    """A release-mode-like source that returns given integers (to probe the sampler's comparison)."""

    def __init__(self, values):
        self.values = torch.as_tensor(values, dtype=torch.int64)

    def integers(self, n, high):
        assert high == 2**53
        return self.values[:n]


@pytest.mark.parametrize("n,B", [(10**7, 1), (60000, 600), (60000, 512), (3, 1), (55000, 4096)])
def test_item3_inclusion_probability_is_at_most_q_and_is_what_the_accountant_gets(n, B):
    from fractions import Fraction

    from dpcgan.config import preset, resolve_plan
    from dpcgan.data import LabeledImages, PoissonSampler
    from dpcgan.data.sampler import inclusion_threshold

    q = B / n
    T = inclusion_threshold(q)
    exact = Fraction(T, 2**53)
    assert exact <= Fraction(q) and Fraction(T + 1, 2**53) > Fraction(q)  # the largest 53-bit rate <= q
    data = LabeledImages(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 0]), 2, "t")
    sampler = PoissonSampler(data, q, FixedIntegers([T - 1, T, 2**53 - 1]))
    assert sampler.sample_indices().tolist() == [0]  # k < T included; k = T (and above) excluded
    assert Fraction(sampler.sample_rate) == exact
    if n >= 10:
        plan = resolve_plan(preset("paper").replace(batch_size=B, steps=10, target_epsilon=None, delta=0.1 / n),
                            n, 10)
        assert Fraction(plan.sample_rate) == exact  # the accountant is fed the probability the sampler uses


def test_item3_float32_uniforms_would_have_overstated_q_by_19_percent():
    """The reason for the fix (n = 1e7, B = 1): the old float32 comparison included a record with probability
    ceil(q 2^24) / 2^24 = 1.19 q."""
    from dpcgan.data.sampler import poisson_sample_rate

    q = 1e-7
    old = math.ceil(np.float32(q) * 2**24) / 2**24
    assert old / q > 1.19
    assert poisson_sample_rate(q) <= q and poisson_sample_rate(q) / q > 1 - 1e-8


def test_item3_seeded_sampler_includes_records_at_rate_q():
    from dpcgan.data import LabeledImages, PoissonSampler

    n = 200_000
    data = LabeledImages(torch.zeros(n, 1, 4, 4, dtype=torch.uint8), torch.zeros(n, dtype=torch.long), 2, "t")
    sampler = PoissonSampler(data, 0.01, torch.Generator().manual_seed(0))
    sizes = torch.tensor([len(sampler.sample_indices()) for _ in range(20)], dtype=torch.float64)
    assert abs(float(sizes.mean()) - 2000) < 4 * math.sqrt(2000 * 0.99 / 20)


# --- item 5: non-finite and negative per-unit norms ------------------------------------------------------------

class TwoPositionLinear(nn.Module):
    """A Linear applied at T = 2 positions with d_in = d_out = 8: norms take the Gram path."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):  # (N, 2, 8) -> (N,)
        return self.fc(x).sum((1, 2))


def test_item5_a_unit_with_a_non_finite_norm_gets_weight_zero():
    from dpcgan.privacy import clipping
    from dpcgan.privacy.clipping import LayerTape, clipped_grad_sum

    torch.manual_seed(0)
    layer = TwoPositionLinear()
    a, g = torch.randn(1, 8, 2), torch.randn(1, 8, 2)
    assert 2 * (8 + 8) < 8 * 8 and clipping._layer_norm_sq(layer.fc, a, g, None).shape == (1,)  # Gram path
    x = torch.randn(5, 2, 8)
    x[2, 0, 3] = float("nan")    # a NaN activation: the unit's norm is NaN
    x[4, 1, 0] = float("inf")    # an infinite activation: its norm is not finite
    with LayerTape(layer) as tape:
        out = layer(x)
    clipped = clipped_grad_sum(tape, out, max_norm=0.5)
    assert not torch.isfinite(clipped.norms[[2, 4]]).any()
    ok = [0, 1, 3]
    with LayerTape(layer) as tape:
        ref_out = layer(x[ok])
    reference = clipped_grad_sum(tape, ref_out, max_norm=0.5)
    for p in layer.parameters():
        assert torch.isfinite(clipped.grads[p]).all()
        torch.testing.assert_close(clipped.grads[p], reference.grads[p])  # the bad units contribute exactly 0


class SmallConv(nn.Module):
    """A conv layer whose per-row gradients are cheaper than its Gram trick: the fused per-row path."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 1)

    def forward(self, x):  # (N, 1, 8, 8) -> (N,)
        return self.fc(torch.tanh(self.conv(x)).flatten(1)).squeeze(-1)


@pytest.mark.parametrize("units", [None, torch.tensor([[0, 5], [1, 4], [2, 3]])])
def test_item5_non_finite_units_get_weight_zero_on_the_fused_conv_path(units, monkeypatch):
    from dpcgan.privacy import clipping
    from dpcgan.privacy.clipping import LayerTape, clipped_grad_sum

    monkeypatch.setattr(clipping, "NORM_CHUNK_UNITS", 2)  # the bad unit shares a chunk with a good one
    torch.manual_seed(0)
    model = SmallConv()
    assert clipping._per_row_grads_layer(model.conv, torch.zeros(1, 4, 4, 4), units)
    x = torch.randn(6, 1, 8, 8)
    x[3, 0, 2, 2] = float("inf")  # row 3: an infinite input, its gradient holds inf/NaN
    with LayerTape(model) as tape:
        out = model(x)
    clipped = clipped_grad_sum(tape, out, max_norm=0.5, units=units)
    bad_unit = 3 if units is None else 2
    assert not torch.isfinite(clipped.norms[bad_unit])
    ok = [0, 1, 2, 4, 5] if units is None else [0, 5, 1, 4]
    with LayerTape(model) as tape:
        ref_out = model(x[ok])
    reference = clipped_grad_sum(tape, ref_out, max_norm=0.5,
                                 units=None if units is None else torch.tensor([[0, 1], [2, 3]]))
    for p in model.parameters():
        assert torch.isfinite(clipped.grads[p]).all()
        torch.testing.assert_close(clipped.grads[p], reference.grads[p])  # the bad unit contributes exactly 0


def test_item5_negative_squared_norms_from_rounding_are_clamped_at_zero(monkeypatch):
    from dpcgan.privacy import clipping
    from dpcgan.privacy.clipping import LayerTape, clipped_grad_sum

    torch.manual_seed(0)
    layer = TwoPositionLinear()
    real = clipping._layer_norm_sq_chunked
    monkeypatch.setattr(clipping, "_layer_norm_sq_chunked",
                        lambda *args: real(*args) * torch.tensor([1.0, -1e-12, 1.0]))  # a Gram sum rounding below 0
    x = torch.randn(3, 2, 8)
    with LayerTape(layer) as tape:
        out = layer(x)
    clipped = clipped_grad_sum(tape, out, max_norm=1e9)
    assert clipped.norms[1] == 0 and torch.isfinite(clipped.norms).all()
    assert all(torch.isfinite(g).all() for g in clipped.grads.values())


# --- item 6: layers whose per-example gradients the clipping cannot see ----------------------------------------

class EmbedD(nn.Module):
    def __init__(self, **embedding_options):
        super().__init__()
        self.image_shape, self.num_classes = (1, 4, 4), 3
        self.fc = nn.Linear(16, 1)
        self.embed = nn.Embedding(3, 16, **embedding_options)

    def forward(self, x, y):
        h = x.flatten(1)
        return self.fc(h).squeeze(-1) + (self.embed(y) * h).sum(1)


class BufferD(EmbedD):
    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))


class ScaledLinear(nn.Linear):
    def forward(self, x):  # a subclass whose forward the ghost norms do not know
        return super().forward(x) * 3.0


class OverridingD(EmbedD):
    def __init__(self):
        super().__init__()
        self.fc = ScaledLinear(16, 1)


class BatchCentringD(EmbedD):
    """No parameters or buffers outside supported layers, yet every output depends on the whole batch."""

    def forward(self, x, y):
        h = x.flatten(1)
        h = h - h.mean(0, keepdim=True)
        return self.fc(h).squeeze(-1) + (self.embed(y) * h).sum(1)


@pytest.mark.parametrize("model,match", [
    (EmbedD(max_norm=1.0), "max_norm"),
    (EmbedD(padding_idx=0), "padding_idx"),
    (EmbedD(scale_grad_by_freq=True), "scale_grad_by_freq"),
    (BufferD(), "buffer"),
    (OverridingD(), "overrides forward"),
    (BatchCentringD(), "depends on other rows"),
])
def test_item6_discriminators_the_clipping_cannot_protect_are_refused(model, match):
    with pytest.raises(ConfigError, match=match):
        check_private_discriminator(model)


def test_item6_the_real_discriminators_pass_the_independence_self_test():
    for arch in ("paper-fc", "conv"):
        build_models(ModelSpec(arch, (1, 28, 28), 10, hidden=16))  # raises if a check fails
    check_private_discriminator(EmbedD())


# --- item 4: release-mode noise keyed with 128 bits on every device; seeded noise across devices ---------------

def test_item4_release_noise_for_an_accelerator_tensor_is_keyed_with_128_bits(monkeypatch):
    """No GPU here: an accelerator tensor is stood in for by a CPU tensor whose device reports 'cuda', and the
    host-to-device copy is recorded instead of made."""
    import secrets

    from dpcgan.privacy.noise import SecureNoise

    bits, copies = [], []
    real_randbits = secrets.randbits
    monkeypatch.setattr(secrets, "randbits", lambda k: bits.append(k) or real_randbits(k))

    class AcceleratorLike:
        device, dtype = torch.device("cuda", 0), torch.float32

    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)
    real_to = torch.Tensor.to

    def recording_to(self, *args, **kwargs):
        if args and isinstance(args[0], torch.device) and args[0].type == "cuda":
            copies.append(kwargs.get("non_blocking"))
            return self
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    noise = SecureNoise().normal((20000,), 2.0, AcceleratorLike())
    assert bits == [128]              # one 128-bit key for the draw (it was 63 bits through CUDA's Philox)
    assert copies == [True]           # drawn on the host, copied without making the host wait
    assert float(noise.std()) == pytest.approx(2.0, rel=0.03)


def test_item4_seeded_noise_draws_on_its_generators_device_and_returns_on_the_tensors(monkeypatch):
    """A seeded CUDA run: the noise generator on the GPU, the warm start's sums and the label counts on the host.
    No GPU here: the generator is a stand-in reporting device 'cuda', and torch.randn / torch.randint are checked
    the way torch checks them ('Expected a cuda device type for generator but found cpu' before the fix)."""
    from dpcgan.privacy import discrete_gaussian
    from dpcgan.privacy import noise as noise_module
    from dpcgan.privacy.label_histogram import noisy_label_prior

    class CudaGenerator:
        device = torch.device("cuda", 0)

    real_randn, real_randint = torch.randn, torch.randint
    calls = []

    def check(generator, device):
        if generator is not None and torch.device(device).type != generator.device.type:
            raise RuntimeError(f"Expected a '{torch.device(device).type}' device type for generator but found "
                               f"'{generator.device.type}'")
        calls.append(torch.device(device))

    def checking_randn(*shape, generator=None, device=None, dtype=None):
        check(generator, device)
        return real_randn(*shape, dtype=dtype)  # the stand-in 'cuda' draw, made on the host

    def checking_randint(low, high, size, generator=None, device=None):
        check(generator, device)
        return real_randint(low, high, size)

    monkeypatch.setattr(noise_module.torch, "randn", checking_randn)
    monkeypatch.setattr(discrete_gaussian.torch, "randint", checking_randint)
    sums = {"sums": torch.zeros(3, 4, dtype=torch.float64)}
    noise_module.add_gaussian_noise_(sums, 1.0, noise_module.SeededNoise(CudaGenerator()))
    assert sums["sums"].device.type == "cpu" and sums["sums"].abs().sum() > 0
    prior = noisy_label_prior(torch.tensor([0, 1, 1, 2] * 100), 3, 1.0, noise_module.SeededNoise(CudaGenerator()))
    assert calls == [torch.device("cuda", 0)] * 2
    assert len(prior) == 3 and abs(sum(prior) - 1) < 1e-9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_item4_dp_histogram_in_a_seeded_cuda_run():
    from dpcgan.privacy.label_histogram import noisy_label_prior
    from dpcgan.rng import make_generators

    gens = make_generators(0, device="cuda")
    prior = noisy_label_prior(torch.tensor([0, 1, 1, 2] * 100), 3, 1.0, gens.noise)
    assert len(prior) == 3 and abs(sum(prior) - 1) < 1e-9


# --- item 7: every process must hold the same data -------------------------------------------------------------

def _train_on_rank_dependent_data(world):
    from dpcgan.config import preset
    from dpcgan.data import LabeledImages
    from dpcgan.train import train

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (300, 1, 28, 28), generator=gen, dtype=torch.uint8)
    y = torch.arange(300) % 10
    if world.rank == 1:
        x[17] = 255 - x[17]  # one record differs: same n, another dataset
    data = LabeledImages(x, y, 10, "t")
    cfg = preset("paper").replace(batch_size=30, steps=2, target_epsilon=None, seed=0, delta=1e-4)
    try:
        train(cfg, data, None, progress=False, world=world)
    except ConfigError as e:
        return str(e)
    return None


def test_item7_processes_with_different_data_refuse_to_start(tmp_path):
    from test_distributed import run_ranks

    messages = run_ranks(_train_on_rank_dependent_data, tmp_path)
    assert all(m is not None and "different datasets" in m and "fingerprints differ" in m for m in messages)


# --- item 2: the label set is a public input; an empty class is not a refusal ----------------------------------

def _rare_class_pair(mnist_small, tmp_path):
    """Two datasets of the same size that differ in one record: in `with_` class 2 has that single record, in
    `without` it is replaced by a copy of a class-0 record, so class 2 is empty."""
    x, y = mnist_small.x[:, 0].numpy(), mnist_small.y.numpy()
    keep = np.flatnonzero(y != 2)[:999].tolist() + [int(np.flatnonzero(y == 2)[0])]
    x, y = x[keep], y[keep]
    paths = {}
    for name in ("with", "without"):
        xx, yy = x.copy(), y.copy()
        if name == "without":
            donor = int(np.flatnonzero(yy == 0)[0])
            xx[-1], yy[-1] = xx[donor], yy[donor]
        folder = tmp_path / name
        folder.mkdir()
        np.savez(folder / "records.npz", x=xx, y=yy)
        paths[name] = folder / "records.npz"
    return paths


def test_item2_a_class_with_one_record_leaves_no_trace_in_the_released_files(mnist_small, tmp_path, capsys):
    from dpcgan.cli import main

    paths = _rare_class_pair(mnist_small, tmp_path)
    reports = {}
    for name, path in paths.items():
        out = tmp_path / f"run-{name}"
        assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(path), "--num-classes", "10", "--batch-size", "50",
                     "--sigma", "1.0", "--steps", "4", "--seed", "0", "--out", str(out), "--no-progress"]) == 0
        reports[name] = {f: json.loads((out / f).read_text()) for f in ("config.json", "privacy.json")}
    assert reports["with"] == reports["without"]  # byte-for-byte the same public files
    assert reports["with"]["privacy.json"]["assumed_public"]["label_set"] == list(range(10))


def test_item2_private_training_refuses_a_label_set_read_off_the_labels(small_npz, tmp_path, capsys):
    from dpcgan.cli import main
    from dpcgan.config import preset
    from dpcgan.data import load_dataset
    from dpcgan.train import train

    inferred = load_dataset(str(small_npz), "train")  # K = max label + 1, read off the private labels
    assert inferred.label_set_inferred
    with pytest.raises(ConfigError, match="--num-classes"):
        train(preset("paper").replace(batch_size=50, steps=2, target_epsilon=None, seed=0), inferred, None,
              progress=False)
    given = load_dataset(str(small_npz), "train", num_classes=10)
    assert not given.label_set_inferred
    assert main(["train", "--preset", "paper", "--dataset", str(small_npz), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--num-classes K (or --label-names FILE) is required" in err and not (tmp_path / "r").exists()


# --- items 8 and 9: what a run releases, and what it keeps private ------------------------------------------------

def test_items8_9_private_files_are_apart_and_public_files_hold_no_path_or_wall_time(small_npz, tmp_path):
    from dpcgan.cli import main
    from dpcgan.train.run_dir import RELEASABLE_FILES

    out = tmp_path / "run"
    assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100",
                 "--sigma", "1.1", "--steps", "10", "--log-every", "5", "--seed", "0", "--out", str(out),
                 "--no-progress"]) == 0
    top = {p.name for p in out.iterdir()}
    assert top - {"private"} <= set(RELEASABLE_FILES) and "private" in top
    assert {p.name for p in (out / "private").iterdir()} == {"metrics.jsonl", "run.json"}
    record = json.loads((out / "private" / "run.json").read_text())
    assert record["dataset"] == str(small_npz) and record["wall_time_s"] > 0
    for name in ("config.json", "privacy.json"):
        text = (out / name).read_text()
        assert str(small_npz.parent) not in text  # the data's location is not released
        assert "wall_time" not in text            # depends (weakly) on the private batch sizes
    config = json.loads((out / "config.json").read_text())
    report = json.loads((out / "privacy.json").read_text())
    assert config["config"]["dataset"] == small_npz.name == report["assumed_public"]["dataset"]
    assert "n treated as a public constant" in report["adjacency"].replace("dataset size n", "n")
    assert "n treated as a public constant" in report["guarantee"].replace("dataset size n", "n")


# --- item 10: resumes are recorded; a fork is refused unless forced; crash recovery keeps working ----------------

def _resume_cfg():
    from dpcgan.config import preset

    return preset("paper").replace(batch_size=100, noise_multiplier=1.1, steps=200, target_epsilon=None, seed=4,
                                   checkpoint_every=40, log_every=10)


def test_item10_crash_recovery_however_often_is_recorded_in_privacy_json(mnist_small, tmp_path, monkeypatch):
    from dpcgan.train import train

    out = tmp_path / "run"
    # started at 1, interrupted before step 101 (checkpoint 80); resumed at 81, interrupted before 111 (no new
    # checkpoint: 80 again); resumed at 81, interrupted after checkpoint 120, before 151; resumed to the end
    for start_step, interrupt_before in ((0, 101), (80, 111), (80, 151)):
        interrupt_at(monkeypatch, interrupt_before - start_step)
        with pytest.raises(KeyboardInterrupt):
            train(_resume_cfg(), mnist_small, out, progress=False, resume=start_step > 0)
        monkeypatch.undo()
    result = train(_resume_cfg(), mnist_small, out, progress=False, resume=True)
    assert result.steps == 200
    report = json.loads((out / "privacy.json").read_text())
    assert report["resumes"] == [{"from_step": 80, "fork": False}, {"from_step": 80, "fork": False},
                                 {"from_step": 120, "fork": False}]
    # how far the run had got depends on when it was interrupted: private (review item 8)
    record = json.loads((out / "private" / "run.json").read_text())
    assert [(r["from_step"], r["reached_step"], r["fork"]) for r in record["resumes"]] == [
        (80, 100, False), (80, 110, False), (120, 150, False)]
    assert [r["steps_rerun_at_least"] for r in record["resumes"]] == [20, 30, 30]
    assert report["d_steps"] == 200  # the ledger counts the steps of the released model once


def test_item10_resuming_a_checkpoint_its_run_already_continued_past_is_a_fork(mnist_small, tmp_path, monkeypatch,
                                                                                 capsys):
    import shutil

    from dpcgan.train import train

    out = tmp_path / "run"
    interrupt_at(monkeypatch, 101)
    with pytest.raises(KeyboardInterrupt):
        train(_resume_cfg(), mnist_small, out, progress=False)
    monkeypatch.undo()
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "run.partial", tmp_path / "copy.partial")   # a copy of the interrupted run
    train(_resume_cfg(), mnist_small, out, progress=False, resume=True)     # the original goes on and completes
    with pytest.raises(ConfigError, match="fork"):
        train(_resume_cfg(), mnist_small, copy, progress=False, resume=True)
    assert (tmp_path / "copy.partial").is_dir() and not copy.exists()     # refused: nothing changed
    capsys.readouterr()
    train(_resume_cfg(), mnist_small, copy, progress=False, resume=True, force=True)
    assert "WARNING" in capsys.readouterr().err
    report = json.loads((copy / "privacy.json").read_text())
    assert report["resumes"][-1]["fork"] is True and report["resumes"][-1]["from_step"] == 80


# --- item 11: --steps means the same on every preset; the plan before the first step; not-for-release marks ---------

def test_item11_steps_alone_keeps_the_presets_sigma_and_dry_run_reads_nothing(monkeypatch, tmp_path, capsys):
    from dpcgan.cli import main
    from dpcgan.config import preset, resolve_plan
    from dpcgan.images import cli as image_cli

    monkeypatch.setattr(image_cli, "load_dataset", lambda *a, **k: pytest.fail("--dry-run read the dataset"))
    monkeypatch.chdir(tmp_path)
    full = resolve_plan(preset("mnist-eps10"), 60000, 10)
    assert main(["train", "--preset", "mnist-eps10", "--steps", "40", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert (f"sigma = {full.noise_multiplier:.4g} (calibrated to spend the cap epsilon = 10 in "
            f"{preset('mnist-eps10').steps} D steps)") in out
    import re

    spent = float(re.search(r"epsilon = ([0-9.]+) \(cap 10\)", out).group(1))
    assert "40 D steps" in out and spent < 5  # far below the cap: the run is shorter, sigma is the preset's
    assert "fewer than ~300" in err
    assert main(["train", "--preset", "paper", "--steps", "40", "--dry-run"]) == 0
    assert "sigma = 1.12 (given)" in capsys.readouterr().out
    # --epsilon with --steps calibrates for those steps
    assert main(["train", "--preset", "mnist-eps10", "--epsilon", "10", "--steps", "40", "--dry-run"]) == 0
    assert "in 40 D steps" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no run directory


def test_item11_plans_that_cannot_be_useful_are_warned_about(capsys):
    from dpcgan.cli import main

    assert main(["train", "--preset", "paper", "--sigma", "0.3", "--steps", "2000", "--dry-run"]) == 0
    assert "above 10: a weak guarantee" in capsys.readouterr().err
    assert main(["train", "--preset", "paper", "--batch-size", "20", "--sigma", "5", "--steps", "500",
                 "--dry-run"]) == 0
    assert "will likely drown the signal" in capsys.readouterr().err


def test_item11_a_seeded_run_says_not_for_release_everywhere(small_npz, tmp_path, capsys):
    from dpcgan.cli import main

    out = tmp_path / "run"
    assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100",
                 "--sigma", "1.1", "--steps", "5", "--epsilon", "8", "--seed", "0", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("plan: q = ") and "NOT FOR RELEASE" in printed[-1]
    report = json.loads((out / "privacy.json").read_text())
    assert report["guarantee"].startswith("NOT FOR RELEASE")
    quote = report["report_this"]
    assert quote["epsilon"] == report["epsilon"] and quote["delta"] == 1e-5 and quote["conversion"] == "classic"
    assert report["epsilon_cap"] == 8 and "target_epsilon" not in report
    assert main(["sample", str(out), "-n", "10"]) == 0
    assert "NOT FOR RELEASE" in capsys.readouterr().err
