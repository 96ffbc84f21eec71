"""Public-only schedules of the training loop: the adaptive number of D steps per G step, the EMA decay with
warm-up, and the re-estimation of G's normalisation statistics. None of them reads private data: they look at G,
D and fakes only (post-processing), so the privacy analysis (the ledger of D steps) is unchanged."""

from __future__ import annotations

import torch
from torch import nn

# Bie et al. (2023), dpgan/sched.py: the n_D values the scheduler moves through
ADAPTIVE_RATES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class DStepScheduler:
    """Adaptive n_D (Bie, Kamath & Zhang 2023): keep an EMA (beta) of D's accuracy on fresh fakes, measured at each
    G step; once `grace` G steps have run at the current n_D and the EMA is at or below `threshold` (D no longer
    tells G's samples apart), move to the next larger n_D. Every D step is still a private step in the ledger."""

    def __init__(self, start: int, threshold: float, grace: int, beta: float = 0.99):
        self.rates = sorted(set(ADAPTIVE_RATES) | {start})
        self.n_d, self.threshold, self.grace, self.beta = start, threshold, grace, beta
        self.acc_ema: float | None = None
        self.g_steps_at_rate = 0

    def update(self, fake_accuracy: float) -> int:
        """Record D's accuracy on fresh fakes at a G step; returns n_D for the next G step."""
        self.acc_ema = fake_accuracy if self.acc_ema is None else \
            self.beta * self.acc_ema + (1 - self.beta) * fake_accuracy
        self.g_steps_at_rate += 1
        if self.g_steps_at_rate >= self.grace and self.acc_ema <= self.threshold:
            larger = [r for r in self.rates if r > self.n_d]
            if larger:
                self.n_d, self.g_steps_at_rate = larger[0], 0
        return self.n_d

    def state_dict(self) -> dict:
        return {"n_d": self.n_d, "acc_ema": self.acc_ema, "g_steps_at_rate": self.g_steps_at_rate}

    def load_state_dict(self, state: dict) -> None:
        self.n_d, self.acc_ema, self.g_steps_at_rate = state["n_d"], state["acc_ema"], state["g_steps_at_rate"]


@torch.no_grad()
def fake_accuracy(D: nn.Module, fake_x: torch.Tensor, fake_y: torch.Tensor) -> float:
    """Fraction of fakes D labels fake (logit < 0). Reads no private data."""
    return float((D(fake_x, fake_y) < 0).float().mean()) if len(fake_y) else 1.0


def ema_decay(decay: float, g_step: int, warmup: bool) -> float:
    """The EMA's decay at G step g_step (0-based): min(decay, (1 + t) / (10 + t)) with warm-up (as DPImageBench,
    from the diffusion EMA), so the average forgets the poor early generators quickly; `decay` without."""
    return min(decay, (1 + g_step) / (10 + g_step)) if warmup else decay


@torch.no_grad()
def recalibrate_batchnorm_(G: nn.Module, make_batch, batches: int) -> bool:
    """Re-estimate G's BatchNorm running statistics for G's *current* weights: reset them and average the batch
    statistics of `batches` forward passes on public fakes (make_batch() -> (z, y)). Sampling in eval mode then
    normalises with statistics that belong to the released weights; without this, an EMA G would carry the
    statistics of the last raw G. Returns False when G has no BatchNorm."""
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return False
    was_training = G.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    G.train()
    try:
        for _ in range(batches):
            G(*make_batch())
    finally:
        for m, mom in zip(norms, momenta):
            m.momentum = mom
        G.train(was_training)
    return True
