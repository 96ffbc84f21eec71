"""Training configuration: one frozen dataclass, named presets, and the resolution of the privacy plan.

Every default lives here. `resolve_plan` turns a config and the (public) dataset size into the exact
mechanism that will run: sample rate q, noise multiplier sigma and number of D steps.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import auto_recipe
from .data.sampler import poisson_sample_rate
from .errors import ConfigError, PrivacyBudgetError
from .privacy import accountant, pld
from .privacy.events import SampledGaussianEvent
from .privacy.label_histogram import DP_HISTOGRAM, WARM_START_COUNTS
from .privacy.marginal_budget import plan_marginal_releases
from .privacy.schema_release import SchemaRelease

MODES = ("split", "joint", "off")
MARGINAL_ARCH = "table-marginals"   # tables fitted to DP count tables (tables/marginal_fit.py), no D steps
TABLE_ARCHS = ("table-mlp", MARGINAL_ARCH)
LOSSES = ("bce", "hinge")
CLIPPINGS = ("clip", "normalize")
D_OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainConfig:
    # data and model
    dataset: str = "mnist"              # 'mnist', 'fashion-mnist' or a path to a .npz of labeled images
    num_classes: int | None = None      # label-set size K for your own data (public); benchmarks know theirs
    label_names: tuple[str, ...] | None = None  # the public label set by name (K = its length); sampled labels
                                        # map back to these names
    image_size: int | None = None       # image folders: every image resized to image_size × image_size (public;
                                        # required with channels: the shape is never read off the images)
    channels: int | None = None         # image folders: 1 (grey) or 3 (RGB), every image converted to it (public)
    arch: str = "paper-fc"
    latent_dim: int = 100
    hidden: int = 128                   # G's width (FC: hidden units; conv: base channels); D's too unless d_hidden
    d_hidden: int | None = None         # D's width, when it differs from G's
    model_side: int = 0                 # conv: G and D work at model_side x model_side (D average-pools each image
                                        # to it, G's samples are upsampled bilinearly to the data's side); 0: the
                                        # data's own side. A fixed function of each record: no privacy effect
    # DP-CGAN discriminator step
    mode: str = "split"                 # split: DP-CGAN; joint: clip (real, fake) pairs; off: no privacy
    batch_size: int = 600               # expected real batch B = q*n; also the fixed, public fake count
    noise_multiplier: float | None = 1.12   # sigma; None: calibrate to target_epsilon for `steps`
    max_grad_norm: float = 1.1          # C
    delta: float = 1e-5
    target_epsilon: float | None = 9.6  # None: run `steps` and report epsilon
    steps: int | None = None            # D steps; None: as many as the budget allows
    sigma_calibration_steps: int | None = None  # with sigma None: calibrate sigma to spend target_epsilon in this
                                        # many D steps (None: in `steps`); `dpcgan train --steps T` on a preset
                                        # keeps the preset's sigma this way and only changes the run's length
    conversion: str = "classic"         # accounting that enforces the budget (headline): RDP "classic" or "opacus", or "pld"
    label_prior: str = "uniform"        # fake-label distribution: 'uniform', a file of K public weights, or
                                        # 'dp-histogram': the label counts + N(0, s^2) each, its cost in the budget;
                                        # 'warm-start-counts': the DP warm start's noisy counts (no extra release)
    label_histogram_noise: float = 100.0    # s, the noise std per count of the DP label histogram (sensitivity 1)
    # optimisation (none of these touch the privacy analysis: it depends on q, sigma, C and the D step count only)
    d_optimizer: str = "sgd"            # 'sgd' (the paper) or 'adam' on the noisy clipped gradient
    d_lr: float = 0.1
    d_lr_final: float = 0.052           # linear decay from d_lr to d_lr_final over d_lr_decay_steps, then flat
    d_lr_decay_steps: int = 10_000
    d_betas: tuple[float, float] = (0.5, 0.999)   # Adam only
    d_steps_per_g: int = 1              # n_D: D steps (each a fresh Poisson batch, each accounted) per G step
    g_steps_per_round: int = 1          # G steps after each round of n_D D steps (G only: no privacy effect)
    g_lr: float = 1e-3
    g_betas: tuple[float, float] = (0.9, 0.999)
    g_batch_size: int | None = None     # fakes per G step (public); None: batch_size
    g_ema: float = 0.0                  # decay of an exponential moving average of G's weights (the released G); 0: off
    warmup_steps: int = 0               # linear learning-rate warm-up of D and G over the first D steps
    # utility levers (issue #11). None touches the privacy analysis: the loss and the normalisation change what
    # each unit's gradient is, not its bound C; the rest reads only G, D and public fakes (post-processing).
    loss: str = "bce"                   # D and G loss: 'bce' (non-saturating G) or 'hinge'
    clipping: str = "clip"              # 'clip': min(1, C/||g||); 'normalize': C/(||g|| + normalize_gamma) (Bu et al.)
    normalize_gamma: float = 0.01       # gamma of per-example normalisation, in units of the gradient norm
    fake_reuse: bool = False            # one fake batch per G step, reused by its n_D D steps (G is frozen between)
    adaptive_d_steps: bool = False      # raise n_D (from d_steps_per_g) when D's accuracy on fresh fakes drops
    adaptive_d_threshold: float = 0.6   # ... at or below this (EMA 0.99 of the accuracy at each G step)
    adaptive_d_grace: int = 200         # ... after at least this many G steps at the current n_D
    g_ema_warmup: bool = False          # EMA decay min(g_ema, (1+t)/(10+t)) at G step t (forgets early G quickly)
    bn_recalibrate: int = 0             # batches of 512 public fakes to re-estimate G's BatchNorm statistics for
                                        # the released weights before saving; 0: keep the last raw G's statistics
    mode_seeking: float = 0.0           # weight of Mao et al.'s mode-seeking term in G's loss (against collapse)
    d_mismatch: float = 0.0             # weight of each real record's mismatched-label row in D's loss (target
                                        # fake, in the record's own clipping unit: train/steps.py); 0: off
    # DP warm start (issue #11): one Gaussian release of per-class mean records (noise multiplier
    # warm_start_noise, each record clipped to L2 norm warm_start_clip; its cost composed with the D steps and
    # included when sigma is calibrated), then warm_start_steps G steps matching G's per-class means to them
    warm_start_noise: float = 0.0       # s of that release; 0: no warm start
    warm_start_clip: float = 8.0        # C_w, in the units of a record (pixels in [0, 1]: MNIST digits ~9)
    warm_start_steps: int = 200
    warm_start_side: int = 0            # release the means of images average-pooled to side x side (coarse shapes,
                                        # less noise per released pixel); 0: full resolution
    warm_start_anchor: float = 0.0      # weight of the same class-mean match in every G step of the GAN (keeps each
                                        # label's coarse shape while D's gradients are noisy); post-processing;
                                        # inert without a warm start
    # ... and a second release (DP-MERF, FETA-Pro): per-class mean embeddings of warm_start_rff_features random
    # Fourier features of the (pooled) images, noise multiplier warm_start_rff_noise (privacy/mean_embedding.py)
    warm_start_rff_noise: float = 0.0   # s of that release; 0: not released (inert without the warm start,
                                        # whose noisy counts it divides by: warm_start_noise = 0 turns both off)
    warm_start_rff_features: int = 1000  # F frequencies (2F released numbers per class)
    warm_start_rff_bandwidth: float = 0.0  # kernel length scale; 0: sqrt(0.05 x released pixels), a public rule
    warm_start_rff_anchor: float = 0.0  # weight of the squared-MMD match to those embeddings in every G step (and
                                        # in pretraining, where 0 counts as 1); post-processing
    warm_start_rff_side: int | None = None  # the embeddings' images average-pooled to side x side; None: as the
                                        # means (warm_start_side); 0: full resolution (the sensitivity stays 1)
    # marginal-fitted tables (arch "table-marginals", tables/marginal_fit.py): no D steps; the budget goes to DP count
    # tables ((label, column) for every column, then `marginal_rounds` rounds that each measure the
    # `marginal_tables_per_round` (label, a, b) tables the generator fits worst, chosen with noisy scores), and G is
    # fitted to them (post-processing): marginal_fit_steps Adam steps after each round, marginal_final_steps at the end.
    # marginal_rounds None: fixed from public facts (n, epsilon, domain sizes) by tables/marginal_recipe.py
    marginal_rounds: int | None = None
    marginal_tables_per_round: int = 4
    marginal_fit_steps: int = 300
    marginal_final_steps: int = 1000
    marginal_batch_per_class: int = 512   # latents per class on which G's tables are estimated at each fitting step
    marginal_numeric_bins: int = 20       # bins of a numeric column without its own schema `bins`
    # bookkeeping
    seed: int | None = None             # None: OS entropy (release mode); an int: reproducible, not for release
    log_every: int = 100
    checkpoint_every: int = 2000        # D steps between checkpoints (for --resume); 0 disables
    checkpoint_minutes: float = 5.0     # also checkpoint when this much wall time has passed since the last one
                                        # (single process; 0 disables), so that short runs can be resumed too
    progress_grids: int = 8             # sample grids saved during training (RUN/progress/), evenly spaced; 0: none

    def __post_init__(self):
        # The warm start's counts prior is inert without the warm start, like its anchors: `--set
        # warm_start_noise=0` over auto then gives the public uniform prior (and config.json says so), not an error.
        if self.label_prior == WARM_START_COUNTS and not self.warm_start_noise:
            object.__setattr__(self, "label_prior", "uniform")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    @property
    def embedding_side(self) -> int | None:
        """The side the mean embeddings' images are pooled to (warm_start_rff_side, or the means' side when it is
        None); None: full resolution."""
        side = self.warm_start_side if self.warm_start_rff_side is None else self.warm_start_rff_side
        return side or None

    @property
    def g_fakes_per_step(self) -> int:
        """Fresh public fakes per G step: g_batch_size, or B when unset."""
        return self.g_batch_size or self.batch_size

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"g_betas": list(self.g_betas), "d_betas": list(self.d_betas),
                                           "label_names": None if self.label_names is None else list(self.label_names)}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys {sorted(unknown)}")
        d = dict(d)
        for key in ("g_betas", "d_betas", "label_names"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


PRESET_DIR = Path(__file__).resolve().parent / "presets"   # one TOML file per preset (issue 24 item 4)


@dataclass(frozen=True)
class PresetFile:
    """A preset as data: its settings, what it is for and the results file that justifies it."""

    config: TrainConfig
    use_for: str
    results: str


def read_preset_file(path: Path) -> PresetFile:
    """A preset file: `use_for`, `results`, optional `unset` (fields set to none, e.g. a sigma calibrated to the cap)
    and a [config] table of TrainConfig fields (the rest keep their defaults)."""
    from .io import read_toml_or_json

    d = read_toml_or_json(path, flag="preset file", default_format="toml")
    if not isinstance(d, dict) or not isinstance(d.get("config", {}), dict):
        raise ConfigError(f"{path}: a preset file holds use_for, results, unset and a [config] table")
    unknown = sorted(set(d) - {"use_for", "results", "unset", "config"})
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown} (a preset file holds use_for, results, unset, [config])")
    fields = dict(d.get("config", {})) | {k: None for k in d.get("unset", [])}
    try:
        config = TrainConfig.from_dict(TrainConfig().to_dict() | fields)
    except (ConfigError, TypeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return PresetFile(config, str(d.get("use_for", "")), str(d.get("results", "")))


PRESET_FILES: dict[str, PresetFile] = {p.stem: read_preset_file(p) for p in sorted(PRESET_DIR.glob("*.toml"))}
PRESETS: dict[str, TrainConfig] = {name: f.config for name, f in PRESET_FILES.items()}

# --preset auto (auto_recipe.py): the recipe is chosen from n, epsilon, delta, the image shape and K, so it is
# resolved where those are known (`dpcgan train`, DPCGAN.fit, `dpcgan presets --explain`); this is the base its
# choices are applied to. The headline accounting is PLD: the same promise with less noise than RDP.
AUTO_BASE = PRESETS["mnist-eps1"].replace(dataset="", conversion="pld", warm_start_noise=0.0)
PRESET_NAMES = (*sorted(PRESETS), auto_recipe.NAME)
# What each preset is for (`dpcgan presets`), and the results file that justifies it.
USE_FOR = {name: f"{f.use_for}: {f.results}" for name, f in PRESET_FILES.items()} | {
    auto_recipe.NAME: "your own images, any size and epsilon (the default for them): docs/auto.md, "
                      "results/owndata.md",
}
DEFAULT_TABLE_PRESET = "table-marginals"   # tables given no preset
MAX_TABLE_SAMPLE_RATE = 0.2           # a table preset's B is cut to this share of n (batch_for_size)


def batch_for_size(cfg: TrainConfig, n: int) -> tuple[TrainConfig, str | None]:
    """A preset's batch made to fit a small table: B at most 20 % of n (a power of 2, at least 8), since a batch
    near n is no subsample. n is public; the reason is printed. Unchanged when B already fits."""
    limit = MAX_TABLE_SAMPLE_RATE * n
    if cfg.batch_size <= limit:
        return cfg, None
    batch = max(8, 2 ** int(math.floor(math.log2(max(limit, 1)))))
    if batch >= n:
        return cfg, None   # too small for any batch: resolve_plan says so
    return cfg.replace(batch_size=batch), (f"batch B {batch}: the preset's {cfg.batch_size} is more than "
                                            f"{MAX_TABLE_SAMPLE_RATE:.0%} of n = {n} (--batch-size sets it)")


def auto_config(n: int, image_shape: tuple[int, int, int], num_classes: int, epsilon: float | None = None,
                delta: float | None = None) -> tuple[TrainConfig, list[str]]:
    """The auto recipe for this data (public facts only) and one line of reason per choice. epsilon None: 10."""
    reasons = [] if epsilon is not None else ["epsilon 10: auto's default (set --epsilon)"]
    choice = auto_recipe.choose(n, 10.0 if epsilon is None else epsilon, tuple(image_shape), num_classes, delta)
    return AUTO_BASE.replace(**choice.changes), reasons + choice.reasons


def preset(name: str) -> TrainConfig:
    if name == auto_recipe.NAME:
        raise ConfigError("the auto recipe depends on the data's size and shape: resolve it with auto_config(n, shape, "
                          "K, epsilon, delta)")
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {list(PRESET_NAMES)}")
    return PRESETS[name]


def apply_budget(cfg: TrainConfig, *, epsilon: float | None = None, sigma: float | None = None,
                 steps: int | None = None) -> TrainConfig:
    """How epsilon, sigma and steps given by the user combine with a preset: the one rule of `dpcgan train` and
    DPCGAN(...) alike.

    steps T alone: the preset's sigma (a calibrating preset: the sigma it calibrates for its own steps), T steps.
    epsilon E alone: the cap E (a calibrating preset: sigma calibrated to spend E in its steps).
    epsilon E and steps T: sigma calibrated to spend E in T steps.
    sigma S and steps T: T steps with sigma S, the epsilon spent reported (no cap).
    """
    changes: dict = {}
    if steps is not None and sigma is None and epsilon is None and cfg.noise_multiplier is None:
        changes["sigma_calibration_steps"] = cfg.sigma_calibration_steps or cfg.steps
    if epsilon is not None:
        changes["target_epsilon"] = epsilon
    if sigma is not None:
        changes["noise_multiplier"] = sigma
    if steps is not None:
        changes["steps"] = steps
    if sigma is not None and steps is not None and epsilon is None:
        changes["target_epsilon"] = None
    if epsilon is not None and steps is not None and sigma is None:
        changes["noise_multiplier"] = None
    return cfg.replace(**changes)

@dataclass(frozen=True)
class PrivacyPlan:
    """The mechanism a run will execute, fixed before any private data is touched."""

    n: int
    sample_rate: float
    noise_multiplier: float | None   # None when mode == 'off'
    steps: int
    planned_epsilon: float           # under config.conversion; inf when mode == 'off'
    label_prior: list[float] = field(default_factory=list)
    sigma_calibrated_for_steps: int | None = None   # sigma was calibrated to spend the cap in this many D steps
    schema_release: SchemaRelease | None = None     # a DP-drafted schema: its release, composed into the budget
    table_features: int | None = None   # marginal-fitted tables: J, which fixes their releases (noise_multiplier is
                                        # then the overall scale s of privacy/marginal_budget.py; no D steps)

    @property
    def delta_threshold(self) -> float:
        """Added to the run's delta by a DP-drafted schema's category threshold (0 without one)."""
        return self.schema_release.delta_threshold if self.schema_release is not None else 0.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["planned_epsilon"] = None if math.isinf(self.planned_epsilon) else self.planned_epsilon
        if self.schema_release is None:  # absent, not null: config.json of runs from before DP drafts still match
            del d["schema_release"]
        if self.table_features is None:
            del d["table_features"]
        return d


def load_label_prior(spec: str, num_classes: int) -> list[float]:
    """'uniform', or a file with K non-negative weights (JSON list or whitespace-separated numbers)."""
    if spec == "uniform":
        return [1.0 / num_classes] * num_classes
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"--label-prior: {spec!r} is neither 'uniform' nor a readable file")
    text = path.read_text()
    try:
        weights = json.loads(text) if text.lstrip().startswith("[") else [float(t) for t in text.split()]
        w = np.asarray(weights, dtype=float)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--label-prior {spec}: expected {num_classes} numbers ({e})") from e
    if w.ndim != 1 or w.shape[0] != num_classes:
        raise ConfigError(f"--label-prior {spec}: expected {num_classes} weights (one per class), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"--label-prior {spec}: weights must be finite, non-negative and not all zero")
    return (w / w.sum()).tolist()


def validate(cfg: TrainConfig) -> None:
    """Checks that need no data. Messages name the flag, the value and what to do."""
    if cfg.mode not in MODES:
        raise ConfigError(f"--mode must be one of {MODES} (got {cfg.mode!r})")
    if cfg.conversion not in accountant.CONVERSIONS:
        raise ConfigError(f"conversion must be one of {accountant.CONVERSIONS} (got {cfg.conversion!r})")
    if cfg.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1 (got {cfg.batch_size})")
    if not cfg.max_grad_norm > 0:
        raise ConfigError(f"max_grad_norm must be > 0 (got {cfg.max_grad_norm})")
    if cfg.target_epsilon is not None and not (cfg.target_epsilon > 0 and math.isfinite(cfg.target_epsilon)):
        raise ConfigError(f"--epsilon must be a positive finite number (got {cfg.target_epsilon})")
    if cfg.noise_multiplier is not None and not (cfg.noise_multiplier > 0 and math.isfinite(cfg.noise_multiplier)):
        raise ConfigError(f"--sigma must be > 0 (got {cfg.noise_multiplier})")
    if cfg.steps is not None and cfg.steps < 1:
        raise ConfigError(f"--steps must be >= 1 (got {cfg.steps})")
    if cfg.label_names is not None:
        names = list(cfg.label_names)
        if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"label_names must be at least 2 distinct non-empty strings (got {names})")
        if cfg.num_classes is not None and cfg.num_classes != len(names):
            raise ConfigError(f"--num-classes {cfg.num_classes} does not match the {len(names)} label names")
    if cfg.num_classes is not None and cfg.num_classes < 2:
        raise ConfigError(f"--num-classes must be >= 2 (got {cfg.num_classes})")
    if cfg.image_size is not None and cfg.image_size < 4:
        raise ConfigError(f"--image-size must be >= 4 (got {cfg.image_size})")
    if cfg.channels not in (None, 1, 3):
        raise ConfigError(f"--channels must be 1 (grey) or 3 (RGB) (got {cfg.channels})")
    if cfg.checkpoint_minutes < 0 or cfg.progress_grids < 0:
        raise ConfigError("checkpoint_minutes and progress_grids must be >= 0")
    if cfg.sigma_calibration_steps is not None and cfg.sigma_calibration_steps < 1:
        raise ConfigError(f"sigma_calibration_steps must be >= 1 (got {cfg.sigma_calibration_steps})")
    if not 0 < cfg.delta < 1:
        raise ConfigError(f"--delta must be in (0, 1) (got {cfg.delta})")
    if cfg.checkpoint_every < 0:
        raise ConfigError(f"checkpoint_every must be >= 0 (got {cfg.checkpoint_every})")
    if cfg.log_every < 1:
        raise ConfigError(f"log_every must be >= 1 (got {cfg.log_every})")
    for name in ("d_lr", "g_lr"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"{name} must be > 0 (got {getattr(cfg, name)})")
    if cfg.d_optimizer not in D_OPTIMIZERS:
        raise ConfigError(f"d_optimizer must be one of {D_OPTIMIZERS} (got {cfg.d_optimizer!r})")
    if cfg.g_steps_per_round < 1:
        raise ConfigError(f"g_steps_per_round must be >= 1 (got {cfg.g_steps_per_round})")
    if cfg.d_steps_per_g < 1:
        raise ConfigError(f"--d-steps-per-g must be >= 1 (got {cfg.d_steps_per_g})")
    if not 0 <= cfg.g_ema < 1:
        raise ConfigError(f"g_ema must be in [0, 1) (got {cfg.g_ema}); 0 turns the average off")
    if cfg.warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0 (got {cfg.warmup_steps})")
    if cfg.loss not in LOSSES:
        raise ConfigError(f"loss must be one of {LOSSES} (got {cfg.loss!r})")
    if cfg.clipping not in CLIPPINGS:
        raise ConfigError(f"clipping must be one of {CLIPPINGS} (got {cfg.clipping!r})")
    if cfg.clipping == "normalize" and not (cfg.normalize_gamma > 0 and math.isfinite(cfg.normalize_gamma)):
        raise ConfigError(f"normalize_gamma must be > 0 (got {cfg.normalize_gamma}): gamma = 0 would divide by "
                          "a zero gradient norm")
    if cfg.fake_reuse and cfg.mode == "joint":
        raise ConfigError("fake_reuse needs --mode split or off: joint mode pairs each real record with its own "
                          "fresh fake sample")
    if cfg.adaptive_d_steps and not (0 < cfg.adaptive_d_threshold < 1 and cfg.adaptive_d_grace >= 1):
        raise ConfigError(f"adaptive n_D needs 0 < adaptive_d_threshold < 1 and adaptive_d_grace >= 1 (got "
                          f"{cfg.adaptive_d_threshold}, {cfg.adaptive_d_grace})")
    if cfg.bn_recalibrate < 0:
        raise ConfigError(f"bn_recalibrate must be >= 0 (got {cfg.bn_recalibrate})")
    if not (cfg.mode_seeking >= 0 and math.isfinite(cfg.mode_seeking)):
        raise ConfigError(f"mode_seeking must be >= 0 (got {cfg.mode_seeking})")
    if not (cfg.d_mismatch >= 0 and math.isfinite(cfg.d_mismatch)):
        raise ConfigError(f"d_mismatch must be a finite weight >= 0 (got {cfg.d_mismatch}); 0 turns it off")
    if cfg.d_mismatch > 0 and cfg.mode == "joint":
        raise ConfigError("d_mismatch needs --mode split (or off): a joint unit already pairs each record with a "
                          "fake; set d_mismatch=0 or use split clipping")
    if cfg.g_batch_size is not None and cfg.g_batch_size < 1:
        raise ConfigError(f"g_batch_size must be >= 1 (got {cfg.g_batch_size})")
    if cfg.warm_start_noise:
        if not (cfg.warm_start_noise > 0 and math.isfinite(cfg.warm_start_noise)):
            raise ConfigError(f"warm_start_noise must be > 0 (got {cfg.warm_start_noise}); 0 turns it off")
        if not (cfg.warm_start_clip > 0 and math.isfinite(cfg.warm_start_clip)) or cfg.warm_start_steps < 1:
            raise ConfigError(f"a warm start needs warm_start_clip > 0 and warm_start_steps >= 1 (got "
                              f"{cfg.warm_start_clip}, {cfg.warm_start_steps})")
    if not (cfg.warm_start_anchor >= 0 and math.isfinite(cfg.warm_start_anchor)):
        raise ConfigError(f"warm_start_anchor must be a finite weight >= 0 (got {cfg.warm_start_anchor}); 0 turns it "
                          "off (it has no effect without a warm start: warm_start_noise = 0 turns both off)")
    if cfg.warm_start_rff_noise:
        if not (cfg.warm_start_rff_noise > 0 and math.isfinite(cfg.warm_start_rff_noise)):
            raise ConfigError(f"warm_start_rff_noise must be > 0 (got {cfg.warm_start_rff_noise}); 0 turns it off")
        if cfg.warm_start_rff_features < 1:
            raise ConfigError(f"warm_start_rff_features must be >= 1 (got {cfg.warm_start_rff_features})")
        if not (cfg.warm_start_rff_bandwidth >= 0 and math.isfinite(cfg.warm_start_rff_bandwidth)):
            raise ConfigError(f"warm_start_rff_bandwidth must be >= 0 (got {cfg.warm_start_rff_bandwidth}); 0: the "
                              "public rule sqrt(0.05 x released pixels)")
    if not (cfg.warm_start_rff_anchor >= 0 and math.isfinite(cfg.warm_start_rff_anchor)):
        raise ConfigError(f"warm_start_rff_anchor must be a finite weight >= 0 (got {cfg.warm_start_rff_anchor})")
    if cfg.model_side:
        if cfg.arch != "conv":
            raise ConfigError(f"model_side is for the conv architecture (got --arch {cfg.arch}); 0 keeps the data's side")
        if cfg.model_side < 8 or cfg.model_side % 4:
            raise ConfigError(f"model_side must be a multiple of 4 and at least 8 (got {cfg.model_side}), or 0 for the "
                              "data's own side")
    if cfg.warm_start_side < 0:
        raise ConfigError(f"warm_start_side must be >= 0 (got {cfg.warm_start_side}); 0 keeps full resolution")
    if cfg.warm_start_rff_side is not None and cfg.warm_start_rff_side < 0:
        raise ConfigError(f"warm_start_rff_side must be >= 0 (got {cfg.warm_start_rff_side}); 0 keeps full "
                          "resolution, null (the default) takes warm_start_side")
    if cfg.label_prior == WARM_START_COUNTS and (cfg.mode == "off" or cfg.arch == MARGINAL_ARCH):
        raise ConfigError("--label-prior warm-start-counts takes the DP warm start's noisy class counts as the prior: "
                          "it needs a private run with the warm start; use 'uniform' or 'dp-histogram' otherwise")
    if cfg.label_prior == DP_HISTOGRAM:
        if cfg.mode == "off":
            raise ConfigError("--label-prior dp-histogram is for private runs; --mode off can use the counts directly")
        if not (cfg.label_histogram_noise > 0 and math.isfinite(cfg.label_histogram_noise)):
            raise ConfigError(f"--label-histogram-noise must be > 0 (got {cfg.label_histogram_noise})")


@dataclass(frozen=True)
class FullDataRelease:
    """One Gaussian release over the whole training set (sample rate 1, noise in units of its L2 sensitivity)."""

    name: str              # what it releases, for people
    noise_multiplier: float
    turned_off_by: str     # the setting that removes it from the run
    release: str | None = None   # the ledger's name of its mechanism (privacy/events.py RELEASES)
    coordinates: int = 1

    def event(self) -> SampledGaussianEvent:
        return SampledGaussianEvent(1.0, self.noise_multiplier, 1, self.release, self.coordinates)


def marginal_releases(cfg: TrainConfig, num_features: int, scale: float) -> list[FullDataRelease]:
    """The releases of a marginal-fitted table run (arch table-marginals) at overall noise scale `scale`."""
    words = {"marginals": "DP count tables", "marginal-selection": "DP scores of the column pairs"}
    return [FullDataRelease(f"{words[r.release]} ({r.coordinates} at once)", r.noise_multiplier,
                            "a GAN table preset (table-eps1, table-eps10)", r.release, r.coordinates)
            for r in plan_marginal_releases(num_features, cfg.marginal_rounds, cfg.marginal_tables_per_round, scale)]


def full_data_releases(cfg: TrainConfig, schema_release: SchemaRelease | None = None) -> list[FullDataRelease]:
    """The run's Gaussian releases over the whole training set, made before the first D step and composed with the
    D steps in one ledger: a DP-drafted schema, the DP label histogram, the DP warm start. (A marginal-fitted table
    run learns its label shares from its count tables: no separate histogram.)"""
    releases = []
    if schema_release is not None:
        releases.append(schema_release_event(schema_release))
    if cfg.label_prior == DP_HISTOGRAM and cfg.mode != "off" and cfg.arch != MARGINAL_ARCH:
        releases.append(FullDataRelease("the DP label histogram (class counts)", cfg.label_histogram_noise,
                                        "--label-prior uniform", "label-histogram"))
    if cfg.warm_start_noise and cfg.mode != "off":
        releases.append(FullDataRelease("the DP warm start (per-class means and counts)", cfg.warm_start_noise,
                                        "--set warm_start_noise=0", "warm-start"))
        if cfg.warm_start_rff_noise:
            releases.append(FullDataRelease("the DP warm start's mean embeddings (random Fourier features)",
                                            cfg.warm_start_rff_noise, "--set warm_start_rff_noise=0",
                                            "warm-start-embedding"))
    return releases


def releases_rdp(releases: list[FullDataRelease]):
    """The summed RDP curve of the releases (None if there are none)."""
    return sum(accountant.gaussian_rdp(r.noise_multiplier) for r in releases) if releases else None


def plan_epsilon(sample_rate: float, sigma: float, steps: int, delta: float, conversion: str,
                 releases: list[FullDataRelease]) -> float:
    """Epsilon of `steps` D steps composed with the releases, under the run's conversion (RDP or PLD)."""
    if conversion == "pld":
        return pld.plan_epsilon(sample_rate, sigma, steps, delta, [r.event() for r in releases])
    return accountant.epsilon(sample_rate, sigma, steps, delta, conversion, base_rdp=releases_rdp(releases))


