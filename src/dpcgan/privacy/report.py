"""privacy.json: what was run, what it guarantees, what it assumes public. Enough to recompute epsilon."""

from __future__ import annotations

import platform

import opacus
import torch

from .. import __version__
from .accountant import CONVERSIONS, ORDERS, PrivacyLedger
from .label_histogram import DP_HISTOGRAM, WARM_START_COUNTS
from .schema_release import SCHEMA_FROM_ROWS, schema_declared_public, schema_read_without_dp

MECHANISMS = {
    "split": "DP-SGD on the discriminator with DP-CGAN split clipping: each real record's gradient and each fake "
             "sample's gradient clipped separately to C, summed, Gaussian noise N(0, sigma^2 C^2) added once per step",
    "joint": "DP-SGD on the discriminator with joint clipping (basic DP-GAN): each real record's gradient plus that "
             "of its own fresh fake sample clipped together to C, summed, Gaussian noise N(0, sigma^2 C^2) once per step",
}


def pld_epsilon(ledger: PrivacyLedger, delta: float) -> float | None:
    """Epsilon of the ledger's events under PLD accounting, each with its exact mechanism (privacy/pld.py), or None
    if dp-accounting is not installed."""
    try:
        from .pld import ledger_epsilon
        return ledger_epsilon(ledger, delta)
    except ImportError:
        return None


PARTIAL_NOT_RELEASABLE = ("nothing in OUT.partial/ (the staging folder of a run that is training, was interrupted or "
                          "failed) is releasable, not even a generator.pt or privacy.json written there before a "
                          "failure: only the finished run directory OUT is")

ADJACENCY = ("add/remove one record, with the dataset size n treated as a public constant (q = B/n is computed "
             "from it)")


