"""D-step speed: DP-CGAN's private step (split), the joint baseline, and the non-private step, in one run.

The three variants are timed interleaved (round-robin over repetitions) so that machine noise hits all of them
alike; the headline is the ratio of medians split / off. Writes results/step_speed.md.

    python benchmarks/step_speed.py [--batch-size 600] [--threads 2] [--reps 60] [--device cpu|cuda] [--out NAME.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timezone

import torch

from _common import DEFAULT_DATA, command, commit, machine, write_result
from dpcgan.data import load_dataset, PoissonSampler
from dpcgan.distributed import resolve_device, to_device
from dpcgan.models import ModelSpec, build_models
from dpcgan.train import DStepSettings, discriminator_step, generator_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--out", default="step_speed.md", help="file name under results/")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    # CUDA work is asynchronous: wait for it before reading the clock
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    data = load_dataset("mnist", "train", args.data_dir)
    B = args.batch_size
    sampler = PoissonSampler(data, B / len(data), torch.Generator().manual_seed(0))
    prior = torch.full((10,), 0.1, device=device)
    gen = torch.Generator(device=device).manual_seed(1)
    torch.manual_seed(0)
    G, D = (m.to(device) for m in build_models(ModelSpec("paper-fc", (1, 28, 28), 10)))
    d_opt = torch.optim.SGD(D.parameters(), lr=0.05)
    g_opt = torch.optim.Adam(G.parameters(), lr=1e-3)
    from dpcgan.privacy.noise import SecureNoise

    secure = SecureNoise()
    modes = ["off", "split", "joint", "split-release"]
    times = {m: [] for m in modes}
    g_times = []
    batches = [tuple(to_device(t, device) for t in sampler.sample()) for _ in range(8)]
    for rep in range(args.reps + 5):
        x, y = batches[rep % len(batches)]
        for mode in modes:
            settings = DStepSettings(mode.split("-")[0], B, 1.1, 1.12)
            noise = secure if mode == "split-release" else gen
            sync()
            t0 = time.perf_counter()
            discriminator_step(D, d_opt, G, x, y, settings=settings, prior=prior, latent_gen=gen, noise_gen=noise)
            sync()
            if rep >= 5:  # warm-up excluded
                times[mode].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generator_step(G, g_opt, D, batch_size=B, prior=prior, latent_gen=gen)
        sync()
        if rep >= 5:
            g_times.append(time.perf_counter() - t0)

    med = {m: statistics.median(t) * 1000 for m, t in times.items()}
    g_med = statistics.median(g_times) * 1000
    ratio = med["split"] / med["off"]
    lines = [
        "# D-step speed: private (split, joint) vs non-private, paper FC model",
        "",
        f"- command: `{command()}`",
        f"- machine: {machine()}" + (f"; device {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""),
        f"- commit: {commit()}; date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- model: the paper's FC D (794-128-1) and G (110-128-784); expected real batch B = {B} (Poisson), "
        f"{B} fake samples; median of {args.reps} interleaved repetitions after 5 warm-up",
        "",
        "| D step | median ms | ratio to non-private |",
        "|---|---|---|",
    ]
    for m, label in (("off", "non-private (plain autograd)"), ("split", "DP-CGAN split clipping + noise"),
                     ("joint", "joint (pair) clipping + noise"),
                     ("split-release", "split, release-mode noise (fresh 128-bit OS-entropy key per step, numpy SFC64, sum of 4 draws)")):
        lines.append(f"| {label} | {med[m]:.2f} | {med[m] / med['off']:.2f}× |")
    lines += ["", f"G step (B = {B}): {g_med:.2f} ms. Full private D+G step ≈ {med['split'] + g_med:.1f} ms.", "",
              f"**split / non-private = {ratio:.2f}×** (target ≤ 1.5×).", ""]
    path = write_result(args.out, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