def plan_max_steps(sample_rate: float, sigma: float, delta: float, target_epsilon: float, conversion: str,
                   releases: list[FullDataRelease] = ()) -> int:
    """The most D steps (q, sigma) that, with the releases, stay within target_epsilon under the conversion."""
    if conversion == "pld":
        return pld.max_steps(sample_rate, sigma, delta, target_epsilon, [r.event() for r in releases])
    return accountant.max_steps(sample_rate, sigma, delta, target_epsilon, conversion, base_rdp=releases_rdp(releases))


def plan_noise_multiplier(sample_rate: float, steps: int, delta: float, target_epsilon: float, conversion: str,
                          releases: list[FullDataRelease] = ()) -> float:
    """The least sigma with which `steps` D steps and the releases stay within target_epsilon."""
    if conversion == "pld":
        return pld.calibrate_noise_multiplier(sample_rate, steps, delta, target_epsilon, [r.event() for r in releases])
    return accountant.calibrate_noise_multiplier(sample_rate, steps, delta, target_epsilon, conversion,
                                                 base_rdp=releases_rdp(releases))


def releases_epsilon(releases: list[FullDataRelease], delta: float, conversion: str) -> float:
    if conversion == "pld":
        return pld.events_epsilon([r.event() for r in releases], delta)
    return accountant.epsilon_from_rdp(releases_rdp(releases), delta, conversion)[0]


