"""Tables from DP-measured marginals (issue 23): a neural generator fitted to noisy marginal counts.

The marginal-based synthesizers (AIM, MST, GEM, MargNet) lead DP table benchmarks at epsilon <= 10; GEM and MargNet
show that a neural generator fitted to the measured marginals reaches them, faster than a graphical model. This is
that route, inside dpcgan's ledger. Every release is a Gaussian mechanism at sample rate 1, recorded as a ledger event
(RDP alpha/(2 s^2) each; PLD with the exact mechanism, privacy/pld.py):

  round 0      the (label, column) count table of every feature column, J tables in one release: one row moves
               one count of each table by 1, so J counts move; each count gets N_Z(0, J s0^2) (the discrete
               Gaussian; release "marginals", coordinates J: the schema draft's structure)
  round r > 0  selection: for every pair of feature columns (a, b), the L1 error of the current generator on the
               (label, a, b) count table, sum_cells |count - n_k * p_G|. One row moves each of the P scores by at
               most 1 (the generator and n_k are public, from earlier releases): L2 sensitivity sqrt(P); each
               score gets N(0, P s_sel^2) (continuous Gaussian; release "marginal-selection")
               measurement: the k pairs with the largest noisy score minus their expected measurement noise (as
               AIM does), their (label, a, b) count tables in one release with N_Z(0, k s_r^2) per count
The number of rounds, pairs per round and budget shares are fixed in advance from public facts (column count;
privacy/marginal_budget.py): the ledger's events do not depend on the data, only which tables they measure does
(adaptive composition of mechanisms fixed in advance).

Everything after a release is post-processing: noisy counts are projected onto the simplex of each class (the
noisy class total kept), the class shares come from round 0's tables, and G (the table generator's network, the
same layout as the GAN's) is fitted so that, for every measured table, the per-class joint distribution of its
categorical blocks (softmax probabilities averaged over a batch of latents) matches the projected counts (L1).
Sampling draws each block from its softmax with the latent's uniforms (Gumbel-max) and places a numeric value
uniformly within its bin.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .encode import CAT, layout


@dataclass(frozen=True)
class FitSchedule:
    """How G is fitted to the tables (post-processing: no effect on the privacy analysis)."""

    steps_per_round: int = 300
    final_steps: int = 1000
    batch_per_class: int = 512
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.999)
    between_rounds_budget: int = 1500   # Adam steps over all the fits between rounds: with many rounds each gets fewer


# ---- counting (private) ----


def block_codes(x: np.ndarray, schema) -> tuple[np.ndarray, list[int]]:
    """(n, J) index of the hot slot of each categorical block of the encoded rows, and the blocks' widths."""
    codes, widths, pos = [], [], 0
    for kind, w, _ in layout(schema):
        if kind == CAT:
            codes.append(x[:, pos : pos + w].argmax(1))
            widths.append(w)
        pos += w
    return np.stack(codes, 1).astype(np.int64), widths


def count_table(codes: np.ndarray, y: np.ndarray, cols: tuple[int, ...], widths: list[int], k: int) -> np.ndarray:
    """Integer counts of (label, codes[:, cols]) as an array of shape (k, widths of cols...)."""
    shape = (k, *[widths[c] for c in cols])
    flat = np.ravel_multi_index((y, *[codes[:, c] for c in cols]), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)


def project_to_simplex(v: np.ndarray, total: float) -> np.ndarray:
    """The Euclidean projection of v onto {p >= 0, sum p = total} (total > 0): unbiased mass, no negative counts."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - total
    ind = np.arange(1, len(u) + 1)
    rho = ind[u - css / ind > 0][-1]
    return np.maximum(v - css[rho - 1] / rho, 0.0)


def class_distributions(noisy: np.ndarray, class_totals: np.ndarray) -> np.ndarray:
    """Per class, the noisy counts projected onto the simplex with the class's estimated total, normalised."""
    flat = noisy.reshape(noisy.shape[0], -1).astype(np.float64)
    out = np.stack([project_to_simplex(row, max(t, 1.0)) for row, t in zip(flat, class_totals)])
    return (out / out.sum(1, keepdims=True)).reshape(noisy.shape)


# ---- fitting (post-processing) ----


@dataclass
class Target:
    cols: tuple[int, ...]
    dist: torch.Tensor          # (K, widths...) per-class distribution


@dataclass
class MarginalState:
    targets: list[Target] = field(default_factory=list)
    prior: np.ndarray | None = None     # class shares
    class_totals: np.ndarray | None = None
    fit_steps: int = 0


