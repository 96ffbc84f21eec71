"""The training loop: private D steps on Poisson batches, post-processing G steps, one run directory."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..config import PrivacyPlan, TrainConfig, resolve_plan
from ..data import LabeledImages, PoissonSampler
from ..errors import ConfigError
from ..io import append_line, save_torch_atomic, write_bytes_atomic, write_json_atomic
from ..models import ModelSpec, build_models
from ..privacy.accountant import PrivacyLedger
from ..privacy.report import privacy_report
from ..rng import make_generators
from ..sample import generator_checkpoint, write_sample_grid
from .checkpoint import CHECKPOINT_NAME, data_fingerprint, load_checkpoint, save_checkpoint
from .run_dir import StagedRunDir
from .steps import DStepSettings, discriminator_step, generator_step


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


def d_learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear decay from d_lr to d_lr_final over d_lr_decay_steps, then constant (the paper's schedule)."""
    frac = min(step, cfg.d_lr_decay_steps) / max(cfg.d_lr_decay_steps, 1)
    return cfg.d_lr + (cfg.d_lr_final - cfg.d_lr) * frac


def run_config(cfg: TrainConfig, plan: PrivacyPlan, spec: ModelSpec, data: LabeledImages) -> dict:
    return {"config": cfg.to_dict(), "plan": plan.to_dict(), "model": spec.to_dict(),
            "dataset": {"name": data.name, "n": len(data), "num_classes": data.num_classes,
                        "image_shape": list(data.image_shape)}}


def train(cfg: TrainConfig, data: LabeledImages, out: str | Path | None = None, *, overwrite: bool = False,
          progress: bool = True, resume: bool = False) -> TrainResult:
    """Train DP-CGAN on `data` and (if `out`) write the run directory. Everything that can be checked
    without training is checked before anything is written. With resume=True, continue the interrupted run
    of `out` from its last checkpoint."""
    plan = resolve_plan(cfg, len(data), data.num_classes)
    spec = ModelSpec(cfg.arch, data.image_shape, data.num_classes, cfg.latent_dim, cfg.hidden)
    gens = make_generators(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gens.init)))
        G, D = build_models(spec, private=cfg.mode != "off")
    if out is None and resume:
        raise ConfigError("resume needs the run's output directory")
    run = StagedRunDir(out, overwrite, resume=resume) if out is not None else None
    try:
        result = _train(cfg, plan, spec, data, G, D, gens, run.path if run else None, progress, resume)
        if run is not None:
            (run.path / CHECKPOINT_NAME).unlink(missing_ok=True)
            result.run_dir = run.commit()
        return result
    except BaseException as e:
        # Keep an interrupted run that has a checkpoint (it can be resumed); remove anything else.
        if run is not None and not (run.path / CHECKPOINT_NAME).is_file():
            run.abort()
        elif run is not None and isinstance(e, KeyboardInterrupt):
            print(f"\ninterrupted: continue with `dpcgan train --resume {run.out}`")
        raise