def release_costs(cfg: TrainConfig, plan: "PrivacyPlan") -> list[tuple[FullDataRelease, float]]:
    """Each release with its share of the planned epsilon: how much lower epsilon would be without it (same D
    steps, sigma and q; RDP composition is not additive in epsilon, so the shares need not sum to its total)."""
    releases = full_data_releases(cfg, plan.schema_release)
    out = []
    for r in releases:
        without = plan_epsilon(plan.sample_rate, plan.noise_multiplier, plan.steps, cfg.delta, cfg.conversion,
                               [o for o in releases if o is not r])
        out.append((r, plan.planned_epsilon - without))
    return out


def resolve_marginal_plan(cfg: TrainConfig, n: int, num_features: int | None,
                          schema_release: SchemaRelease | None) -> PrivacyPlan:
    """A marginal-fitted table run: the overall noise scale s of its releases, calibrated (or given as --sigma)."""
    if num_features is None:
        raise ConfigError("architecture 'table-marginals' is for tables: train on a CSV with --schema FILE")
    if cfg.mode == "off":
        raise ConfigError("architecture 'table-marginals' has no non-private mode: its tables are DP releases")
    if cfg.marginal_rounds is None:
        raise ConfigError("internal: marginal_rounds is fixed (tables/marginal_recipe.with_pair_rounds) before the plan")
    others = [schema_release_event(schema_release)] if schema_release is not None else []

    def eps_at(scale: float) -> float:
        releases = others + marginal_releases(cfg, num_features, scale)
        return releases_epsilon(releases, cfg.delta, cfg.conversion)

    scale = cfg.noise_multiplier
    if scale is None:
        if cfg.target_epsilon is None:
            raise ConfigError("give --epsilon (or --sigma, the overall noise scale of the count tables)")
        if others and releases_epsilon(others, cfg.delta, cfg.conversion) >= cfg.target_epsilon:
            raise PrivacyBudgetError(f"the DP schema draft alone already spends epsilon >= {cfg.target_epsilon:g}: "
                                     "raise --epsilon or write the schema from public knowledge")
        from .privacy.search import smallest_noise

        scale = smallest_noise(lambda s: eps_at(s) <= cfg.target_epsilon, 1e-4,
                               f"epsilon={cfg.target_epsilon} with the marginal releases")
    eps = eps_at(scale)
    if cfg.target_epsilon is not None and eps > cfg.target_epsilon:
        raise PrivacyBudgetError(f"--sigma {scale:g} for the count tables costs epsilon={eps:.4f} > --epsilon "
                                 f"{cfg.target_epsilon}: raise --sigma or --epsilon")
    return PrivacyPlan(n, 1.0, scale, 0, eps, [], None, schema_release, num_features)


