"""D-step speed: DP-CGAN's private step (split), the joint baseline, and the non-private step, in one run.

Two models: the conv pair of the SOTA presets (at B = 256 and B = 2048 by default) and the paper's FC pair at
B = 600. The variants are timed interleaved (round-robin over repetitions) so that machine noise hits all of them
alike; the headline is the ratio of medians split / off of the D update. Then, per preset at its own batch size,
the training loop itself (train(), everything the preset turns on) end to end: D steps per second. Writes
results/step_speed.md.

    python benchmarks/step_speed.py [--batch-size 600] [--conv-batch-sizes 256,2048] [--conv-preset mnist-eps10]
                                    [--threads 2] [--reps 30] [--presets paper,mnist-eps10,mnist-eps1]
                                    [--device cpu|cuda] [--out NAME.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timezone

import numpy as np
import torch

from _common import DEFAULT_DATA, command, commit, machine, write_result
from dpcgan.data import load_dataset, PoissonSampler
from dpcgan.data.arrays import images_from_arrays
from dpcgan.distributed import resolve_device, to_device
from dpcgan.models import ModelSpec, build_models
from dpcgan.config import PRESETS
from dpcgan.privacy.noise import SecureNoise
from dpcgan.tensor_census import largest_tensor_elements
from dpcgan.train import DStepSettings, discriminator_update, generator_step, public_fake_batch, train


MODES = ("off", "split", "joint", "split-release")
LABELS = {"off": "non-private (plain autograd)", "split": "DP-CGAN split clipping + noise",
          "joint": "joint (pair) clipping + noise",
          "split-release": "split, release-mode noise (fresh 128-bit OS-entropy key per step, numpy SFC64, sum of 4 draws)"}


def time_models(spec: ModelSpec, B: int, reps: int, data, device, sync,
                g_batch: int | None = None) -> tuple[dict, float, float]:
    """Median ms of the D update per mode (fakes pre-generated, so G's cost is not in it), of G's forward pass
    for the B fakes, and of the G step (on g_batch fakes, default B); interleaved round-robin over repetitions."""
    sampler = PoissonSampler(data, B / len(data), torch.Generator().manual_seed(0))
    prior = torch.full((spec.num_classes,), 1.0 / spec.num_classes, device=device)
    gen = torch.Generator(device=device).manual_seed(1)
    torch.manual_seed(0)
    G, D = (m.to(device) for m in build_models(spec))
    d_opt = torch.optim.SGD(D.parameters(), lr=0.05)
    g_opt = torch.optim.Adam(G.parameters(), lr=1e-3)
    secure = SecureNoise()
    times = {m: [] for m in MODES}
    fake_times, g_times = [], []
    batches = [tuple(to_device(t, device) for t in sampler.sample()) for _ in range(8)]
    for rep in range(reps + 5):
        x, y = batches[rep % len(batches)]
        sync()
        t0 = time.perf_counter()
        fx, fy = public_fake_batch(G, B, prior, gen)
        sync()
        if rep >= 5:  # warm-up excluded
            fake_times.append(time.perf_counter() - t0)
        extra = public_fake_batch(G, max(len(x) - B, 0), prior, gen)  # joint pairs each real record with a fake
        for mode in MODES:
            settings = DStepSettings(mode.split("-")[0], B, 1.1, 1.12)
            noise = secure if mode == "split-release" else gen
            fakes = (fx, fy)
            if mode == "joint":
                fakes = (torch.cat([fx, extra[0]])[: len(x)], torch.cat([fy, extra[1]])[: len(x)])
            sync()
            t0 = time.perf_counter()
            discriminator_update(D, d_opt, x, y, *fakes, settings=settings, noise_gen=noise)
            sync()
            if rep >= 5:
                times[mode].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generator_step(G, g_opt, D, batch_size=g_batch or B, prior=prior, latent_gen=gen)
        sync()
        if rep >= 5:
            g_times.append(time.perf_counter() - t0)
    med = {m: statistics.median(t) * 1000 for m, t in times.items()}
    return med, statistics.median(fake_times) * 1000, statistics.median(g_times) * 1000


def largest_tensor(spec: ModelSpec, B: int, data) -> tuple[int, int]:
    """(most elements of any tensor produced during one split D update, parameter count of D): ghost clipping
    never holds the 2B x P elements of per-example gradients."""
    torch.manual_seed(0)
    G, D = build_models(spec)
    x, y = PoissonSampler(data, B / len(data), torch.Generator().manual_seed(0)).sample()
    fx, fy = public_fake_batch(G, B, torch.full((spec.num_classes,), 1.0 / spec.num_classes), torch.Generator())
    opt = torch.optim.SGD(D.parameters(), lr=0.0)
    largest = largest_tensor_elements(lambda: discriminator_update(
        D, opt, x, y, fx, fy, settings=DStepSettings("split", B, 1.0, 1.0), noise_gen=torch.Generator().manual_seed(0)))
    return largest, sum(p.numel() for p in D.parameters())


def table(title: str, model: str, spec: ModelSpec, B: int, reps: int, med: dict, fake_ms: float, g_ms: float,
          target: float) -> list[str]:
    D = build_models(spec)[1]
    lines = [f"## {title}", "", f"- model: {model}; D has {sum(p.numel() for p in D.parameters()):,} parameters; "
             f"expected real batch B = {B} (Poisson), {B} fake samples; median of {reps} interleaved repetitions "
             "after 5 warm-up; D update timed with the fakes already generated", "",
             "| D update | median ms | ratio to non-private |", "|---|---|---|"]
    lines += [f"| {LABELS[m]} | {med[m]:.2f} | {med[m] / med['off']:.2f}× |" for m in MODES]
    lines += ["", f"G forward for the {B} fakes of a D step: {fake_ms:.2f} ms; G step: {g_ms:.2f} ms. "
              f"One private D step with its fakes ≈ {med['split'] + fake_ms:.1f} ms.", "",
              f"**split / non-private = {med['split'] / med['off']:.2f}×** (target ≤ {target}×).", ""]
    return lines


def memory_line(spec: ModelSpec, B: int, data) -> list[str]:
    largest, params = largest_tensor(spec, B, data)
    rows = 2 * B  # about B real (Poisson) + B fake rows
    return [f"Memory: the largest tensor any operation produced in one split D update holds {largest:,} elements; "
            f"per-example gradients would hold about {rows} x {params:,} = {rows * params:,} "
            f"({rows * params / largest:.0f}x more). tests/test_clipping.py checks that the largest intermediate "
            "does not grow with the parameter count.", ""]


def end_to_end(name: str, data, device, short: int = 10, long: int = 50) -> tuple[float, float]:
    """D steps per second of the training loop for preset `name` at its own batch size: the difference of two
    runs (short and long) removes the set-up cost. Also returns the G steps per D step of the preset."""
    cfg = PRESETS[name].replace(seed=0, checkpoint_every=0, checkpoint_minutes=0, progress_grids=0, log_every=10,
                                bn_recalibrate=0, sigma_calibration_steps=PRESETS[name].steps)
    walls = []
    for steps in (short, long):
        result = train(cfg.replace(steps=steps), data, None, progress=False, device=str(device))
        walls.append(result.wall_time_s)
    return (long - short) / (walls[1] - walls[0]), 1 / cfg.d_steps_per_g


def preset_lines(names: list[str], data, device) -> list[str]:
    lines = ["## Each preset at its own batch size, end to end", "",
             "The training loop (train(), with everything the preset turns on: fake reuse, EMA, mode-seeking, "
             "Adam...) for 10 and for 50 D steps; D steps per second = 40 / (difference of the two wall times). "
             "The D update, fakes and G step columns time the pieces alone at the preset's B (the G step on the "
             "preset's fakes per G step; median of 10).", "",
             "| preset | B | n_D | G steps per round (fakes each) | D update split (ms) | non-private (ms) | ratio "
             "| fakes (ms) | G step (ms) | D steps / s end to end |", "|---|---|---|---|---|---|---|---|---|---|"]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for name in names:
        cfg = PRESETS[name]
        spec = ModelSpec(cfg.arch, (1, 28, 28), 10, cfg.latent_dim, cfg.hidden, cfg.d_hidden)
        g_batch = cfg.g_fakes_per_step
        med, fake_ms, g_ms = time_models(spec, cfg.batch_size, 10, data, device, sync, g_batch)
        rate, _ = end_to_end(name, data, device)
        lines.append(f"| {name} | {cfg.batch_size} | {cfg.d_steps_per_g} | {cfg.g_steps_per_round} ({g_batch}) "
                     f"| {med['split']:.1f} | {med['off']:.1f} "
                     f"| {med['split'] / med['off']:.2f}× | {fake_ms:.1f} | {g_ms:.1f} | {rate:.2f} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=600, help="B for the paper's FC model")
    ap.add_argument("--conv-batch-sizes", default="256,2048", help="B values for the conv model of the presets")
    ap.add_argument("--conv-preset", default="mnist-eps10", choices=sorted(PRESETS),
                    help="whose conv widths to time (mnist-eps1's D is 64 wide, the other conv presets' 16)")
    ap.add_argument("--presets", default="paper,mnist-eps10,mnist-eps1", help="presets to time end to end ('' none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--out", default="step_speed.md", help="file name under results/")
    ap.add_argument("--image-shape", default="1,28,28",
                    help="C,H,W of the conv model (e.g. 3,32,32 or 3,64,64: random images of that shape, speed "
                         "does not depend on pixel values; the FC model and the preset loop need 1,28,28)")
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.image_shape.split(","))
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    # CUDA work is asynchronous: wait for it before reading the clock
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    mnist_size = shape == (1, 28, 28)
    if mnist_size:
        data = load_dataset("mnist", "train", args.data_dir)
    else:
        rng = np.random.default_rng(0)
        data = images_from_arrays(rng.integers(0, 256, (10_000, *shape), dtype=np.uint8),
                                  rng.integers(0, 10, 10_000), num_classes=10, name="random", announce=None)

    conv_cfg = PRESETS[args.conv_preset]
    fc = ModelSpec("paper-fc", (1, 28, 28), 10)
    conv = ModelSpec("conv", shape, 10, conv_cfg.latent_dim, conv_cfg.hidden, conv_cfg.d_hidden)
    lines = ["# D-step speed: private (split, joint) vs non-private", "",
             f"- command: `{command()}`",
             f"- machine: {machine()}" + (f"; device {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""),
             f"- commit: {commit()}; date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}", ""]
    for B in [int(b) for b in args.conv_batch_sizes.split(",") if b]:
        lines += table(f"Conv model of {args.conv_preset}, {'x'.join(map(str, shape))} images, B = {B}",
                       f"conv D of {args.conv_preset} (width "
                       f"{conv.discriminator_width}, GroupNorm, projection) and G (width {conv.hidden}, latent "
                       f"{conv.latent_dim})", conv, B, args.reps, *time_models(conv, B, args.reps, data, device, sync),
                       target=2.0 if B <= 256 else 1.5)
        if device.type == "cpu" and B <= 256:
            lines += memory_line(conv, B, data)
    if mnist_size:   # the FC model and the presets' loops are for 28 x 28 grey images
        lines += table("Paper FC model", "the paper's FC D (794-128-1) and G (110-128-784)", fc, args.batch_size,
                       args.reps, *time_models(fc, args.batch_size, args.reps, data, device, sync), target=1.5)
        lines += preset_lines([p for p in args.presets.split(",") if p], data, device)
    path = write_result(args.out, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
