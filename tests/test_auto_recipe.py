"""--preset auto (issue 22, item 1): the recipe is a function of public facts only (n, epsilon, delta, image shape,
K), reproduces the tuned presets where they were tuned, is the default for own images, says what it chose, and
never outranks what the user set."""

import math

import numpy as np
import pytest

from dpcgan import DPCGAN
from dpcgan.cli import main
from dpcgan.config import PRESETS, auto_config, resolve_plan
from dpcgan.errors import ConfigError


def test_auto_reproduces_the_presets_tuned_at_60000():
    eps10, _ = auto_config(60_000, (1, 28, 28), 10, 10.0, 1e-5)
    eps1, _ = auto_config(60_000, (1, 28, 28), 10, 1.0, 1e-5)
    for got, tuned in ((eps10, PRESETS["mnist-eps10"]), (eps1, PRESETS["mnist-eps1"])):
        for field in ("batch_size", "steps", "d_hidden", "d_lr", "g_steps_per_round", "g_batch_size",
                      "warm_start_noise", "d_steps_per_g", "mode_seeking", "g_ema"):
            assert getattr(got, field) == getattr(tuned, field), field


def test_small_n_gets_fewer_steps_and_the_noisy_recipe():
    cfg, reasons = auto_config(5_000, (1, 28, 28), 10, 10.0)
    assert cfg.steps == 1000 and cfg.d_hidden == 64 and cfg.warm_start_side == 7
    assert cfg.batch_size <= 0.2 * 5_000
    assert cfg.delta == 1e-5 and cfg.conversion == "pld"
    assert any(r.startswith("D steps 1000") for r in reasons) and any(r.startswith("batch B") for r in reasons)
    # the plan spends the cap with sigma calibrated by the accountant (nothing in auto sets sigma itself)
    plan = resolve_plan(cfg, 5_000, 10)
    assert cfg.noise_multiplier is None and 9.9 < plan.planned_epsilon <= 10.0


def test_delta_default_follows_n_and_a_given_delta_is_kept():
    big, reasons = auto_config(2_000_000, (1, 28, 28), 10, 3.0)
    assert big.delta == pytest.approx(0.1 / 2_000_000) and any("delta" in r for r in reasons)
    given, _ = auto_config(2_000_000, (1, 28, 28), 10, 3.0, 1e-8)
    assert given.delta == 1e-8


def test_larger_images_get_a_smaller_compute_budget():
    grey28, _ = auto_config(60_000, (1, 28, 28), 10, 10.0)
    rgb64, _ = auto_config(60_000, (3, 64, 64), 10, 10.0)
    assert rgb64.batch_size * rgb64.steps < grey28.batch_size * grey28.steps
    assert rgb64.warm_start_clip > grey28.warm_start_clip


def test_too_few_records_is_a_clear_error():
    with pytest.raises(ConfigError, match="at least 100 records"):
        auto_config(50, (1, 28, 28), 2, 10.0)


def write_npz(path, n, seed):
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y=np.arange(n) % 4)
    return str(path)


