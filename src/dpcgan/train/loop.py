"""The training loop: private D steps on Poisson batches, post-processing G steps, one run directory.

Runs on one device, or in each of N torchrun processes (dpcgan.distributed): every rank runs this same loop on
its shard with the same ledger, budget checks and schedule, so all ranks take the same steps and stop together;
only rank 0 writes the run directory.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm  # a notebook widget in Jupyter, the plain bar in a terminal

from ..config import DP_HISTOGRAM, MARGINAL_ARCH, TrainConfig, resolve_plan
from ..data import LabeledImages, PoissonSampler
from ..distributed import World, resolve_device, to_device
from ..errors import ConfigError
from ..io import append_line, save_torch_atomic, write_bytes_atomic, write_json_atomic
from ..models import ModelSpec, build_models
from ..privacy.accountant import PrivacyLedger
from ..privacy.class_means import means_from_release, noisy_class_release, pooled_shape
from ..privacy.mean_embedding import (default_bandwidth, embeddings_from_release, noisy_class_embedding_sums,
                                      rff_frequencies)
from ..privacy.label_histogram import WARM_START_COUNTS, noisy_label_prior, prior_from_counts
from ..privacy.report import privacy_report
from ..privacy.schema_release import schema_release
from ..rng import make_generators
from ..sample import generator_checkpoint, write_sample_grid
from .checkpoint import (CHECKPOINT_NAME, data_fingerprint, load_checkpoint, mark_superseded, save_checkpoint,
                         supersede_checkpoint, superseded_at)
from .run_dir import (FINISHED_MARKER, METRICS_FILE, PROGRESS_DIR, StagedRunDir, public_dataset_name,
                      read_private_record, update_private_record)
from .result import TrainResult, run_config
from .losses import Anchors, ClassEmbeddingAnchor, ClassMeanAnchor
from .warm_start import pretrain_generator
from .schedule import DStepScheduler, ema_decay, fake_accuracy, recalibrate_batchnorm_
from .steps import (DStepSettings, discriminator_step, discriminator_update, generator_step, public_fake_batch,
                    public_labels, public_latent, step_mismatched_labels)

# fakes on which the adaptive n_D reads D's accuracy at each G step (public; Bie et al. use a batch)
ADAPTIVE_PROBE_FAKES = 256
BN_RECALIBRATE_BATCH = 512


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says whether the run was kept and how to resume it."""


