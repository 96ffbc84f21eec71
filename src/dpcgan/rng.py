"""Explicit random number generators, one per purpose, so that no stream can influence another.

Release mode (no seed): the private streams (Poisson sampling, noise) draw fresh 128-bit keys from OS entropy at
every step (a CPU torch.Generator keeps only the low 32 bits of its seed: 2^32 streams is a searchable space),
so nothing can be predicted, replayed or brute-forced; the public streams are seeded from OS entropy.
Experiment mode (a seed): reproducible runs, marked "not for release" in privacy.json.

The public streams (latents and fake labels, init, preview) may be known to anyone: nothing private may change
how far they advance. The one place where a private count sets how many public draws are made, joint mode's one
fake per real record, draws its blocks from a per-step subgenerator keyed by exactly one draw of the latent stream
(train/steps.py: step_subgenerator), so the latent stream advances by the same amount whatever the batch size.

With several processes, the Poisson sampling and the public latents are per rank (each rank samples its own
shard and draws its own share of the fakes): derived from (seed, rank), or drawn from OS entropy by each rank.
The model initialisation is rank 0's (broadcast), and only rank 0 draws the noise.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
import torch

from .privacy.noise import SecureNoise, SeededNoise

PURPOSES = ("sampling", "noise", "latent", "init", "preview")


class OSEntropyUniform:
    """Release-mode randomness for Poisson sampling: uniform integers from numpy's SFC64 seeded with 128 fresh
    bits of OS entropy at every call. No state to checkpoint or leak, no seed space to search."""

    def integers(self, n: int, high: int) -> torch.Tensor:
        """n integers uniform on [0, high) (numpy's bounded integers: exact, by masked rejection)."""
        rng = np.random.Generator(np.random.SFC64(secrets.randbits(128)))
        return torch.from_numpy(rng.integers(0, high, size=n, dtype=np.int64))

PER_RANK = ("sampling", "latent")


@dataclass
class RunGenerators:
    sampling: torch.Generator | OSEntropyUniform  # Poisson batch selection (private); on the CPU
    noise: object               # Gaussian noise of the D step (private): SeededNoise or SecureNoise
    latent: torch.Generator     # z and fake labels (public); on the training device
    init: torch.Generator       # model initialisation
    preview: torch.Generator    # samples.png
    seeded: bool

    def state(self) -> dict:
        """Generator states for a checkpoint. In release mode the private streams have no state to save."""
        out = {name: getattr(self, name).get_state() for name in ("latent", "preview")}
        if self.seeded:
            out["sampling"] = self.sampling.get_state()
            out["noise"] = self.noise.generator.get_state()
        return out

    def load_state(self, state: dict) -> None:
        for name in ("latent", "preview"):
            getattr(self, name).set_state(state[name])
        if self.seeded:
            self.sampling.set_state(state["sampling"])
            self.noise.generator.set_state(state["noise"])


def _seeds(seed: int | None, rank: int, world_size: int) -> list[int]:
    if seed is None:
        return [secrets.randbits(63) for _ in PURPOSES]  # each process draws its own
    seqs = np.random.SeedSequence(seed).spawn(len(PURPOSES))
    if world_size > 1:  # a single process keeps the streams it always had
        seqs = [s.spawn(world_size)[rank] if name in PER_RANK else s for name, s in zip(PURPOSES, seqs)]
    return [int(s.generate_state(1, dtype=np.uint64)[0] >> 1) for s in seqs]


def make_generators(seed: int | None, *, rank: int = 0, world_size: int = 1,
                    device: torch.device | str | None = None) -> RunGenerators:
    device = torch.device(device or "cpu")
    s = dict(zip(PURPOSES, _seeds(seed, rank, world_size)))
    # Latents and noise are drawn where they are used: no host-to-device copy in the training step.
    on_device = {"latent", "noise"}
    gens = {name: torch.Generator(device=device if name in on_device else "cpu").manual_seed(s[name])
            for name in PURPOSES}
    noise = SeededNoise(gens["noise"]) if seed is not None else SecureNoise()
    sampling = gens["sampling"] if seed is not None else OSEntropyUniform()
    return RunGenerators(sampling, noise, gens["latent"], gens["init"], gens["preview"], seeded=seed is not None)
