"""Explicit random number generators, one per purpose, so that no stream can influence another.

Release mode (no seed): every generator is seeded from OS entropy, so the noise cannot be predicted or
replayed. Experiment mode (a seed): reproducible runs, marked "not for release" in privacy.json.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
import torch

from .privacy.noise import SecureNoise, SeededNoise

PURPOSES = ("sampling", "noise", "latent", "init", "preview")


@dataclass
class RunGenerators:
    sampling: torch.Generator   # Poisson batch selection (private)
    noise: object               # Gaussian noise of the D step (private): SeededNoise or SecureNoise
    latent: torch.Generator     # z and fake labels (public)
    init: torch.Generator       # model initialisation
    preview: torch.Generator    # samples.png
    seeded: bool

    def state(self) -> dict:
        """Generator states for a checkpoint. In release mode the noise source has no state to save."""
        out = {name: getattr(self, name).get_state() for name in ("sampling", "latent", "preview")}
        if self.seeded:
            out["noise"] = self.noise.generator.get_state()
        return out

    def load_state(self, state: dict) -> None:
        for name in ("sampling", "latent", "preview"):
            getattr(self, name).set_state(state[name])
        if self.seeded:
            self.noise.generator.set_state(state["noise"])


def make_generators(seed: int | None) -> RunGenerators:
    if seed is None:
        seeds = [secrets.randbits(63) for _ in PURPOSES]
    else:
        seeds = [int(s.generate_state(1, dtype=np.uint64)[0] >> 1) for s in np.random.SeedSequence(seed).spawn(len(PURPOSES))]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    noise = SeededNoise(gens[1]) if seed is not None else SecureNoise()
    return RunGenerators(gens[0], noise, gens[2], gens[3], gens[4], seeded=seed is not None)