def block_probabilities(G, y: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """Softmax of each categorical block of G's raw outputs for labels y and fresh latents."""
    h = G.raw_outputs(torch.randn(len(y), G.latent_dim, generator=generator), y)
    probs, pos = [], 0
    for kind, w in G.blocks:
        if kind == CAT:
            probs.append(torch.softmax(h[:, pos : pos + w], dim=1))
        pos += w
    return probs


def model_tables(probs: list[torch.Tensor], k: int, cols: tuple[int, ...]) -> torch.Tensor:
    """Per-class joint distribution of the blocks `cols` (1 or 2) over the batch (rows grouped by class)."""
    p = [probs[c].view(k, -1, probs[c].shape[1]) for c in cols]
    if len(p) == 1:
        return p[0].mean(1)
    return torch.einsum("kna,knb->kab", p[0], p[1]) / p[0].shape[1]


def fit(G, state: MarginalState, steps: int, schedule: FitSchedule, generator: torch.Generator,
        opt: torch.optim.Optimizer) -> float:
    """`steps` Adam steps of G on the L1 distance between its per-class tables and the targets (class-weighted)."""
    k = G.num_classes
    y = torch.arange(k).repeat_interleave(schedule.batch_per_class)
    w = torch.as_tensor(state.prior, dtype=torch.float32)
    loss = torch.zeros(())
    G.train()
    for _ in range(steps):
        probs = block_probabilities(G, y, generator)
        loss = sum(((model_tables(probs, k, t.cols) - t.dist).abs().flatten(1).sum(1) * w).sum()
                   for t in state.targets) / len(state.targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    state.fit_steps += steps
    return float(loss.detach())


@torch.no_grad()
def model_probabilities(G, generator: torch.Generator, per_class: int = 2048) -> list[torch.Tensor]:
    """G's block probabilities for per_class fresh latents of each class (rows grouped by class)."""
    G.eval()
    return block_probabilities(G, torch.arange(G.num_classes).repeat_interleave(per_class), generator)


def model_counts(probs: list[torch.Tensor], k: int, cols: tuple[int, ...], totals: np.ndarray) -> np.ndarray:
    tab = model_tables(probs, k, cols).double().numpy()
    return tab * totals.reshape(-1, *([1] * len(cols)))


def pair_scores(G, codes: np.ndarray, y: np.ndarray, candidates: list[tuple[int, int]], widths: list[int],
                totals: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """For each pair (a, b): sum over cells of |count of (label, a, b) - class total x G's probability|. G and the
    totals are public (earlier releases), so one row added or removed moves each score by at most 1. G's
    probabilities are drawn once for all pairs (one forward pass, not one per pair)."""
    k = G.num_classes
    probs = model_probabilities(G, generator)
    return np.array([np.abs(count_table(codes, y, c, widths, k) - model_counts(probs, k, c, totals)).sum()
                     for c in candidates])


def fit_marginals(G, x: np.ndarray, y: np.ndarray, schema, releases: list, schedule: FitSchedule, *,
                  count_noise, score_noise, generator: torch.Generator, record=None, log=None) -> MarginalState:
    """Run the releases on the encoded rows (x, y) and fit G to them. count_noise(counts, std) -> noisy integer
    counts (the discrete Gaussian); score_noise(n, std) -> n Gaussian draws (float64 array); record(release) is
    called once per release, before it is drawn (the ledger)."""
    record = record or (lambda r: None)
    log = log or (lambda s: None)
    log(f"marginal round 0: measuring the (label, column) tables of {len(schema.features)} columns")
    k = G.num_classes
    codes, widths = block_codes(x, schema)
    J = len(widths)
    state = MarginalState()
    opt = torch.optim.Adam(G.parameters(), lr=schedule.lr, betas=schedule.betas)

    first, rest = releases[0], releases[1:]
    record(first)
    std0 = first.noise_multiplier * math.sqrt(first.coordinates)
    noisy1 = [count_noise(count_table(codes, y, (j,), widths, k), std0) for j in range(J)]
    # class totals: every round-0 table holds the class counts; their mean has J times less variance
    totals = np.maximum(np.mean([t.sum(1) for t in noisy1], axis=0), 1.0)
    state.class_totals, state.prior = totals, totals / totals.sum()
    state.targets = [Target((j,), torch.as_tensor(class_distributions(t, totals), dtype=torch.float32))
                     for j, t in enumerate(noisy1)]
    fit(G, state, schedule.steps_per_round, schedule, generator, opt)
    # the fits between rounds only steer the next selection: their total is capped (Adult at epsilon 10, 13 rounds of
    # 300 steps, spent 3,900 of its 5,200 Adam steps there; the final fit keeps its full length)
    rounds = len(rest) // 2
    between = min(schedule.steps_per_round, max(100, schedule.between_rounds_budget // max(rounds, 1)))
    candidates = list(itertools.combinations(range(J), 2))
    measured: set[tuple[int, int]] = set()
    for round_no, (sel, meas) in enumerate(zip(rest[0::2], rest[1::2]), start=1):
        if len(measured) == len(candidates):   # every pair measured: the rest of the budget is left unspent
            break
        record(sel)
        scores = pair_scores(G, codes, y, candidates, widths, totals, generator)
        noisy_scores = scores + score_noise(len(candidates), sel.noise_multiplier * math.sqrt(sel.coordinates))
        std = meas.noise_multiplier * math.sqrt(meas.coordinates)
        # AIM's rule: a table is worth measuring when its error exceeds the noise its measurement would add
        penalty = np.array([math.sqrt(2 / math.pi) * std * k * widths[a] * widths[b] for a, b in candidates])
        gain = noisy_scores - penalty
        order = [i for i in np.argsort(-gain) if candidates[i] not in measured][: meas.coordinates]
        chosen = [candidates[i] for i in order if gain[i] > 0] or [candidates[order[0]]]
        record(meas)
        for c in chosen:
            noisy = count_noise(count_table(codes, y, c, widths, k), std)
            state.targets.append(Target(c, torch.as_tensor(class_distributions(noisy, totals), dtype=torch.float32)))
            measured.add(c)
        log(f"marginal round {round_no}/{len(rest) // 2}: measured (label, a, b) tables of "
            + ", ".join(f"{schema.features[a].name} x {schema.features[b].name}" for a, b in chosen))
        fit(G, state, between, schedule, generator, opt)
    fit(G, state, schedule.final_steps, schedule, generator, opt)
    return state
