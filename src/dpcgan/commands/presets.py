"""dpcgan presets: the named configurations, with their key settings."""

from __future__ import annotations

KEYS = ("dataset", "arch", "mode", "batch_size", "noise_multiplier", "steps", "target_epsilon", "delta",
        "conversion", "max_grad_norm", "d_steps_per_g", "d_optimizer", "g_ema")


def add_parser(sub) -> None:
    sub.add_parser("presets", help="list the presets and their key settings (use one with train --preset NAME)")


def run(args) -> int:
    from ..config import PRESETS

    for name, cfg in PRESETS.items():
        d = cfg.to_dict()
        sigma = "calibrated" if cfg.noise_multiplier is None else f"{cfg.noise_multiplier:g}"
        settings = ", ".join(f"{k}={sigma if k == 'noise_multiplier' else d[k]}" for k in KEYS)
        print(f"{name}\n    {settings}")
    print("\nEvery field can be set with `dpcgan train --config FILE` (TOML or JSON; a run's config.json works) "
          "or a flag; `dpcgan train --preset NAME --dry-run` prints the privacy plan.")
    return 0