def schema_release_event(schema_release: SchemaRelease) -> FullDataRelease:
    return FullDataRelease("the DP schema draft (counts per column)", schema_release.noise_multiplier,
                           "a schema written from public knowledge", **schema_release.ledger_release())


def resolve_plan(cfg: TrainConfig, n: int, num_classes: int, *,
                 schema_release: SchemaRelease | None = None, num_features: int | None = None) -> PrivacyPlan:
    """Fix (q, sigma, steps) from the config and the public dataset size n. schema_release: the cost of a
    DP-drafted table schema (privacy/schema_release.py), part of the budget like the DP label histogram.
    num_features: a table's feature-column count (public, from its schema), which a marginal-fitted run needs."""
    validate(cfg)
    if cfg.arch == MARGINAL_ARCH:
        if n < 10:
            raise ConfigError(f"the dataset has only {n} records; DP training needs many more")
        if cfg.delta >= 1.0 / n:
            raise ConfigError(f"--delta must be < 1/n = {1.0 / n:.3g} (got {cfg.delta:g}, n={n})")
        return resolve_marginal_plan(cfg, n, num_features, schema_release)
    if cfg.batch_size >= n:
        raise ConfigError(f"--batch-size {cfg.batch_size} must be smaller than the dataset size n={n}: "
                          "Poisson subsampling needs q = B/n < 1")
    if n < 10:
        raise ConfigError(f"the dataset has only {n} records; DP training needs many more")
    if cfg.delta >= 1.0 / n:
        raise ConfigError(f"--delta must be < 1/n = {1.0 / n:.3g} (got {cfg.delta:g}, n={n}): a larger delta "
                          "allows releasing a whole record; use e.g. --delta {:.0e}".format(0.1 / n))
    if schema_release is not None and cfg.delta + schema_release.delta_threshold >= 1.0 / n:
        raise ConfigError(f"the run's delta {cfg.delta:g} plus the DP schema's delta_threshold "
                          f"{schema_release.delta_threshold:.3g} must be < 1/n = {1.0 / n:.3g}: draft the schema with "
                          "a smaller --delta")
    q = poisson_sample_rate(cfg.batch_size / n)  # the sampler's exact inclusion probability (<= B/n)
    # A DP label histogram is drawn at the start of training (privacy/label_histogram.py); until then the plan
    # holds no prior. Its RDP, and that of a DP-drafted schema (released before training), are part of the budget
    # every D step is calibrated and checked against.
    dp_prior = cfg.label_prior in (DP_HISTOGRAM, WARM_START_COUNTS)   # drawn at the start of training
    prior = [] if dp_prior else load_label_prior(cfg.label_prior, num_classes)
    releases = full_data_releases(cfg, schema_release)
    if releases and cfg.mode != "off" and cfg.target_epsilon is not None:
        alone = releases_epsilon(releases, cfg.delta, cfg.conversion)
        if alone >= cfg.target_epsilon:
            named = "; ".join(f"{r.name}, noise multiplier {r.noise_multiplier:g} (off: {r.turned_off_by})"
                              for r in releases)
            raise PrivacyBudgetError(f"the releases made before the D steps already spend epsilon = {alone:.4g} >= "
                                     f"--epsilon {cfg.target_epsilon:g}: {named}; raise their noise, turn one off, "
                                     "or raise --epsilon")
    sigma, steps, eps_target, conv = cfg.noise_multiplier, cfg.steps, cfg.target_epsilon, cfg.conversion

    if cfg.mode == "off":
        # Non-private baseline: train as long as the private run with the same settings would, for comparability.
        if steps is None:
            if sigma is None or eps_target is None:
                raise ConfigError("--mode off needs --steps (or a preset with sigma and epsilon to copy the length)")
            steps = plan_max_steps(q, sigma, cfg.delta, eps_target, conv)
        return PrivacyPlan(n, q, None, steps, math.inf, prior)  # non-private: no release is composed

    calibrated_for = None
    if sigma is None:
        calibrated_for = cfg.sigma_calibration_steps or steps
        if eps_target is None or calibrated_for is None:
            raise ConfigError("give --sigma, or --epsilon together with --steps to calibrate sigma")
        sigma = plan_noise_multiplier(q, calibrated_for, cfg.delta, eps_target, conv, releases)
        steps = steps if steps is not None else calibrated_for
    elif steps is None:
        if eps_target is None:
            raise ConfigError("give --steps or --epsilon: with neither, the run has no length")
        steps = plan_max_steps(q, sigma, cfg.delta, eps_target, conv, releases)
        if steps == 0:
            raise PrivacyBudgetError(f"a single step with sigma={sigma} and q={q:.4g} already exceeds "
                                     f"epsilon={eps_target}: raise --sigma or --epsilon")
    eps = plan_epsilon(q, sigma, steps, cfg.delta, conv, releases)
    if eps_target is not None and eps > eps_target:
        raise PrivacyBudgetError(f"{steps} steps with sigma={sigma:g}, q={q:.4g} cost epsilon={eps:.4f} > "
                                 f"--epsilon {eps_target}: lower --steps or raise --sigma")
    return PrivacyPlan(n, q, sigma, steps, eps, prior, calibrated_for, schema_release)