def privacy_report(*, cfg, plan, ledger: PrivacyLedger, spec, dataset_name: str, seeded: bool,
                   label_prior: list[float] | None = None, resumes: list | None = None) -> dict:
    """Build the privacy report from the ledger of steps that actually ran (and the prior the fakes used).
    resumes: the run's resume history (from its private record): every resume, and whether it was a fork."""
    private = cfg.mode != "off"
    label_prior = plan.label_prior if label_prior is None else label_prior
    dp_histogram = cfg.label_prior == DP_HISTOGRAM
    release = plan.schema_release if private else None
    eps = {c: (ledger.epsilon(cfg.delta, c) if private else None) for c in CONVERSIONS}
    # epsilon is the ledger's at the run's delta; a DP schema's category threshold adds its delta_threshold
    delta = cfg.delta + (plan.delta_threshold if private else 0.0)
    # only what does not depend on when the run was interrupted: how far it had got (reached_step,
    # steps_rerun_at_least) stays in the private record
    resumes = [{"from_step": r.get("from_step"), "fork": bool(r.get("fork"))} for r in (resumes or [])]
    table_schema = getattr(spec, "schema", None)
    # a schema drafted from the rows without DP (not declared public): its categories and bounds may reveal records
    schema_from_rows = table_schema is not None and schema_read_without_dp(table_schema)
    reasons = (["seeded with --seed: its noise and sampling can be replayed"] if seeded else []) + (
        [SCHEMA_FROM_ROWS + " (dpcgan schema draft without --epsilon; --schema-is-public declares it public)"]
        if schema_from_rows else [])
    not_for_release = "".join(f"NOT FOR RELEASE ({r}). " for r in reasons)
    report = {
        "guarantee": (
            not_for_release +
            f"({eps[cfg.conversion]:.4f}, {delta:g})-differential privacy for each record of the training data "
            f"({ADJACENCY}), for the released generator.pt and discriminator.pt and everything sampled "
            "from them." if private else
            "NONE: --mode off trains a non-private CGAN. Do not release anything from this run."),
        "report_this": None if not private else {
            "epsilon": eps[cfg.conversion], "delta": delta, "conversion": cfg.conversion,
            "how_to_quote": f"(epsilon = {eps[cfg.conversion]:.2f}, delta = {delta:g})-DP, "
                            + ("PLD accounting (privacy loss distributions, Google dp-accounting)" if cfg.conversion
                               == "pld" else f"RDP accounting with the {cfg.conversion} conversion")
                            + f", {ADJACENCY}"
                            + ("; NOT FOR RELEASE: seeded run" if seeded else "")
                            + (f"; NOT FOR RELEASE: {SCHEMA_FROM_ROWS}" if schema_from_rows else ""),
        },
        "epsilon": eps[cfg.conversion],
        "delta": delta,
        "delta_rdp": cfg.delta,
        "delta_note": "epsilon is converted from the ledger's RDP at delta_rdp (the run's --delta); delta adds the "
                      "delta_threshold of a DP-drafted schema (schema_draft below), if any",
        "headline_conversion": cfg.conversion,
        "epsilon_by_conversion": eps,
        "conversions": {
            "opacus": "Balle et al. 2020 (Opacus RDPAccountant.get_epsilon); tighter",
            "classic": "eps = min_a RDP(a) + log(1/delta)/(a-1) (Mironov 2017), as in the DP-CGAN paper",
            "pld": "privacy loss distributions of the same events, each with the mechanism that ran (Google "
                   "dp-accounting; privacy/pld.py): no RDP, tighter",
        },
        "mode": cfg.mode,
        "mechanism": MECHANISMS.get(cfg.mode, "none (non-private)"),
        "adjacency": ADJACENCY,
        "accountant": ("privacy loss distributions of the Poisson-subsampled Gaussian and of each release (Google "
                       "dp-accounting), with Renyi DP (Opacus RDPAccountant) as a cross-check" if cfg.conversion == "pld"
                       else f"Renyi DP of the Poisson-subsampled Gaussian mechanism (Opacus {opacus.__version__} "
                            "RDPAccountant)"),
        "rdp_orders": list(ORDERS),
        "sampling": "Poisson (each record included independently with probability q at each D step)",
        "sample_rate": plan.sample_rate,
        "noise_multiplier": plan.noise_multiplier,
        "noise_multiplier_source": None if not private else (
            f"calibrated to spend the epsilon cap in {plan.sigma_calibrated_for_steps} D steps"
            if plan.sigma_calibrated_for_steps else "given"),
        "max_grad_norm": cfg.max_grad_norm,
        "noise_std": None if not private else plan.noise_multiplier * cfg.max_grad_norm,
        "normaliser": f"expected batch size B = {cfg.batch_size}",
        "d_steps": ledger.d_steps if private else plan.steps,
        "label_histogram": None if not dp_histogram else {
            "mechanism": "discrete Gaussian mechanism on the training set's class counts (L2 sensitivity 1), "
                         f"integer noise N_Z(0, {cfg.label_histogram_noise:g}^2) per count (OpenDP's exact sampler; "
                         "its RDP is at most the Gaussian's); the integer counts clamped at 0 and normalised "
                         "(post-processing: the prior is a ratio of integers)",
            "event": "the ledger event with sample_rate 1 (composed with the D steps in the epsilon above)",
            "noise_multiplier": cfg.label_histogram_noise,
        },
        "warm_start": None if not (private and cfg.warm_start_noise) else {
            "mechanism": ("Gaussian mechanism on the per-class sums of records"
                          + (f" average-pooled to {cfg.warm_start_side} x {cfg.warm_start_side} (a fixed function "
                             "of one record, applied before clipping)" if cfg.warm_start_side else "")
                          + f", clipped to L2 norm {cfg.warm_start_clip:g} and divided by it (noise N(0, 2 x "
                          f"{cfg.warm_start_noise:g}^2) per entry) and on the class counts (integer noise N_Z(0, 2 x "
                          f"{cfg.warm_start_noise:g}^2), discrete Gaussian): one record changes one row by at most "
                          "1 and one count by 1, so together L2 sensitivity 1 at noise multiplier "
                          f"{cfg.warm_start_noise:g}; the released means (sums / noisy counts) pretrain G for "
                          f"{cfg.warm_start_steps} steps before the first D step (post-processing)"),
            "event": "a ledger event with sample_rate 1 (composed with the D steps in the epsilon above; events with "
                     "the same noise multiplier are listed together with their count)",
            "noise_multiplier": cfg.warm_start_noise,
        },
        "warm_start_embedding": None if not (private and cfg.warm_start_noise and cfg.warm_start_rff_noise) else {
            "mechanism": ("Gaussian mechanism on the per-class sums of random Fourier features phi(x) = [cos(Wx), "
                          f"sin(Wx)] / sqrt(F) of the records"
                          + (f" average-pooled to {cfg.embedding_side} x {cfg.embedding_side}"
                             if cfg.embedding_side else "")
                          + f" (F = {cfg.warm_start_rff_features} public frequencies W drawn from the run's "
                          "initialisation stream; ||phi(x)|| = 1 for every record, so L2 sensitivity 1 without "
                          f"clipping), noise N(0, {cfg.warm_start_rff_noise:g}^2) per entry; divided by the warm "
                          "start's noisy counts, the embeddings join G's pretraining as a squared-MMD match "
                          "(post-processing)"),
            "event": "a ledger event with sample_rate 1, release warm-start-embedding (composed in the epsilon above)",
            "noise_multiplier": cfg.warm_start_rff_noise,
        },
        "schema_draft": None if release is None else {
            "mechanism": "dpcgan schema draft --epsilon: one Gaussian release of per-column counts of the training "
                         "table (categories, bins of a public grid, missing cells; L2 sensitivity sqrt(J) for J "
                         "columns), noise multiplier s; categories kept above a threshold, bounds from noisy "
                         "quantiles (post-processing)",
            "event": "the ledger event with sample_rate 1 and noise_multiplier s (composed with the D steps in the "
                     "epsilon above); recorded once, before the first D step",
            "noise_multiplier": release.noise_multiplier,
            "delta_threshold": release.delta_threshold,
            "delta_threshold_note": "probability that a category held only by the differing record passed the "
                                    "threshold; added to delta",
            "epsilon_alone": release.epsilon, "delta_alone": release.delta,
        },
        "events": ledger.to_dict(),
        "epsilon_cap": cfg.target_epsilon,
        "epsilon_cap_note": "the most the run was allowed to spend (it stops before a step that would exceed it); "
                            "the spend is 'epsilon' above",
        "resumes": resumes,
        "resumes_note": ("every resume of this run after an interruption: from which D step (steps after it that had "
                         "run were run again; only the second run of them is in the released model), and whether it "
                         "resumed a checkpoint its run had already continued past (a fork: two releasable runs that "
                         "together cost more than one epsilon). How far the run had got before each interruption "
                         "depends on its timing and is in the private record (private/run.json)"),
        "partial_dir": PARTIAL_NOT_RELEASABLE,
        "fake_samples": {
            "count_per_d_step": cfg.batch_size if cfg.mode != "joint" else "one per real record (inside its clipped pair)",
            "label_prior": label_prior,
            "label_prior_source": cfg.label_prior,
            "note": ("fake labels come from the DP label histogram (accounted above), latents from N(0, I); no fake "
                     "depends on real records otherwise" if dp_histogram else
                     "fake labels come from the DP warm start's noisy class counts (clamped at 0 and normalised: "
                     "post-processing of that release, accounted above), latents from N(0, I); no fake depends on "
                     "real records otherwise" if cfg.label_prior == WARM_START_COUNTS else
                     "fake labels and latents come from public distributions, never from real records"),
        },
        "generator": "trained only through D (post-processing): fresh latents, public labels, no real data"
                     + (f"; the released weights are an exponential moving average (decay {cfg.g_ema:g}) of G's "
                        "weights, also post-processing" if cfg.g_ema > 0 else ""),
        "d_steps_per_g_step": cfg.d_steps_per_g,
        "g_steps_per_round": cfg.g_steps_per_round,
        "levers": lever_notes(cfg),
        "assumed_public": {
            "n": plan.n,
            "label_set": list(cfg.label_names) if cfg.label_names else list(range(spec.num_classes)),
            "image_shape": list(spec.image_shape),
            **({"image_size": cfg.image_size, "channels": cfg.channels,
                "image_shape_source": "given by the user (--image-size, --channels; Python: image_size=, channels=): "
                                      "every image converted to this mode and size on its own, never read off the "
                                      "images"}
               if cfg.channels is not None and cfg.image_size is not None
               and tuple(spec.image_shape) == (cfg.channels, cfg.image_size, cfg.image_size) else {}),
            "dataset": dataset_name,
            "architecture": spec.to_dict(),
            "hyperparameters": cfg.to_dict() | {"dataset": dataset_name},  # the data by name, not by location
            "preprocessing": "pixels / 255 (fixed; nothing fitted to the data)" if getattr(spec, "schema", None) is None
            else "table rows encoded by the public schema (one-hot categories, numerics scaled by the public bounds "
                 "and clipped to them, a missing indicator per nullable column; nothing fitted to the data)",
            **({"table_schema": spec.schema} if getattr(spec, "schema", None) is not None else {}),
        },
        "not_covered": [
            "the private/ folder of the run directory (metrics.jsonl: un-noised losses on real batches and real "
            "batch sizes; checkpoints; run.json: the data location and wall time) and the progress bar: keep them "
            "private",
            "running several trainings (or resuming one checkpoint twice) and keeping the best: each run costs its "
            "own epsilon",
            "any evaluation of this run against real data (dpcgan evaluate) is outside the guarantee",
            "choosing hyperparameters by looking at results on the private data is not accounted for",
        ] + ([SCHEMA_FROM_ROWS + " (dpcgan schema draft without --epsilon): its categories and bounds, published in "
              "config.json, privacy.json and generator.pt and fixing what the generator can emit, may reveal "
              "records. Draft it with --epsilon or write it from public knowledge; --schema-is-public declares "
              "it public"] if schema_from_rows else []),
        "epsilon_pld": pld_epsilon(ledger, cfg.delta) if private else None,
        "epsilon_pld_note": "privacy loss distribution accounting (Google dp-accounting, add/remove adjacency) of the "
                            "same events, each with the mechanism that ran, at delta_rdp: a valid bound (with delta as "
                            "above); the headline is the one of headline_conversion (pld when the run was "
                            "calibrated with it, the RDP conversions then a cross-check)",
        "randomness": ("seeded (--seed): reproducible experiment, NOT FOR RELEASE: noise and sampling can be replayed"
                       if seeded else "release mode: Poisson sampling and Gaussian noise keyed with 128 fresh bits of OS "
                       "entropy at every step; each gradient-noise coordinate the sum of 4 draws, each scaled to the "
                       "noise std before the sum, halved (Holohan & Braghin 2021) against floating-point attacks; "
                       "released counts (label histogram, warm-start counts, schema draft) with integer discrete "
                       "Gaussian noise from OpenDP's exact sampler"),
        "release": "not for release" if (seeded or not private or schema_from_rows) else "release",
        "not_for_release_reasons": (["not private (--mode off)"] if not private else []) + reasons,
        "schema_is_public": None if table_schema is None else schema_declared_public(table_schema),
        "schema_read_without_dp": None if table_schema is None else schema_from_rows,
        "software": {"dpcgan": __version__, "opacus": opacus.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }
    if private and cfg.target_epsilon is not None:
        assert eps[cfg.conversion] <= cfg.target_epsilon + 1e-9, "budget exceeded: refusing to write a false report"
    return report


def lever_notes(cfg) -> dict:
    """What each utility lever in use does to the privacy analysis (issue #11): only the warm start adds to the
    ledger (one full-data Gaussian release)."""
    notes = {
        "loss": f"{cfg.loss}: D's per-row loss; each unit's gradient is still bounded by C, so the sensitivity "
                "and the ledger are unchanged",
        "clipping": ("clip: each unit's gradient scaled by min(1, C/||g||), norm <= C" if cfg.clipping == "clip" else
                     f"normalize: each unit's gradient scaled by C/(||g|| + {cfg.normalize_gamma:g}) (per-example "
                     "normalisation, Bu et al. 2023), norm < C: the same sensitivity C and the same noise"),
    }
    if cfg.fake_reuse:
        notes["fake_reuse"] = ("one batch of B fakes per G step, reused by its D steps: fakes are a function of G "
                               "and public randomness only; the fake count per D step is still the public B")
    if cfg.g_batch_size is not None:
        notes["g_batch_size"] = (f"{cfg.g_batch_size} fresh public fakes per G step: G only; the fake count per D "
                                 f"step is still the public B = {cfg.batch_size}")
    if cfg.adaptive_d_steps:
        notes["adaptive_d_steps"] = (f"n_D starts at {cfg.d_steps_per_g} and rises when D's accuracy on fresh "
                                     f"fakes (EMA) is <= {cfg.adaptive_d_threshold:g}: it reads D and fakes only; "
                                     "every D step is a Poisson-sampled Gaussian step in the ledger above")
    if cfg.g_ema > 0:
        notes["g_ema"] = (f"released G is an EMA (decay {cfg.g_ema:g}"
                          + (", warm-up min(decay, (1+t)/(10+t))" if cfg.g_ema_warmup else "") + ") of G: post-processing")
    if cfg.bn_recalibrate:
        notes["bn_recalibrate"] = (f"G's BatchNorm statistics re-estimated on {cfg.bn_recalibrate} batches of "
                                   "public fakes before release: post-processing")
    if cfg.warm_start_noise:
        notes["warm_start"] = ("one Gaussian release of per-class means (noise multiplier "
                               f"{cfg.warm_start_noise:g}), in the ledger and in the epsilon; see 'warm_start'"
                               + (f"; G's loss adds {cfg.warm_start_anchor:g} x the class-mean match to the released "
                                  "means at every G step (post-processing of that release)"
                                  if cfg.warm_start_anchor else "")
                               + (f"; a second release of per-class mean embeddings (noise multiplier "
                                  f"{cfg.warm_start_rff_noise:g}), in the ledger and in the epsilon"
                                  + (f", matched with weight {cfg.warm_start_rff_anchor:g} at every G step"
                                     if cfg.warm_start_rff_anchor else "") if cfg.warm_start_rff_noise else ""))
    if cfg.mode_seeking > 0:
        notes["mode_seeking"] = f"G's loss adds {cfg.mode_seeking:g} x the mode-seeking term: G-only, post-processing"
    if cfg.d_mismatch > 0:
        notes["d_mismatch"] = (f"each real record also enters D with a wrong label drawn at random (target fake, loss "
                               f"weight {cfg.d_mismatch:g}) in the same clipping unit as the record itself: the unit "
                               "is still one record's gradient clipped to C, so the sensitivity is unchanged")
    return notes
