"""What a training run returns (TrainResult) and the releasable config.json it writes (run_config): shared by the
D-step loop (loop.py) and the marginal-fitted table run (marginal_run.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import PrivacyPlan, TrainConfig
from ..models import ModelSpec
from ..privacy.accountant import PrivacyLedger
from .run_dir import public_config


@dataclass
class TrainResult:
    run_dir: Path | None
    plan: PrivacyPlan
    ledger: PrivacyLedger
    epsilon: float | None
    steps: int
    wall_time_s: float
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    checkpoint_id: str | None = None   # the run's last checkpoint (marked as continued past once the run is done)
    marginal_tables: dict | None = None   # a marginal-fitted table run's released tables (tables/calibrate.py)


def run_config(cfg: TrainConfig, plan: PrivacyPlan, spec: ModelSpec, data) -> dict:
    """config.json: releasable. The dataset appears by name only (its location is in the private record)."""
    return {"config": public_config(cfg), "plan": plan.to_dict(),
            "model": spec.to_dict(),
            "dataset": {"name": data.name, "n": len(data), "num_classes": data.num_classes,
                        "image_shape": list(data.image_shape)}}