# Below these, a run is unlikely to give anything useful (warned about before training; see describe_plan).
MIN_USEFUL_D_STEPS = 300
WEAK_EPSILON = 10.0
MAX_USEFUL_NOISE_PER_COORDINATE = 0.05   # sigma / B: the noise std on the averaged gradient, in units of C


def plural(count: int, word: str) -> str:
    """'1 release', '3 releases' (the plan line, the final line and privacy.json's summary)."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe_plan(cfg: TrainConfig, plan: PrivacyPlan) -> tuple[str, list[str]]:
    """The mechanism about to run, in one line, and warnings about plans that cannot give anything useful.
    Printed before the first D step (and by `dpcgan train --dry-run`, which reads no record)."""
    head = (f"plan: q = {plan.sample_rate:.6g} (B = {cfg.batch_size} of n = {plan.n}, Poisson), "
            f"{plan.steps} D steps, ")
    warnings: list[str] = []
    if cfg.arch == MARGINAL_ARCH:
        releases = marginal_releases(cfg, plan.table_features, plan.noise_multiplier)
        line = (f"plan: marginal-fitted table (n = {plan.n}, {plan.table_features} feature columns): "
                f"{plural(sum(r.release == 'marginals' for r in releases), 'release')} of DP count tables and "
                f"{plural(sum(r.release == 'marginal-selection' for r in releases), 'release')} of noisy pair scores "
                f"(noise multipliers {min(r.noise_multiplier for r in releases):.4g} to "
                f"{max(r.noise_multiplier for r in releases):.4g}; overall scale s = {plan.noise_multiplier:.4g}), "
                f"then G fitted to the tables (no D steps); epsilon = {plan.planned_epsilon:.4f}"
                + (f" (cap {cfg.target_epsilon:g})" if cfg.target_epsilon is not None else "")
                + f" ({cfg.conversion} accounting), delta = {cfg.delta + plan.delta_threshold:g}"
                + (", including the DP schema draft" if plan.schema_release is not None else "")
                + "; label shares from the count tables")
        if plan.planned_epsilon > WEAK_EPSILON:
            warnings.append(f"epsilon = {plan.planned_epsilon:.3g} is above {WEAK_EPSILON:g}: a weak guarantee")
        if cfg.seed is not None:
            warnings.append("seeded run (--seed): reproducible, NOT FOR RELEASE (its noise can be replayed)")
        return line, warnings
    if cfg.mode == "off":
        line = head + "mode off: NO PRIVACY (nothing from this run may be released)"
    else:
        how = (f"calibrated to spend the cap epsilon = {cfg.target_epsilon:g} in {plan.sigma_calibrated_for_steps} "
               "D steps" if plan.sigma_calibrated_for_steps else "given")
        cap = f" (cap {cfg.target_epsilon:g})" if cfg.target_epsilon is not None else ""
        line = (head + f"sigma = {plan.noise_multiplier:.4g} ({how}), C = {cfg.max_grad_norm:g}, "
                f"epsilon = {plan.planned_epsilon:.4f}{cap} ({cfg.conversion} conversion), "
                f"delta = {cfg.delta + plan.delta_threshold:g}")
        for release, share in release_costs(cfg, plan):
            line += (f", plus {release.name}, noise multiplier {release.noise_multiplier:.4g}, included in that "
                     f"epsilon (+{share:.4f}; off: {release.turned_off_by})")
        if plan.schema_release is not None:
            line += f", the schema threshold's {plan.delta_threshold:.2g} in that delta"
        if plan.planned_epsilon > WEAK_EPSILON:
            warnings.append(f"epsilon = {plan.planned_epsilon:.3g} is above {WEAK_EPSILON:g}: a weak guarantee")
        noise_per_coordinate = plan.noise_multiplier / cfg.batch_size
        if noise_per_coordinate > MAX_USEFUL_NOISE_PER_COORDINATE:
            warnings.append(f"sigma / B = {noise_per_coordinate:.3g} (noise std on the averaged gradient, in units "
                            f"of C) is above {MAX_USEFUL_NOISE_PER_COORDINATE:g}: the noise will likely drown the "
                            "signal; use a larger --batch-size or fewer --steps")
    if plan.steps < MIN_USEFUL_D_STEPS:
        warnings.append(f"only {plan.steps} D steps: a GAN rarely learns anything useful in fewer than "
                        f"~{MIN_USEFUL_D_STEPS}")
    if cfg.seed is not None:
        warnings.append("seeded run (--seed): reproducible, NOT FOR RELEASE (its noise and sampling can be replayed)")
    return line, warnings
