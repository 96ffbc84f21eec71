"""A marginal-fitted table run (arch "table-marginals"): its DP releases, G fitted to them, one run directory.

The releases and their noise are fixed by the plan (config.resolve_plan: privacy/marginal_budget.py) before any row
is read; each is recorded in the ledger as it is drawn, and privacy.json's epsilon comes from that ledger. The run
takes about a minute, so it keeps no checkpoint: an interrupted run leaves nothing and is trained again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig, marginal_releases, plural, resolve_plan
from ..errors import ConfigError
from ..io import save_torch_atomic, write_json_atomic
from ..models import ModelSpec, build_generator
from ..privacy.accountant import PrivacyLedger
from ..privacy.discrete_gaussian import add_discrete_gaussian, scale_at_least
from ..privacy.report import privacy_report
from ..privacy.schema_release import schema_release
from ..rng import make_generators
from ..sample import generator_checkpoint
from ..tables.calibrate import calibration_tables
from ..tables.marginal_fit import FitSchedule, fit_marginals
from ..tables.marginal_recipe import raked_tables, with_pair_rounds
from ..tables.schema import TableSchema
from .result import TrainResult, run_config
from .run_dir import StagedRunDir, public_dataset_name, update_private_record


def train_marginals(cfg: TrainConfig, data, out: str | Path | None = None, *, overwrite: bool = False,
                    progress: bool = True, resume: bool = False, world=None, data_location: dict | None = None):
    stored = getattr(data, "schema", None)
    if stored is None:
        raise ConfigError("architecture 'table-marginals' is for tables: train on a CSV with --schema FILE")
    schema = stored if isinstance(stored, TableSchema) else TableSchema.from_dict(stored)
    if resume:
        raise ConfigError("a marginal-fitted table run keeps no checkpoint (it takes about a minute): train it again "
                          "with --overwrite")
    if world is not None and world.size > 1:
        raise ConfigError("a marginal-fitted table run is a single process: train it without torchrun")
    cfg, _ = with_pair_rounds(cfg, schema, len(data), schema_release(stored))   # when not fixed by the caller
    plan = resolve_plan(cfg, len(data), data.num_classes, schema_release=schema_release(stored),
                        num_features=len(schema.features))
    spec = ModelSpec(cfg.arch, data.image_shape, data.num_classes, cfg.latent_dim, cfg.hidden, cfg.d_hidden,
                     schema=stored)
    gens = make_generators(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gens.init)))
        G = build_generator(spec)
    run = StagedRunDir(out, overwrite) if out is not None else None
    try:
        t0 = time.perf_counter()
        if run is not None:
            write_json_atomic(run.path / "config.json", run_config(cfg, plan, spec, data))
            update_private_record(run.path, **dict(data_location or {}, dataset=str(cfg.dataset)), resumes=[])
        ledger = PrivacyLedger()
        if plan.schema_release is not None:
            ledger.record_step(sample_rate=1.0, noise_multiplier=plan.schema_release.noise_multiplier,
                               **plan.schema_release.ledger_release())
        releases = marginal_releases(cfg, plan.table_features, plan.noise_multiplier)

        def record(r) -> None:
            ledger.record_step(sample_rate=1.0, noise_multiplier=r.noise_multiplier, release=r.release,
                               coordinates=r.coordinates)

        def score_noise(count: int, std: float) -> np.ndarray:
            return gens.noise.normal((count,), std, torch.zeros((), dtype=torch.float64)).numpy()

        log = (lambda s: print(s, file=sys.stderr, flush=True)) if progress else None
        schedule = FitSchedule(steps_per_round=cfg.marginal_fit_steps, final_steps=cfg.marginal_final_steps,
                               batch_per_class=cfg.marginal_batch_per_class, lr=cfg.g_lr, betas=cfg.g_betas)
        # the encoded rows, in memory (an on-disk table reads them in one slice): counting needs every row once
        x = np.asarray(data.x[0:len(data)]).reshape(len(data), -1)
        y = np.asarray(data.y, dtype=np.int64)
        state = fit_marginals(G, x, y, schema, releases, schedule,
                              count_noise=lambda c, std: add_discrete_gaussian(c, scale_at_least(std), gens.noise),
                              score_noise=score_noise, generator=gens.latent, record=record, log=log)
        wall = time.perf_counter() - t0
        eps = ledger.epsilon(cfg.delta, cfg.conversion)
        if cfg.target_epsilon is not None and eps > cfg.target_epsilon * (1 + 1e-9):
            raise ConfigError(f"internal: the releases spent epsilon {eps:.6f} > the cap {cfg.target_epsilon}")
        label_prior = [float(p) for p in state.prior]
        tables = calibration_tables(state.targets, raked_tables(state.targets))
        if run is None:
            return TrainResult(None, plan, ledger, eps, 0, wall, G, None, marginal_tables=tables)
        update_private_record(run.path, wall_time_s=round(wall, 2))
        report = privacy_report(cfg=cfg, plan=plan, ledger=ledger, spec=spec,
                                dataset_name=public_dataset_name(cfg.dataset), seeded=gens.seeded,
                                label_prior=label_prior, resumes=[])
        report |= marginal_report_fields(cfg, plan, state, schema, releases)
        # no D steps: no losses, checkpoints or batches to keep private, only the run record and the printed lines
        report["not_covered"][0] = ("the private/ folder of the run directory (run.json: the data location and wall "
                                    "time) and the lines printed while training (counts of clipped cells): keep them "
                                    "private")
        report["guarantee"] = report["guarantee"].replace("generator.pt and discriminator.pt", "generator.pt")
        save_torch_atomic(run.path / "generator.pt",
                          generator_checkpoint(G, spec, label_prior) | {"marginal_tables": tables})
        write_json_atomic(run.path / "privacy.json", report)
        result = TrainResult(None, plan, ledger, report["epsilon"], 0, wall, G, None, marginal_tables=tables)
        result.run_dir = run.commit()
        return result
    except BaseException:
        if run is not None:
            run.abort()
        raise


def marginal_report_fields(cfg, plan, state, schema, releases) -> dict:
    """privacy.json's mechanism fields for a run with no D steps (the rest of privacy_report applies as it is)."""
    tables = [" x ".join(["label"] + [schema.features[c].name for c in t.cols]) for t in state.targets]
    counts = [r for r in releases if r.release == "marginals"]
    return {
        "mechanism": "DP count tables (no discriminator, no D steps): Gaussian releases over the whole table, then a "
                     "generator fitted to them (post-processing)",
        "marginals": {
            "summary": (f"{plural(len(counts), 'release')} of count tables (the (label, column) table of each of "
                        f"the {plan.table_features} columns"
                        + (f", then {plural(len(counts) - 1, 'round')} of (label, a, b) tables chosen with noisy "
                           f"scores), {plural(len(releases) - len(counts), 'release')} of noisy scores"
                           if len(counts) > 1 else "; no pair tables, by the public rule of tables/marginal_recipe.py)")
                        + "; noise "
                        f"multipliers {', '.join(f'{r.noise_multiplier:.4g}' for r in releases)}; overall scale "
                        f"s = {plan.noise_multiplier:.4g}"),
            "count_tables": "discrete Gaussian N_Z(0, J s_i^2) on every count of the J tables of release i (one row "
                            "moves one count of each table by 1; OpenDP's exact sampler in release mode)",
            "scores": "for each pair of columns (a, b), the L1 distance between the (label, a, b) count table and the "
                      "current generator's (public) table times the released class totals; one row moves each of "
                      "the P scores by at most 1: N(0, P s_i^2) each (4-draw construction in release mode)",
            "tables_measured": tables,
            "label_shares": "the class totals of the round-0 tables (mean over the columns), post-processing",
            "fit": f"{state.fit_steps} Adam steps of G on the L1 distance between its per-class tables (softmax "
                   "probabilities over fresh latents) and the projected noisy tables: post-processing",
            "sampling": "a pool of G's draws raked (iterative proportional fitting) to the column shares of the "
                        "projected (label, column) tables under the label shares sampled, rows drawn by the raking "
                        "weights (tables/calibrate.py; the tables are stored in generator.pt): post-processing",
        },
        "accountant": ("privacy loss distributions of each release with the mechanism that ran (Google dp-accounting),"
                       " Renyi DP as a cross-check" if cfg.conversion == "pld" else
                       "Renyi DP of the Gaussian releases (Opacus RDPAccountant)"),
        "sampling": "none: every release reads the whole table",
        "sample_rate": 1.0,
        "noise_multiplier_source": "calibrated so that the releases spend the epsilon cap"
                                   if cfg.noise_multiplier is None else "given",
        "max_grad_norm": None, "noise_std": None, "normaliser": None, "d_steps": 0,
        "label_histogram": None, "warm_start": None,
        "fake_samples": {"label_prior": [float(p) for p in state.prior],
                         "label_prior_source": "the DP count tables (class totals)",
                         "note": "no fakes are compared with real rows: the generator only sees released tables"},
        "generator": "fitted to the released count tables only (post-processing): fresh latents, no real rows",
        "d_steps_per_g_step": None, "g_steps_per_round": None, "levers": {},
        "g_steps": state.fit_steps,
    }