def warmup_factor(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over the first warmup_steps D steps (step counts from 0)."""
    return min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0


def d_learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear decay from d_lr to d_lr_final over d_lr_decay_steps, then constant (the paper's schedule)."""
    frac = min(step, cfg.d_lr_decay_steps) / max(cfg.d_lr_decay_steps, 1)
    return (cfg.d_lr + (cfg.d_lr_final - cfg.d_lr) * frac) * warmup_factor(cfg, step)


def d_optimizer(cfg: TrainConfig, D: torch.nn.Module) -> torch.optim.Optimizer:
    # Adam only rescales the noisy gradient it is given: post-processing, no change to the privacy analysis.
    if cfg.d_optimizer == "adam":
        return torch.optim.Adam(D.parameters(), lr=cfg.d_lr, betas=cfg.d_betas)
    return torch.optim.SGD(D.parameters(), lr=cfg.d_lr)


@torch.no_grad()
def ema_update_(average: torch.nn.Module, current: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * current for weights; normalisation statistics are copied."""
    for a, c in zip(average.parameters(), current.parameters()):
        a.lerp_(c, 1.0 - decay)
    for a, c in zip(average.buffers(), current.buffers()):
        a.copy_(c)


def train(cfg: TrainConfig, data: LabeledImages, out: str | Path | None = None, *, overwrite: bool = False,
          progress: bool = True, resume: bool = False, device: str | torch.device | None = None,
          world: World | None = None, force: bool = False, data_location: dict | None = None) -> TrainResult:
    """Train DP-CGAN on `data` and (if `out`) write the run directory. Everything that can be checked
    without training is checked before anything is written. With resume=True, continue the interrupted run
    of `out` from its last checkpoint.

    device: 'cpu' (default), 'cuda', 'auto' or a torch.device. world: this process among the torchrun processes
    (default: from torch.distributed if initialised, else a single process); only rank 0 uses `out`.
    force: resume even a checkpoint that its run already continued past (a fork: costs more than one epsilon).
    data_location: where the data was read from (e.g. {"data_dir": ...}), kept in the run's private record so
    that `dpcgan train --resume OUT` finds it again."""
    if cfg.arch == MARGINAL_ARCH:   # no D steps: DP count tables and G fitted to them (train/marginal_run.py)
        from .marginal_run import train_marginals

        return train_marginals(cfg, data, out, overwrite=overwrite, progress=progress, resume=resume, world=world,
                               data_location=data_location)
    if cfg.mode != "off" and data.label_set_inferred:
        raise ConfigError("the label set was read off the private data (max label + 1, or an image folder's "
                          "subfolders), which the privacy analysis does not cover: give it as a public input with "
                          "--num-classes K or --label-names FILE (Python: DPCGAN.fit(..., labels=[...]) or "
                          "num_classes=K)")
    world = world or World.current()
    device = resolve_device(device)
    # a DP-drafted table schema (tables/dp_draft.py) was a release of this data: its cost is part of the budget
    plan = resolve_plan(cfg, len(data), data.num_classes, schema_release=schema_release(getattr(data, "schema", None)))
    # Identifies the data for --resume (kept in the private part of the run) and across processes.
    fingerprint = data_fingerprint(data.x, data.y) if (out is not None or world.size > 1) else ""
    world.check_same_data(len(data), fingerprint)
    spec = ModelSpec(cfg.arch, data.image_shape, data.num_classes, cfg.latent_dim, cfg.hidden, cfg.d_hidden,
                     schema=getattr(data, "schema", None),  # tables: the public schema (dpcgan.tables)
                     model_side=cfg.model_side or None)
    gens = make_generators(cfg.seed, rank=world.rank, world_size=world.size, device=device)
    world.make_sampling_streams_distinct(gens)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gens.init)))
        G, D = build_models(spec, private=cfg.mode != "off")
    G, D = G.to(device), D.to(device)
    world.broadcast_module_(G, D)  # release mode: each rank drew its own initialisation; use rank 0's
    if out is None and resume:
        raise ConfigError("resume needs the run's output directory")
    data_location = dict(data_location or {}, dataset=str(cfg.dataset))
    run = world.from_main(lambda: StagedRunDir(out, overwrite, resume=resume) if out is not None else None)
    try:
        result = _train(cfg, plan, spec, data, G, D, gens, run.path if run else None, progress and world.main,
                        resume, device, world, fingerprint, force, data_location)
        if run is not None:  # the checkpoint was superseded before the final files (supersede_checkpoint)
            result.run_dir = run.commit()
            (run.path / FINISHED_MARKER).unlink(missing_ok=True)
        return result
    except BaseException as e:
        # Keep an interrupted run that has a checkpoint (it can be resumed), or that failed writing its final files
        # (kept to inspect, never resumed); remove anything else.
        finished = run is not None and (run.path / FINISHED_MARKER).is_file()
        kept = run is not None and ((run.path / CHECKPOINT_NAME).is_file() or finished)
        if run is not None and not kept:
            run.abort()
        if isinstance(e, KeyboardInterrupt) and world.main:
            hint = (f"interrupted while writing the final files: {run.path} is kept but cannot be resumed (nothing "
                    "in it is releasable); train afresh with --overwrite" if finished else
                    f"interrupted: the run is kept in {run.path} (last checkpoint{_checkpoint_position(run.path, cfg, plan)}"
                    f"); continue it with `dpcgan train --resume {run.out}`" if kept else
                    "interrupted before the first checkpoint: nothing was kept")
            raise TrainingInterrupted(hint) from e
        raise


def _resume_or_start(cfg, plan, spec, data, run_path, fingerprint, resume, device, world, force,
                     data_location) -> dict | None:
    """Rank 0: check the run directory, load the checkpoint (None if none yet); write config.json if new.
    A resume is recorded in the private record (and later in privacy.json): from which step, how far the run
    had got, whether it is a fork."""
    if run_path is None:
        return None
    metrics_path = run_path / METRICS_FILE
    if not resume:
        write_json_atomic(run_path / "config.json", run_config(cfg, plan, spec, data))
        update_private_record(run_path, **data_location, resumes=[])
        return None
    saved = json.loads((run_path / "config.json").read_text())
    if saved != run_config(cfg, plan, spec, data):
        raise ConfigError(f"{run_path}/config.json does not match this run's configuration and data; "
                          "resume with the same dataset (and --data-dir)")
    ckpt = load_checkpoint(run_path, spec=spec, fingerprint=fingerprint, world_size=world.size,
                           device_type=device.type)
    step = int(ckpt["step"]) if ckpt is not None else 0
    continued = superseded_at(ckpt.get("checkpoint_id")) if ckpt is not None else None
    if continued is not None:
        message = (f"this checkpoint (D step {step}) was already continued past by its run (to step {continued}), "
                   "perhaps from a copy of this directory: resuming it again is a fork, and the two runs together "
                   "cost more than one epsilon (privacy.json will record it)")
        if not force:
            raise ConfigError(message + "; pass --force to resume anyway")
        print(f"WARNING: {message}", file=sys.stderr)
    # Rows logged after the checkpoint belong to steps that will run again.
    rows = metrics_path.read_text().splitlines() if metrics_path.is_file() else []
    logged = [_row_step(r) for r in rows if _row_step(r) is not None]
    reached = max(logged, default=step)
    kept = [r for r in rows if _row_step(r) is not None and _row_step(r) <= step]
    write_bytes_atomic(metrics_path, "".join(r + "\n" for r in kept).encode())
    resumes = read_private_record(run_path).get("resumes", [])
    resumes.append({"from_step": step, "reached_step": reached, "steps_rerun_at_least": max(0, reached - step),
                    "fork": continued is not None})
    update_private_record(run_path, resumes=resumes)
    return ckpt


def _train(cfg, plan, spec, data, G, D, gens, run_path, progress, resume, device, world, fingerprint,
           force, data_location) -> TrainResult:
    private = cfg.mode != "off"
    sigma = plan.noise_multiplier if private else 0.0
    d_opt = d_optimizer(cfg, D)
    G_ema = copy.deepcopy(G) if cfg.g_ema > 0 else None
    g_opt = torch.optim.Adam(G.parameters(), lr=cfg.g_lr, betas=cfg.g_betas)
    ledger = PrivacyLedger()
    step = 0
    metrics_path = run_path / METRICS_FILE if run_path is not None else None
    # Rank 0 reads the checkpoint (its file system); every rank gets it, each takes its own generator states.
    ckpt = world.from_main(lambda: _resume_or_start(cfg, plan, spec, data, run_path, fingerprint, resume, device,
                                                    world, force, data_location), share=resume and world.size > 1)
    checkpoint_id = None
    if ckpt is not None:
        checkpoint_id = ckpt.get("checkpoint_id")
        step = int(ckpt["step"])
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        d_opt.load_state_dict(ckpt["d_opt"])
        g_opt.load_state_dict(ckpt["g_opt"])
        ledger = PrivacyLedger.from_events(ckpt["ledger"])
        if G_ema is not None:
            G_ema.load_state_dict(ckpt["G_ema"])
        schedule_state = ckpt.get("schedule")
        gens.load_state(ckpt["rng_by_rank"][world.rank] if world.size > 1 else ckpt["rng"])
        if world.main:   # where the run stands, before any step: what the checkpoint holds and has spent
            spent = (f", epsilon {ledger.epsilon(cfg.delta, cfg.conversion):.4g} spent ({cfg.conversion})"
                     if cfg.mode != "off" else "")
            print(f"resuming from D step {step}/{plan.steps}{spent}", file=sys.stderr, flush=True)

    sampler = PoissonSampler(data, plan.sample_rate, gens.sampling, rank=world.rank, world_size=world.size)
    label_prior = plan.label_prior
    if private and plan.schema_release is not None and ckpt is None:
        # the schema's DP draft happened before training; recorded once, in a fresh run (a resumed run has it in the
        # checkpoint's ledger)
        ledger.record_step(sample_rate=1.0, noise_multiplier=plan.schema_release.noise_multiplier,
                           **plan.schema_release.ledger_release())
    if cfg.label_prior == DP_HISTOGRAM:
        if ckpt is not None:  # drawn (and recorded in the ledger) before the checkpoint: never draw it twice
            label_prior = ckpt["label_prior"]
        else:
            label_prior = world.from_main(lambda: noisy_label_prior(data.y, data.num_classes,
                                                                    cfg.label_histogram_noise, gens.noise),
                                          share=world.size > 1)
            ledger.record_step(sample_rate=1.0, noise_multiplier=cfg.label_histogram_noise, release="label-histogram")
    if cfg.label_prior == WARM_START_COUNTS:
        # a resumed run has it in the checkpoint; a fresh one takes it from the warm start's release, below
        label_prior = ckpt["label_prior"] if ckpt is not None else [1.0 / data.num_classes] * data.num_classes
    prior = torch.tensor(label_prior, dtype=torch.float, device=device)
    warm_start_means = ckpt.get("warm_start_means") if ckpt is not None else None
    warm_start_embedding = ckpt.get("warm_start_embedding") if ckpt is not None else None
    if cfg.warm_start_noise and ckpt is None:  # a resumed run has its warmed G (and the event) in the checkpoint
        if progress:
            print(f"DP warm start: releasing per-class means (noise multiplier {cfg.warm_start_noise:g}), then "
                  f"{cfg.warm_start_steps} G steps towards them ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        warm_start_means, warm_start_embedding, counts_prior = _warm_start(cfg, spec, data, G, G_ema, prior, gens,
                                                                           ledger, world, private, device)
        if counts_prior is not None:   # --label-prior warm-start-counts: every fake from here on, and the files
            label_prior = counts_prior
            prior = torch.tensor(label_prior, dtype=torch.float, device=device)
        if progress:
            print(f"DP warm start done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    mean_anchor = embedding_anchor = None   # G keeps matching the warm start's releases (post-processing)
    if cfg.warm_start_anchor and cfg.warm_start_noise:
        if warm_start_means is None:
            raise ConfigError("warm_start_anchor needs the warm start's released means, and this checkpoint has none "
                              "(it was written without the anchor): resume with warm_start_anchor = 0")
        mean_anchor = ClassMeanAnchor(warm_start_means.to(device), cfg.warm_start_side or None, cfg.warm_start_anchor)
    if cfg.warm_start_rff_anchor and cfg.warm_start_rff_noise and cfg.warm_start_noise:
        if warm_start_embedding is None:
            raise ConfigError("warm_start_rff_anchor needs the warm start's released mean embeddings, and this "
                              "checkpoint has none: resume with warm_start_rff_anchor = 0")
        embedding_anchor = _embedding_anchor(warm_start_embedding, cfg.embedding_side, cfg.warm_start_rff_anchor,
                                             device)
    anchor = Anchors.of(mean_anchor, embedding_anchor)
    g_loss = torch.full((), math.nan, device=device)
    settings = DStepSettings(cfg.mode, cfg.batch_size, cfg.max_grad_norm, sigma, loss=cfg.loss,
                             normalize_gamma=cfg.normalize_gamma if cfg.clipping == "normalize" else None,
                             mismatch=cfg.d_mismatch)
    # The G-step schedule: d_since_g D steps taken since the last G step, n_d of them wanted (fixed, or adaptive).
    scheduler = DStepScheduler(cfg.d_steps_per_g, cfg.adaptive_d_threshold, cfg.adaptive_d_grace) \
        if cfg.adaptive_d_steps else None
    n_d, d_since_g, g_steps = cfg.d_steps_per_g, step % cfg.d_steps_per_g, step // cfg.d_steps_per_g
    if ckpt is not None and schedule_state is not None:
        n_d, d_since_g, g_steps = schedule_state["n_d"], schedule_state["d_since_g"], schedule_state["g_steps"]
        if scheduler is not None:
            scheduler.load_state_dict(schedule_state["scheduler"])
    reused_fakes = None  # fake_reuse: the fakes of the current G state (regenerated after a resume)
    t0 = last_checkpoint_t = time.perf_counter()
    # Not a terminal (a log file, a notebook's captured output): a plain line per log row instead of tqdm frames.
    plain_progress = progress and not sys.stderr.isatty()
    bar = tqdm(total=plan.steps, initial=step, disable=not progress or plain_progress, unit="step",
               dynamic_ncols=True, desc=f"DP-CGAN ({cfg.mode})")
    grid_steps = {round(k * plan.steps / cfg.progress_grids) for k in range(1, cfg.progress_grids + 1)} \
        if cfg.progress_grids and run_path is not None and spec.schema is None else set()  # no grids of table rows
    if grid_steps:
        (run_path / PROGRESS_DIR).mkdir(exist_ok=True)
    try:
        while step < plan.steps:
            if private:
                # Structural budget check, independent of the plan: never take a step that would cross it.
                if cfg.target_epsilon is not None and not ledger.next_step_within(
                        cfg.target_epsilon, sample_rate=plan.sample_rate, noise_multiplier=sigma, delta=cfg.delta,
                        conversion=cfg.conversion):
                    break
            for group in d_opt.param_groups:
                group["lr"] = d_learning_rate(cfg, step)
            for group in g_opt.param_groups:
                group["lr"] = cfg.g_lr * warmup_factor(cfg, step)
            real_x, real_y = sampler.sample()  # this rank's shard
            real_x, real_y = to_device(real_x, device), to_device(real_y, device)
            if cfg.fake_reuse:
                # G has not changed since these fakes were drawn: the same public function of G and fresh latents
                if reused_fakes is None or d_since_g == 0:
                    reused_fakes = public_fake_batch(G, world.share(cfg.batch_size), prior, gens.latent)
                mismatch_y = step_mismatched_labels(settings, real_y, data.num_classes, gens.latent)
                d_stats = discriminator_update(D, d_opt, real_x, real_y, *reused_fakes, settings=settings,
                                               noise_gen=gens.noise, world=world, mismatch_y=mismatch_y)
            else:
                d_stats = discriminator_step(D, d_opt, G, real_x, real_y, settings=settings, prior=prior,
                                             latent_gen=gens.latent, noise_gen=gens.noise, world=world)
            if private:
                ledger.record_step(sample_rate=plan.sample_rate, noise_multiplier=sigma)
            d_since_g += 1
            if d_since_g == n_d:  # n_D fresh private D steps, then one public G step
                if scheduler is not None:  # D's accuracy on fresh public fakes, the same on every rank
                    acc = torch.tensor(fake_accuracy(D, *public_fake_batch(
                        G, world.share(ADAPTIVE_PROBE_FAKES), prior, gens.latent)) / world.size, device=device)
                    world.all_reduce_sum_([acc])
                for _ in range(cfg.g_steps_per_round):  # fresh public fakes each; D is fixed meanwhile
                    g_loss = generator_step(G, g_opt, D, batch_size=cfg.g_fakes_per_step, prior=prior,
                                            latent_gen=gens.latent, world=world, loss=cfg.loss,
                                            mode_seeking=cfg.mode_seeking, anchor=anchor)
                    if G_ema is not None:
                        ema_update_(G_ema, G, ema_decay(cfg.g_ema, g_steps, cfg.g_ema_warmup))
                    g_steps += 1
                d_since_g = 0
                if scheduler is not None:
                    n_d = scheduler.update(float(acc))
            step += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == plan.steps:
                eps = ledger.running_epsilon(cfg.delta, cfg.conversion) if private else math.inf
                stats = summarize(d_stats, g_loss, world, private)  # a collective: all ranks log the same steps
                row = {"step": step, "epsilon": eps if private else None, **stats, "g_steps": g_steps, "n_d": n_d,
                       "d_lr": d_learning_rate(cfg, step - 1), "elapsed_s": round(time.perf_counter() - t0, 3)}
                bar.set_postfix(eps=f"{eps:.3f}", d_real=f"{stats['d_loss_real']:.3f}",
                                d_fake=f"{stats['d_loss_fake']:.3f}", g=f"{stats['g_loss']:.3f}", refresh=False)
                if metrics_path is not None:
                    append_line(metrics_path, json.dumps(row))
                if plain_progress:
                    print(f"step {step}/{plan.steps}  eps {eps:.3f}  d_real {stats['d_loss_real']:.3f}  "
                          f"d_fake {stats['d_loss_fake']:.3f}  g {stats['g_loss']:.3f}  "
                          f"{row['elapsed_s']:.0f} s", file=sys.stderr, flush=True)
            if step in grid_steps:  # the released G's history: post-processing, covered by the run's epsilon
                write_sample_grid(G_ema if G_ema is not None else G,
                                  run_path / PROGRESS_DIR / f"step_{step:07d}.png", gens.preview)
            timed = (world.size == 1 and run_path is not None and cfg.checkpoint_minutes > 0
                     and time.perf_counter() - last_checkpoint_t >= 60 * cfg.checkpoint_minutes)
            if ((cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or timed) and step < plan.steps:
                last_checkpoint_t = time.perf_counter()
                new_id = _checkpoint(run_path, step=step, G=G, D=D, d_opt=d_opt, g_opt=g_opt, ledger=ledger,
                                     gens=gens, spec=spec, fingerprint=fingerprint, device=device, world=world,
                                     G_ema=G_ema, label_prior=label_prior, warm_start_means=warm_start_means,
                                     warm_start_embedding=warm_start_embedding,
                                     schedule={
                                         "n_d": n_d, "d_since_g": d_since_g, "g_steps": g_steps,
                                         "scheduler": scheduler.state_dict() if scheduler is not None else None})
                if run_path is not None:
                    mark_superseded(checkpoint_id, step)  # the run went past the previous checkpoint
                    checkpoint_id = new_id
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    world.check_identical(G, D)
    if G_ema is not None:
        G = G_ema  # the average is the released generator
    if cfg.bn_recalibrate:  # statistics for the released weights, from public fakes (post-processing)
        if progress:
            print(f"re-estimating the released G's BatchNorm statistics on {cfg.bn_recalibrate} x "
                  f"{BN_RECALIBRATE_BATCH} public fakes ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        recalibrate_batchnorm_(G, lambda: (public_latent(G, BN_RECALIBRATE_BATCH, gens.latent),
                                           public_labels(BN_RECALIBRATE_BATCH, prior, gens.latent)),
                               cfg.bn_recalibrate)
        if progress:
            print(f"BatchNorm statistics re-estimated in {time.perf_counter() - started:.1f} s", file=sys.stderr,
                  flush=True)
    G, D = G.cpu(), D.cpu()  # the result and the files are on the CPU, whatever the training device
    if run_path is None:
        epsilon = ledger.epsilon(cfg.delta, cfg.conversion) if private else None
        return TrainResult(None, plan, ledger, epsilon, step, wall, G, D)
    # Done training: the checkpoint is superseded before any final file, so a failure from here on cannot be
    # resumed into a second generator.
    supersede_checkpoint(run_path, checkpoint_id, step)
    # The wall time depends (weakly) on the private batch sizes: it stays in the private record.
    resumes = update_private_record(run_path, wall_time_s=round(wall, 2))["resumes"]
    report = privacy_report(cfg=cfg, plan=plan, ledger=ledger, spec=spec,
                            dataset_name=public_dataset_name(cfg.dataset), seeded=gens.seeded,
                            label_prior=label_prior, resumes=resumes)
    report["g_steps"] = g_steps
    save_torch_atomic(run_path / "generator.pt", generator_checkpoint(G, spec, label_prior))
    save_torch_atomic(run_path / "discriminator.pt", {"spec": spec.to_dict(),
                      "state_dict": {k: v.detach().cpu() for k, v in D.state_dict().items()}})
    if spec.schema is None:
        write_sample_grid(G, run_path / "samples.png", gens.preview)
    write_json_atomic(run_path / "privacy.json", report)
    return TrainResult(None, plan, ledger, report["epsilon"], step, wall, G, D, checkpoint_id)


def _embedding_anchor(embedding: dict, side: int | None, weight: float, device) -> ClassEmbeddingAnchor:
    return ClassEmbeddingAnchor(embedding["frequencies"].to(device), embedding["embeddings"].to(device), side, weight)


def _warm_start(cfg, spec, data, G, G_ema, prior, gens, ledger, world, private,
                device) -> tuple[torch.Tensor, dict | None, list[float] | None]:
    """Release the DP per-class means (one ledger event) and, with warm_start_rff_noise, the per-class mean
    embeddings (a second one), then pretrain G towards them (post-processing). Returns the released means,
    {"frequencies", "embeddings"} (or None): G's anchors, if any, keep matching them, and with --label-prior
    warm-start-counts the prior made of the released noisy counts (G's pretraining already used it), else None."""
    if world.size > 1:
        raise ConfigError("the DP warm start (warm_start_noise) runs in a single process for now: train without "
                          "torchrun, or set warm_start_noise = 0")
    if cfg.warm_start_rff_noise and spec.schema is not None:   # refused before anything is released
        raise ConfigError("warm_start_rff_noise (mean embeddings of random Fourier features) is for images; set "
                          "warm_start_rff_noise = 0 for tables")
    side, embedding_side = cfg.warm_start_side or None, cfg.embedding_side
    pooled_sides = {"warm_start_side": side} | ({"warm_start_rff_side": embedding_side} if cfg.warm_start_rff_noise
                                                else {})
    for key, pooled in pooled_sides.items():
        if pooled is not None and (spec.schema is not None or pooled > min(data.image_shape[1:])):
            raise ConfigError(f"{key} = {pooled} pools images to side x side: it needs images at least that large "
                              f"(records here have shape {tuple(data.image_shape)}); set {key} = 0")
    sums, counts = noisy_class_release(data, data.num_classes, cfg.warm_start_clip, cfg.warm_start_noise, gens.noise,
                                       side)
    means = means_from_release(sums, counts, cfg.warm_start_clip, pooled_shape(data.image_shape, side),
                               value_range=(0.0, 1.0) if spec.schema is None else None)
    if private:
        ledger.record_step(sample_rate=1.0, noise_multiplier=cfg.warm_start_noise, release="warm-start")
    counts_prior = None
    if cfg.label_prior == WARM_START_COUNTS:   # post-processing of the counts just released
        counts_prior = prior_from_counts(counts.tolist())
        prior = torch.tensor(counts_prior, dtype=torch.float, device=device)
    embedding = extra = None
    if cfg.warm_start_rff_noise:
        # The frequencies are public: drawn from the initialisation stream, never from the data.
        pixels = math.prod(pooled_shape(data.image_shape, embedding_side))
        frequencies = rff_frequencies(pixels, cfg.warm_start_rff_features,
                                      cfg.warm_start_rff_bandwidth or default_bandwidth(pixels),
                                      int(torch.randint(0, 2**62, (1,), generator=gens.init)))
        embedding_sums = noisy_class_embedding_sums(data, data.num_classes, frequencies, cfg.warm_start_rff_noise,
                                                    gens.noise, embedding_side)
        if private:
            ledger.record_step(sample_rate=1.0, noise_multiplier=cfg.warm_start_rff_noise,
                               release="warm-start-embedding")
        # divided by the counts of the first release (post-processing: no new release of the counts)
        embedding = {"frequencies": frequencies.to(torch.float32),
                     "embeddings": embeddings_from_release(embedding_sums, counts)}
        extra = _embedding_anchor(embedding, embedding_side, cfg.warm_start_rff_anchor or 1.0, device)
    pretrain_generator(G, means.to(device), steps=cfg.warm_start_steps, batch_size=cfg.g_fakes_per_step,
                       lr=cfg.g_lr, betas=cfg.g_betas, prior=prior, latent_gen=gens.latent, side=side, extra=extra)
    if G_ema is not None:  # the average starts from the warmed G, not from the random initialisation
        G_ema.load_state_dict(G.state_dict())
    return means.cpu(), embedding, counts_prior


def summarize(d_stats: dict, g_loss: torch.Tensor, world: World, private: bool) -> dict:
    """The last step's statistics over all ranks, as floats: the loop's only host-device sync, at log time."""
    keys = ("real_batch_size", "d_loss_real_sum", "fake_count", "d_loss_fake_sum", "clipped_units", "units")
    values = torch.stack([torch.as_tensor(d_stats.get(k, 0), dtype=torch.float64, device=g_loss.device) for k in keys]
                         + [g_loss.to(torch.float64)])
    world.all_reduce_sum_([values])
    m, loss_real, f, loss_fake, clipped, units, g = values.tolist()
    out = {"real_batch_size": int(m), "d_loss_real": loss_real / m if m else math.nan,
           "d_loss_fake": loss_fake / f if f else math.nan}
    if private:
        out["clipped_fraction"] = clipped / units if units else 0.0
    return out | {"g_loss": g}


def _checkpoint(run_path, *, gens, world, device, **state) -> str | None:
    """Every rank's generator states go into rank 0's checkpoint (a collective: all ranks call this). Returns the
    checkpoint's id on rank 0."""
    rng_by_rank = world.all_gather_object(gens.state()) if world.size > 1 else None
    world.check_identical(state["G"], state["D"])
    if run_path is not None:
        return save_checkpoint(run_path, gens=gens, rng_by_rank=rng_by_rank, device_type=device.type, **state)
    return None


def _checkpoint_position(path: Path, cfg, plan) -> str:
    """', at D step s/T, epsilon e spent' for the checkpoint in path (issue 24 item 14); '' if it cannot be read."""
    try:
        ckpt = torch.load(path / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
        where = f", at D step {int(ckpt['step'])}/{plan.steps}"
        if cfg.mode == "off":
            return where
        spent = PrivacyLedger.from_events(ckpt["ledger"]).epsilon(cfg.delta, cfg.conversion)
        return f"{where}, epsilon {spent:.4g} spent ({cfg.conversion})"
    except Exception:   # the hint must never hide the interruption itself
        return ""


def _row_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None  # a line torn by the interruption
