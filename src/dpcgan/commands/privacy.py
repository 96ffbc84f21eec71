"""dpcgan privacy: the accountant as a calculator (q, sigma, steps, delta -> epsilon; epsilon -> sigma or steps)."""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..config import plan_epsilon, plan_max_steps, plan_noise_multiplier
from ..privacy import accountant


def add_parser(sub) -> None:
    p = sub.add_parser("privacy", help="privacy calculator for the Poisson-subsampled Gaussian (RDP)")
    p.add_argument("--q", "--sample-rate", dest="q", type=float, help="sample rate q (or give --batch-size and --n)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--n", type=int, help="dataset size")
    p.add_argument("--sigma", type=float, help="noise multiplier")
    p.add_argument("--steps", type=int, help="number of D steps")
    p.add_argument("--epsilon", type=float, help="target epsilon: with --steps gives sigma, with --sigma gives steps")
    p.add_argument("--delta", type=float, default=1e-5)


def run(args) -> int:
    q = args.q
    if q is None:
        if args.batch_size is None or args.n is None:
            raise ConfigError("give --q, or --batch-size and --n")
        q = args.batch_size / args.n
    if not 0 < q < 1:
        raise ConfigError(f"the sample rate must be in (0, 1) (got {q})")
    if not 0 < args.delta < 1:
        raise ConfigError(f"--delta must be in (0, 1) (got {args.delta})")
    if args.n is not None and args.delta >= 1 / args.n:
        raise ConfigError(f"--delta must be < 1/n = {1 / args.n:.3g} (got {args.delta:g})")
    if args.epsilon is not None and not (args.epsilon > 0 and math.isfinite(args.epsilon)):
        raise ConfigError(f"--epsilon must be positive (got {args.epsilon})")
    given = (args.sigma is not None, args.steps is not None, args.epsilon is not None)
    print(f"sample rate q = {q:.6g}, delta = {args.delta:g}, RDP orders 1.1..10.9, 12..63")
    if given == (True, True, False):
        for conv in accountant.CONVERSIONS:
            eps = plan_epsilon(q, args.sigma, args.steps, args.delta, conv, [])
            print(f"epsilon ({conv:7s}) = {eps:.4f}")
    elif given == (False, True, True):
        for conv in accountant.CONVERSIONS:
            s = plan_noise_multiplier(q, args.steps, args.delta, args.epsilon, conv)
            print(f"sigma    ({conv:7s}) = {s:.4f}  (smallest noise multiplier with epsilon <= {args.epsilon})")
    elif given == (True, False, True):
        for conv in accountant.CONVERSIONS:
            t = plan_max_steps(q, args.sigma, args.delta, args.epsilon, conv)
            print(f"steps    ({conv:7s}) = {t}  (step {t + 1} would exceed epsilon = {args.epsilon})")
    else:
        raise ConfigError("give two of --sigma, --steps, --epsilon (the third is computed)")
    print("'opacus' = Balle et al. 2020 conversion of RDP (tighter); 'classic' = the DP-CGAN paper's conversion; "
          "'pld' = privacy loss distributions (dp-accounting; no RDP, tightest)")
    return 0