def _train(cfg, plan, spec, data, G, D, gens, run_path, progress, resume) -> TrainResult:
    private = cfg.mode != "off"
    sigma = plan.noise_multiplier if private else 0.0
    d_opt = torch.optim.SGD(D.parameters(), lr=cfg.d_lr)
    g_opt = torch.optim.Adam(G.parameters(), lr=cfg.g_lr, betas=cfg.g_betas)
    ledger = PrivacyLedger()
    step = 0
    fingerprint = data_fingerprint(data.x, data.y) if run_path is not None else ""
    metrics_path = run_path / "metrics.jsonl" if run_path is not None else None
    if run_path is not None and resume:
        saved = json.loads((run_path / "config.json").read_text())
        if saved != run_config(cfg, plan, spec, data):
            raise ConfigError(f"{run_path}/config.json does not match this run's configuration and data; "
                              "resume with the same dataset (and --data-dir)")
        ckpt = load_checkpoint(run_path, spec=spec, fingerprint=fingerprint)
        if ckpt is not None:
            step = int(ckpt["step"])
            G.load_state_dict(ckpt["G"])
            D.load_state_dict(ckpt["D"])
            d_opt.load_state_dict(ckpt["d_opt"])
            g_opt.load_state_dict(ckpt["g_opt"])
            ledger = PrivacyLedger.from_events(ckpt["ledger"])
            gens.load_state(ckpt["rng"])
        # Rows logged after the checkpoint belong to steps that will run again.
        rows = metrics_path.read_text().splitlines() if metrics_path.is_file() else []
        kept = [r for r in rows if _row_step(r) is not None and _row_step(r) <= step]
        write_bytes_atomic(metrics_path, "".join(r + "\n" for r in kept).encode())
    elif run_path is not None:
        write_json_atomic(run_path / "config.json", run_config(cfg, plan, spec, data))

    sampler = PoissonSampler(data, plan.sample_rate, gens.sampling)
    prior = torch.tensor(plan.label_prior, dtype=torch.float)
    settings = DStepSettings(cfg.mode, cfg.batch_size, cfg.max_grad_norm, sigma)
    t0 = time.perf_counter()
    bar = tqdm(total=plan.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"DP-CGAN ({cfg.mode})")
    try:
        while step < plan.steps:
            if private:
                # Structural budget check, independent of the plan: never take a step that would cross it.
                eps_next = ledger.epsilon_after_next_step(sample_rate=plan.sample_rate, noise_multiplier=sigma,
                                                          delta=cfg.delta, conversion=cfg.conversion)
                if cfg.target_epsilon is not None and eps_next > cfg.target_epsilon:
                    break
            for group in d_opt.param_groups:
                group["lr"] = d_learning_rate(cfg, step)
            real_x, real_y = sampler.sample()
            d_stats = discriminator_step(D, d_opt, G, real_x, real_y, settings=settings, prior=prior,
                                         latent_gen=gens.latent, noise_gen=gens.noise)
            if private:
                ledger.record_step(sample_rate=plan.sample_rate, noise_multiplier=sigma)
            g_loss = generator_step(G, g_opt, D, batch_size=cfg.batch_size, prior=prior, latent_gen=gens.latent)
            step += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == plan.steps:
                eps = ledger.running_epsilon(cfg.delta, cfg.conversion) if private else math.inf
                row = {"step": step, "epsilon": eps if private else None, **d_stats, "g_loss": g_loss,
                       "d_lr": d_learning_rate(cfg, step - 1), "elapsed_s": round(time.perf_counter() - t0, 3)}
                bar.set_postfix(eps=f"{eps:.3f}", d_real=f"{d_stats['d_loss_real']:.3f}",
                                d_fake=f"{d_stats['d_loss_fake']:.3f}", g=f"{g_loss:.3f}", refresh=False)
                if metrics_path is not None:
                    append_line(metrics_path, json.dumps(row))
            if run_path is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < plan.steps:
                save_checkpoint(run_path, step=step, G=G, D=D, d_opt=d_opt, g_opt=g_opt, ledger=ledger, gens=gens,
                                spec=spec, fingerprint=fingerprint)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    report = privacy_report(cfg=cfg, plan=plan, ledger=ledger, spec=spec, dataset_name=data.name, seeded=gens.seeded)
    report["wall_time_s"] = round(wall, 2)
    if run_path is not None:
        save_torch_atomic(run_path / "generator.pt", generator_checkpoint(G, spec, plan.label_prior))
        save_torch_atomic(run_path / "discriminator.pt", {"spec": spec.to_dict(),
                          "state_dict": {k: v.detach().cpu() for k, v in D.state_dict().items()}})
        write_sample_grid(G, run_path / "samples.png", gens.preview)
        write_json_atomic(run_path / "privacy.json", report)
    return TrainResult(None, plan, ledger, report["epsilon"], step, wall, G, D)


def _row_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None  # a line torn by the interruption