def test_cli_default_for_own_data_is_auto_and_reads_no_record(tmp_path, capsys):
    """Two datasets of the same public facts (n, shape, K) and different records get the same recipe and plan."""
    outputs = []
    for seed in (0, 1):
        path = write_npz(tmp_path / f"d{seed}.npz", 3000, seed)
        assert main(["train", "--dataset", path, "--num-classes", "4", "--epsilon", "3", "--dry-run"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    lines = outputs[0].splitlines()
    assert sum(line.startswith("auto: ") for line in lines) >= 4
    assert any("pld conversion" in line for line in lines)


def test_flags_override_auto(tmp_path, capsys):
    path = write_npz(tmp_path / "d.npz", 3000, 0)
    assert main(["train", "--dataset", path, "--num-classes", "4", "--epsilon", "3", "--batch-size", "64",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "B = 64 of n = 3000" in out


def test_auto_needs_the_label_set(tmp_path, capsys):
    path = write_npz(tmp_path / "d.npz", 3000, 0)
    assert main(["train", "--dataset", path, "--epsilon", "3", "--dry-run"]) == 2
    assert "is required for your own data" in capsys.readouterr().err


def test_presets_explain(capsys):
    assert main(["presets", "--explain", "5000", "10"]) == 0
    out = capsys.readouterr().out
    assert "D steps 1000" in out and "plan: q = " in out and "settings: batch_size=" in out
    assert main(["presets", "--explain", "5000", "x"]) == 2


def test_api_default_is_auto_and_user_settings_win(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (400, 8, 8), dtype=np.uint8)
    y = np.arange(400) % 2
    m = DPCGAN(epsilon=10.0, steps=2, seed=0, g_steps_per_round=1, log_every=1, checkpoint_every=0,
               progress_grids=0, bn_recalibrate=0)
    m.fit(x, y, num_classes=2, out=tmp_path / "run", progress=False)
    assert m.auto_reasons and m.config.steps == 2 and m.config.g_steps_per_round == 1
    assert m.config.batch_size == 64 and m.config.conversion == "pld"   # auto's batch for n = 400 (q <= 0.2: 64)


def test_presets_say_what_each_is_for(capsys):
    from dpcgan.config import PRESET_NAMES, USE_FOR

    assert set(USE_FOR) == set(PRESET_NAMES)
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESET_NAMES:
        assert f"{name}  -- for " in out
    assert "MNIST-size data" in out


def test_very_noisy_runs_are_shortened_to_keep_d_tracking():
    """Where even 1,000 steps put sigma/B above the ceiling D can track (MNIST 5,000 at epsilon 1: 0.027), auto runs
    fewer D steps, each with less noise; where 1,000 steps stay under it, the run is not shortened."""
    from dpcgan import auto_recipe

    small, reasons = auto_config(5_000, (1, 28, 28), 10, 1.0)
    assert small.steps == 300 and any("D steps 300" in r for r in reasons)
    shortened = auto_recipe.choose(5_000, 1.0, (1, 28, 28), 10)
    assert shortened.noise_per_coordinate < 0.6 * auto_recipe._sigma(5_000, 256, 1000, 1.0, 1e-5) / 256
    middle, _ = auto_config(10_000, (1, 28, 28), 10, 1.0)
    assert middle.steps == 500
    kept, _ = auto_config(5_000, (1, 28, 28), 10, 3.0)
    assert kept.steps == 1000
    assert auto_recipe.choose(5_000, 3.0, (1, 28, 28), 10).noise_per_coordinate <= auto_recipe.NOISY_CEILING


def test_the_docs_table_is_what_auto_chooses():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "auto.md").read_text()
    section = text.split("## What it chooses", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 5
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        n = int(cells[0].replace(",", ""))
        for eps, cell in zip((1.0, 3.0, 10.0), cells[1:]):
            cfg, _ = auto_config(n, (1, 28, 28), 10, eps)
            kind = "quiet" if cfg.d_hidden == 16 else "noisy"
            if cfg.warm_start_noise:
                kind += f" + {cfg.warm_start_side}×{cfg.warm_start_side} anchor" if cfg.warm_start_anchor else " + warm start"
                kind += " + RFF" if cfg.warm_start_rff_noise else ""
                if cfg.warm_start_anchor and (cfg.warm_start_noise, cfg.warm_start_rff_noise) != (15.0, 10.0):
                    kind += f" (s {cfg.warm_start_noise:g} / {cfg.warm_start_rff_noise:g})"
            kind += " + matching-aware D" if cfg.d_mismatch else ""
            assert cell == f"B {cfg.batch_size}, T {cfg.steps}, {kind}", (n, eps)


def test_few_records_per_class_get_the_pooled_warm_start_and_its_anchor():
    """Under 2,000 records per class auto releases ~7 x 7 per-class means (s = 15) and anchors G to them, where those
    means are better than noise (noise per released pixel <= 0.12); the clip follows the released pixels; at 60,000
    the tuned presets are kept (no anchor); small images are not pooled."""
    from dpcgan import auto_recipe

    few, reasons = auto_config(5_000, (1, 28, 28), 10, 1.0)
    assert (few.warm_start_noise, few.warm_start_side, few.warm_start_anchor, few.warm_start_clip) == (15.0, 7, 100.0,
                                                                                                        2.0)
    assert any("7 x 7 means" in r for r in reasons) and not any("warm start off" in r for r in reasons)
    # ... with the second release (mean embeddings) and G's match to it
    assert (few.warm_start_rff_noise, few.warm_start_rff_features, few.warm_start_rff_anchor) == (10.0, 1000, 10.0)
    assert any("mean embeddings" in r for r in reasons)
    rgb, _ = auto_config(5_000, (3, 64, 64), 3, 10.0)
    assert rgb.warm_start_side == 8 and rgb.warm_start_clip == pytest.approx(8 * math.sqrt(3 * 64 / 784), abs=1e-3)
    assert [auto_recipe.pooled_side(h) for h in (12, 14, 28, 29, 32, 64)] == [0, 7, 7, 7, 8, 8]
    noisy_means, reasons = auto_config(2_000, (1, 28, 28), 10, 1.0)   # 200 per class: 0.21 per released pixel
    assert noisy_means.warm_start_noise == 0 and any("released pooled pixel" in r for r in reasons)
    assert noisy_means.warm_start_rff_noise == 0
    assert auto_config(4_000, (1, 28, 28), 10, 1.0)[0].warm_start_anchor == 100.0   # 400 per class: 0.11
    tiny_images, reasons = auto_config(5_000, (1, 12, 12), 10, 1.0)
    assert tiny_images.warm_start_noise == 0 and any("not pooled" in r for r in reasons)
    for eps in (1.0, 10.0):
        big, _ = auto_config(60_000, (1, 28, 28), 10, eps, 1e-5)
        assert big.warm_start_anchor == 0 and big.warm_start_side == 0 and big.warm_start_rff_noise == 0
    # the release is in the plan: sigma is calibrated around it and the planned epsilon is still the target
    plan = resolve_plan(few, 5_000, 10)
    assert plan.planned_epsilon <= 1.0 + 1e-9
    means_only = resolve_plan(few.replace(warm_start_rff_noise=0.0), 5_000, 10)
    assert plan.noise_multiplier > means_only.noise_multiplier > resolve_plan(
        few.replace(warm_start_noise=0.0, warm_start_anchor=0.0, warm_start_rff_noise=0.0), 5_000, 10).noise_multiplier
    # --set warm_start_noise=0 over auto must turn the second release off too, not fail on it
    off = few.replace(warm_start_noise=0.0)
    assert resolve_plan(off, 5_000, 10).noise_multiplier == pytest.approx(
        resolve_plan(off.replace(warm_start_rff_noise=0.0), 5_000, 10).noise_multiplier)


def test_release_noise_is_lowered_to_the_fitted_levels_where_it_is_cheap():
    """The two warm-start releases were fitted at 500 records per class on grey 28 x 28 (noise 0.085 per released
    pixel, 0.02 per embedding entry). With fewer records per class, or RGB (the clip grows by sqrt(3)), auto lowers
    s to bring both back to those levels where that adds at most 2 % to D's sigma, and leaves rule 3 off where it
    would cost more; the fitted cells keep s = 15 / 10."""
    from dpcgan import auto_recipe

    for eps in (1.0, 3.0, 10.0):   # the fitted cells are unchanged
        cfg, _ = auto_config(5_000, (1, 28, 28), 10, eps)
        assert (cfg.warm_start_noise, cfg.warm_start_rff_noise) == (15.0, 10.0)
    for eps in (3.0, 10.0):        # RGB 32 px at 500 per class: 0.17 per released pixel at s = 15
        rgb, reasons = auto_config(5_000, (3, 32, 32), 10, eps)
        clip = auto_recipe.warm_start_clip(3 * 8 * 8)
        assert rgb.warm_start_side == 8 and rgb.warm_start_clip == clip and rgb.warm_start_anchor == 100.0
        assert 10.0 < rgb.warm_start_noise < 15.0 and rgb.warm_start_rff_noise == 10.0
        assert rgb.warm_start_noise * math.sqrt(2) * clip / 500 <= 0.12
        assert 15.0 * math.sqrt(2) * clip / 500 > 0.12
        assert any("s lowered from 15 / 10" in r for r in reasons)
        # the promise is kept and the lowered releases cost at most ~2 % of sigma (PLD, the run's accountant)
        plan = resolve_plan(rgb, 5_000, 10)
        default = resolve_plan(rgb.replace(warm_start_noise=15.0), 5_000, 10)
        assert plan.planned_epsilon <= eps + 1e-9
        assert default.noise_multiplier <= plan.noise_multiplier <= 1.025 * default.noise_multiplier
    two_k, _ = auto_config(2_000, (1, 28, 28), 10, 10.0)   # 200 per class: both lowered
    assert (two_k.warm_start_noise, two_k.warm_start_rff_noise) == (8.48, 4.0) and two_k.warm_start_anchor == 100.0
    for eps in (1.0, 3.0):   # ... but at epsilon 1 and 3 that would cost far more than 2 %: off, and said so
        off, reasons = auto_config(2_000, (1, 28, 28), 10, eps)
        assert off.warm_start_noise == 0 and off.warm_start_anchor == 0 and off.warm_start_rff_noise == 0
        assert any("more sigma" in r for r in reasons)
    assert auto_config(500, (1, 28, 28), 10, 10.0)[0].warm_start_noise == 0   # 50 per class: s would be ~2


def test_noisy_runs_fit_the_time_budget(monkeypatch):
    """Issue 22, item 5: auto at n = 10,000 trains in <= 20 min on 2 cores. The noisy recipe (D 64 wide, 4 G steps
    per D step) is planned within a time budget that grows like sqrt(n); where sigma is large, sigma / B hardly
    depends on B, so the halved batch costs little noise."""
    from dpcgan import auto_recipe

    for eps in (3.0, 10.0):
        cfg, reasons = auto_config(10_000, (1, 28, 28), 10, eps)
        assert cfg.d_hidden == 64 and (cfg.batch_size, cfg.steps) == (512, 1000)
        assert auto_recipe.noisy_minutes(cfg.batch_size, cfg.steps, (1, 28, 28)) <= 20.0
        assert any("time budget: about 19 of 20 min" in r for r in reasons)
        # B 1,024 (what the compute budget alone allowed) is at most 20 % less noisy, for about twice the time
        chosen = auto_recipe.choose(10_000, eps, (1, 28, 28), 10).noise_per_coordinate
        assert auto_recipe._sigma(10_000, 1024, 1000, eps, 1e-5) / 1024 > 0.8 * chosen
        assert auto_recipe.noisy_minutes(1024, 1000, (1, 28, 28)) > 20.0
    assert auto_recipe.noisy_time_budget(5_000) == auto_recipe.noisy_time_budget(10_000) == 20.0
    assert auto_recipe.noisy_time_budget(40_000) == pytest.approx(40.0)
    # an image size whose shortest run cannot fit says so instead of claiming the budget (at 128 px natively: auto
    # trains such images at 32 px, rule 5, so only a larger model side gets here)
    monkeypatch.setattr(auto_recipe, "MODEL_SIDE", 128)
    cfg, reasons = auto_config(5_000, (3, 128, 128), 10, 10.0)
    assert cfg.model_side == 0 and any("over the 20-min budget" in r for r in reasons)


def test_run_time_follows_the_discriminators_arithmetic_not_the_pixel_count():
    """auto's time model scales a D step by the conv D's multiply-accumulates per example (counted here
    independently with hooks on the real module) to the power 0.75: RGB only widens the first layer (3 x 32 x 32
    has 1.39 times the MACs of 28 x 28, not 3.9), while 64 px adds a stage (7.8 times, not 5.2)."""
    import torch
    from torch import nn

    from dpcgan import auto_recipe
    from dpcgan.models.conv import ConvProjectionDiscriminator, discriminator_macs

    def counted(shape, width):
        total = 0

        def hook(m, inputs, out):
            nonlocal total
            total += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]

        D = ConvProjectionDiscriminator(shape, 10, width=width)
        handles = [m.register_forward_hook(hook) for m in D.modules() if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            D(torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long))
        for h in handles:
            h.remove()
        return total

    for shape in ((1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 64, 64), (3, 128, 128)):
        for width in (16, 64):
            assert discriminator_macs(shape, width) == counted(shape, width)
    assert auto_recipe.step_cost((1, 28, 28)) == 1.0
    macs = {shape: discriminator_macs(shape, 64) / discriminator_macs((1, 28, 28), 64)
            for shape in ((3, 32, 32), (1, 64, 64))}
    assert macs[(3, 32, 32)] == pytest.approx(1.385, abs=1e-3) and macs[(1, 64, 64)] == pytest.approx(7.758, abs=1e-3)
    # time grows slower than MACs (larger convolutions run faster per MAC): measured 1.24 and 4.6 times 28 x 28
    assert auto_recipe.step_cost((3, 32, 32)) == pytest.approx(1.24, rel=0.05)
    assert auto_recipe.step_cost((1, 64, 64)) == pytest.approx(4.6, rel=0.05)
    # so RGB 32 px at n = 5,000, epsilon 10 gets a 1,000-step run of B 256 within the budget (B 128 x 500 when time
    # was scaled by the pixel count), and 3 x 64 x 64 fits the budget with its shortest run
    rgb, reasons = auto_config(5_000, (3, 32, 32), 10, 10.0)
    assert (rgb.batch_size, rgb.steps) == (256, 1000) and any("of 20 min" in r for r in reasons)
    assert auto_recipe.noisy_minutes(512, 1000, (3, 32, 32)) > 20.0
    _, reasons = auto_config(5_000, (3, 64, 64), 10, 10.0)
    assert any("of 20 min" in r for r in reasons)


def test_images_over_32_px_train_at_32_px_and_odd_sides_at_a_multiple_of_4(monkeypatch, capsys):
    """Rule 5: a D step at 64 px costs 4.6 times one at 28 px on a CPU, so natively the 20-min budget buys 64 px
    images at n = 5,000 a 300-step run where a 32 px model gets 1,000 steps of B 256; 128 px would not fit at all.
    Sides the convolutions cannot take (not a multiple of 4) are pooled to the next multiple of 4 below."""
    from dpcgan import auto_recipe
    from dpcgan.cli import main

    assert [auto_recipe.model_side((1, s, s)) for s in (16, 28, 30, 32, 33, 64, 100, 128)] == [0, 0, 28, 0, 32, 32,
                                                                                               32, 32]
    assert auto_recipe.model_side((3, 48, 64)) == 32 and auto_recipe.model_side((1, 26, 26)) == 24
    for shape in ((1, 64, 64), (3, 64, 64), (3, 128, 128)):
        cfg, reasons = auto_config(5_000, shape, 10, 10.0)
        same_at_32, _ = auto_config(5_000, (shape[0], 32, 32), 10, 10.0)
        assert cfg.model_side == 32 and (cfg.batch_size, cfg.steps) == (same_at_32.batch_size, same_at_32.steps)
        assert any(r.startswith("model side 32:") and f"upsampled to {shape[1]} x {shape[2]}" in r for r in reasons)
        # the warm start still releases statistics of the records themselves (pooled from their own side)
        assert cfg.warm_start_side == 8 and cfg.warm_start_clip == auto_recipe.warm_start_clip(shape[0] * 64)
    assert (cfg.batch_size, cfg.steps) == (256, 1000)
    monkeypatch.setattr(auto_recipe, "MODEL_SIDE", 64)   # what 64 px got before rule 5: the short run
    native, _ = auto_config(5_000, (1, 64, 64), 10, 10.0)
    assert native.model_side == 0 and native.steps == 300
    monkeypatch.undo()
    for shape in ((1, 28, 28), (3, 32, 32)):
        assert auto_config(5_000, shape, 10, 10.0)[0].model_side == 0
    assert main(["presets", "--explain", "5000", "10", "--image-size", "64"]) == 0
    assert "  model side 32: G and D work at 32 x 32" in capsys.readouterr().out


def test_few_classes_of_a_few_thousand_images_get_the_pooled_warm_start_too():
    """Rule 3 once asked only n / K < 2,000, so 3 classes of 2,000 images got no warm start where 10 classes of 600
    got both releases and their anchors. It now holds wherever the gradients are noisy and n <= 10,000; above that,
    with 2,000+ records a class, the presets' recipe stays (20,000 and 60,000 in the docs table)."""
    from dpcgan import auto_recipe
    from dpcgan.config import resolve_plan

    for n, k, eps in ((6_000, 3, 3.0), (5_000, 2, 10.0), (10_000, 5, 1.0)):
        cfg, reasons = auto_config(n, (1, 28, 28), k, eps)
        assert n / k >= auto_recipe.WARM_START_MIN_PER_CLASS and cfg.d_hidden == 64   # the noisy recipe
        assert (cfg.warm_start_side, cfg.warm_start_anchor, cfg.warm_start_rff_anchor) == (7, 100.0, 10.0)
        assert cfg.warm_start_noise == 15.0 and cfg.warm_start_rff_noise == 10.0      # cleaner than fitted: kept
        assert any(f"noisy gradients at n = {n} <= 10,000" in r for r in reasons)
        assert cfg.label_prior == "warm-start-counts"   # the classes' proportions, from the counts already released
        plan = resolve_plan(cfg, n, k)
        assert eps * 0.99 < plan.planned_epsilon <= eps * (1 + 1e-9)   # the releases are inside the budget
    for n, k in ((20_000, 10), (12_000, 3)):
        cfg, reasons = auto_config(n, (1, 28, 28), k, 1.0)
        assert cfg.warm_start_noise == 0 and any("DP warm start off (the mnist-eps1 recipe)" in r for r in reasons)
        assert cfg.label_prior == "uniform"               # no counts released: the public uniform prior


def test_the_matching_aware_d_where_gradients_are_quiet_enough_and_n_is_small():
    """d_mismatch (each real record also scored with a wrong label, in its own clipping unit) is on where it was
    measured to help: n <= 10,000 with the chosen run's sigma/B <= 4e-3 (5,000 and 10,000 at epsilon 10); off at
    noisier gradients, above 10,000 records (the presets' region) and for quiet runs. It costs no epsilon: the plan's
    sigma is the one without it."""
    from dpcgan import auto_recipe
    from dpcgan.config import resolve_plan

    for n, eps, on in ((5_000, 10.0, True), (10_000, 10.0, True), (2_000, 10.0, False), (5_000, 3.0, False),
                       (10_000, 3.0, False), (5_000, 1.0, False), (20_000, 10.0, False), (60_000, 1.0, False),
                       (60_000, 10.0, False)):
        cfg, reasons = auto_config(n, (1, 28, 28), 10, eps)
        assert (cfg.d_mismatch == auto_recipe.MISMATCH_WEIGHT) is on and (cfg.d_mismatch == 0) is not on, (n, eps)
        assert any("matching-aware D" in r for r in reasons) is on
        if on:
            assert auto_recipe.choose(n, eps, (1, 28, 28), 10).noise_per_coordinate <= auto_recipe.MISMATCH_MAX_NOISE
            plan = resolve_plan(cfg, n, 10)
            assert plan.noise_multiplier == resolve_plan(cfg.replace(d_mismatch=0.0), n, 10).noise_multiplier
    # colour at 5,000: B 256 by the time budget leaves sigma/B above the line
    rgb, _ = auto_config(5_000, (3, 32, 32), 10, 10.0)
    assert rgb.d_mismatch == 0.0
