"""Explicit random number generators, one per purpose, so that no stream can influence another.

Release mode (no seed): every generator is seeded from OS entropy, so the noise cannot be predicted or
replayed. Experiment mode (a seed): reproducible runs, marked "not for release" in privacy.json.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
import torch

PURPOSES = ("sampling", "noise", "latent", "init", "preview")


@dataclass
class RunGenerators:
    sampling: torch.Generator   # Poisson batch selection (private)
    noise: torch.Generator      # Gaussian noise of the D step (private)
    latent: torch.Generator     # z and fake labels (public)
    init: torch.Generator       # model initialisation
    preview: torch.Generator    # samples.png
    seeded: bool


def make_generators(seed: int | None) -> RunGenerators:
    if seed is None:
        seeds = [secrets.randbits(63) for _ in PURPOSES]
    else:
        seeds = [int(s.generate_state(1, dtype=np.uint64)[0] >> 1) for s in np.random.SeedSequence(seed).spawn(len(PURPOSES))]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    return RunGenerators(*gens, seeded=seed is not None)
