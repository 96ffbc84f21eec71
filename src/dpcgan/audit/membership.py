"""Membership-inference attacks on a released run: members are training records, non-members held-out ones.

- Distance to closest synthetic record (DCR): a generator that memorises puts synthetic samples close to its
  training records; score = -(L2 distance to the nearest synthetic sample of the same class), pixels in [0, 1].
- Discriminator score: D's logit on (x, y), when discriminator.pt is available (D is also DP: it is the
  mechanism's direct output).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import LabeledImages
from ..errors import DPCGANError
from ..models import ModelSpec, build_models
from ..sample import generate, load_generator
from .bounds import attack_summary


@torch.no_grad()
def dcr_scores(candidates: LabeledImages, synth_x: torch.Tensor, synth_y: torch.Tensor) -> np.ndarray:
    """-(distance to the closest synthetic sample with the same label) for each candidate."""
    x = candidates.float_images().flatten(1)
    s = synth_x.float().div(255).flatten(1)
    scores = np.empty(len(candidates))
    for c in torch.unique(candidates.y):
        rows = (candidates.y == c).nonzero().squeeze(1)
        pool = s[synth_y == c]
        if len(pool) == 0:
            scores[rows.numpy()] = -np.inf
            continue
        d = torch.cdist(x[rows], pool).min(dim=1).values
        scores[rows.numpy()] = -d.numpy()
    return scores


def load_discriminator(run: Path) -> torch.nn.Module | None:
    path = run / "discriminator.pt"
    if not path.is_file():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    _, D = build_models(ModelSpec.from_dict(ckpt["spec"]), private=False)
    D.load_state_dict(ckpt["state_dict"])
    return D.eval()


@torch.no_grad()
def discriminator_scores(D: torch.nn.Module, candidates: LabeledImages, batch: int = 2048) -> np.ndarray:
    out = [D(candidates.float_images(slice(i, i + batch)), candidates.y[i : i + batch]) for i in range(0, len(candidates), batch)]
    return torch.cat(out).numpy().astype(float)


def membership_audit(run: str | Path, members: LabeledImages, nonmembers: LabeledImages, *, delta: float,
                     n_candidates: int = 2000, n_synthetic_per_class: int = 2000, seed: int = 0) -> dict:
    """Attack AUC, TPR at low FPR and the empirical epsilon lower bound of each attack."""
    run = Path(run)
    if members.image_shape != nonmembers.image_shape or members.num_classes != nonmembers.num_classes:
        raise DPCGANError("members and non-members must have the same image shape and label set")
    gen = torch.Generator().manual_seed(seed)
    n = min(n_candidates, len(members), len(nonmembers))
    mem, non = members.random_subset(n, gen), nonmembers.random_subset(n, gen)
    G, _ = load_generator(run)
    synth_y = torch.arange(G.num_classes).repeat_interleave(n_synthetic_per_class)
    synth_x = generate(G, synth_y, gen)
    attacks = {"distance_to_closest_synthetic": attack_summary(dcr_scores(mem, synth_x, synth_y),
                                                               dcr_scores(non, synth_x, synth_y), delta)}
    D = load_discriminator(run)
    if D is not None:
        attacks["discriminator_score"] = attack_summary(discriminator_scores(D, mem), discriminator_scores(D, non), delta)
    return {"n_per_side": n, "n_synthetic": len(synth_y), "attacks": attacks}
