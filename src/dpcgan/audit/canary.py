"""The canary experiment: does one inserted record become more detectable than the accounted epsilon allows?

Train `trials` models with k copies of an out-of-distribution canary and `trials` without, all else equal
(same data, independent randomness), score each model by D's logit on the canary, and turn the two score
samples into an empirical epsilon lower bound. A DP run must stay below its accounted bound (k copies:
group privacy, at most k * epsilon); the non-private control shows the attack has power.
"""

from __future__ import annotations

import torch

from ..config import TrainConfig, resolve_plan
from ..data import LabeledImages
from ..privacy import accountant
from ..train import train
from .bounds import attack_summary


def make_canary(image_shape: tuple[int, int, int]) -> torch.Tensor:
    """A checkerboard of 4-pixel squares: far from any digit or garment, uint8 (C, H, W)."""
    c, h, w = image_shape
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = (((yy // 4) + (xx // 4)) % 2).to(torch.uint8) * 255
    return board.expand(c, h, w).clone()


def with_canary(data: LabeledImages, canary: torch.Tensor, label: int, copies: int) -> LabeledImages:
    cx = canary if data.x.dtype == torch.uint8 else canary.float() / 255  # match the data's pixel scale
    return LabeledImages(torch.cat([data.x, cx.unsqueeze(0).expand(copies, *cx.shape)]),
                         torch.cat([data.y, torch.full((copies,), label, dtype=torch.long)]), data.num_classes, data.name)


@torch.no_grad()
def canary_score(D: torch.nn.Module, canary: torch.Tensor, label: int) -> float:
    return float(D(canary.float().div(255).unsqueeze(0), torch.tensor([label])))


def canary_experiment(data: LabeledImages, cfg: TrainConfig, *, copies: int = 1, trials: int = 8, label: int = 0,
                      seed: int = 0) -> dict:
    """Scores with and without the canary, the attack summary, and the accounted bound it must respect.

    `data` must not contain the canary; the "with" runs have n + copies records, the "without" runs n. The
    plan (q, sigma, steps) is resolved on the larger dataset and reused, so both arms run the same mechanism.
    """
    canary = make_canary(data.image_shape)
    planted = with_canary(data, canary, label, copies)
    plan = resolve_plan(cfg, len(planted), data.num_classes)
    # Fix the mechanism for both arms: same batch size, sigma and steps.
    fixed = cfg.replace(noise_multiplier=plan.noise_multiplier, steps=plan.steps, target_epsilon=None,
                        checkpoint_every=0)
    scores = {"with": [], "without": []}
    for t in range(trials):
        for arm, dataset in (("with", planted), ("without", data)):
            result = train(fixed.replace(seed=seed * 100_003 + 2 * t + (arm == "with")), dataset, None, progress=False)
            scores[arm].append(canary_score(result.discriminator.eval(), canary, label))
    summary = attack_summary(torch.tensor(scores["with"]).numpy(), torch.tensor(scores["without"]).numpy(), cfg.delta)
    private = cfg.mode != "off"
    eps = accountant.epsilon(plan.sample_rate, plan.noise_multiplier, plan.steps, cfg.delta, cfg.conversion) if private else None
    return {
        "copies": copies, "trials_per_arm": trials, "label": label, "mode": cfg.mode,
        "mechanism": {"sample_rate": plan.sample_rate, "noise_multiplier": plan.noise_multiplier, "steps": plan.steps},
        "accounted_epsilon": eps,
        "bound": None if eps is None else copies * eps,  # group privacy for k copies (delta grows too)
        "scores_with": scores["with"], "scores_without": scores["without"],
        "attack": summary,
        "within_bound": None if eps is None else summary["epsilon_lower_bound"] <= copies * eps,
    }
