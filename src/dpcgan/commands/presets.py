"""dpcgan presets: the named configurations, with their key settings; `--explain N EPS`: what auto would choose."""

from __future__ import annotations

KEYS = ("dataset", "arch", "mode", "batch_size", "noise_multiplier", "steps", "target_epsilon", "delta",
        "conversion", "max_grad_norm", "d_steps_per_g", "d_optimizer", "g_ema")
AUTO_KEYS = ("batch_size", "steps", "target_epsilon", "delta", "conversion", "d_hidden", "d_lr", "g_steps_per_round",
             "g_batch_size", "warm_start_noise", "warm_start_clip", "warm_start_side", "warm_start_anchor",
             "warm_start_rff_noise", "warm_start_rff_features", "warm_start_rff_anchor", "warm_start_rff_side", "label_prior", "model_side")


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the presets and their key settings (use one with train --preset NAME); "
                       "--explain N EPS: what --preset auto chooses for n records at epsilon, and why")
    p.add_argument("--explain", nargs=2, metavar=("N", "EPS"), help="print auto's recipe for N records at epsilon EPS "
                   "(no data is read) with the privacy plan it gives")
    p.add_argument("--image-size", type=int, default=28, help="with --explain: the image side (default 28)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="with --explain: 1 or 3 (default 1)")
    p.add_argument("--num-classes", type=int, default=10, help="with --explain: K (default 10)")
    p.add_argument("--delta", type=float, help="with --explain: delta (default: min(1e-5, 0.1 / N))")


def explain(args) -> int:
    from ..config import auto_config, describe_plan, resolve_plan
    from ..errors import ConfigError

    try:
        n, eps = int(args.explain[0]), float(args.explain[1])
    except ValueError:
        raise ConfigError(f"--explain N EPS: N an integer and EPS a number (got {' '.join(args.explain)})") from None
    if n < 1 or not eps > 0:
        raise ConfigError(f"--explain N EPS: N >= 1 and EPS > 0 (got {n}, {eps:g})")
    shape = (args.channels, args.image_size, args.image_size)
    cfg, reasons = auto_config(n, shape, args.num_classes, eps, args.delta)
    print(f"auto for n = {n}, epsilon = {eps:g}, images {'x'.join(map(str, shape))}, K = {args.num_classes}:")
    for reason in reasons:
        print(f"  {reason}")
    d = cfg.to_dict()
    shown = [k for k in AUTO_KEYS if (not k.startswith("warm_start_rff_") or cfg.warm_start_rff_noise)
             and (k != "model_side" or cfg.model_side)]
    print("  settings: " + ", ".join(f"{k}={d[k]}" for k in shown))
    line, _ = describe_plan(cfg, resolve_plan(cfg, n, args.num_classes))
    print(f"  {line}")
    print("The rule and the grid it was fitted on: docs/auto.md and results/owndata.md.")
    return 0


def run(args) -> int:
    from ..config import PRESET_DIR, PRESETS, USE_FOR

    if getattr(args, "explain", None):
        return explain(args)
    for name, cfg in PRESETS.items():
        d = cfg.to_dict()
        sigma = "calibrated" if cfg.noise_multiplier is None else f"{cfg.noise_multiplier:g}"
        settings = ", ".join(f"{k}={sigma if k == 'noise_multiplier' else d[k]}" for k in KEYS)
        print(f"{name}  -- for {USE_FOR[name]}\n    {settings}\n    file: {PRESET_DIR / (name + '.toml')}")
    print(f"auto  -- for {USE_FOR['auto']}\n    chosen from n, epsilon, delta, the image shape and K when the "
          "data is known; `dpcgan presets --explain N EPS` shows its choices")
    print("\nThe mnist-* and fashion-mnist-* presets were tuned at n = 60,000 (MNIST-size data). Every field can be "
          "set with `dpcgan train --config FILE` (TOML or JSON; a preset's file or a run's config.json works) or a flag; "
          "`dpcgan train --preset NAME --dry-run` prints the privacy plan.")
    return 0
