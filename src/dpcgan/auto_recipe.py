"""`--preset auto`: a recipe chosen from public facts only (n, epsilon, delta, image shape, K).

The fixed presets were tuned on MNIST and Fashion-MNIST at n = 60,000. At n = 5,000 the same batch and step count
put about twelve times more noise on every averaged coordinate of D's gradient (sigma / B grows like sqrt(T) / (n
epsilon) once sigma is large), and the samples become blobs. The rule below re-plans the run for the data it gets:

1. D steps T and batch B. For each candidate (B, T) the noise multiplier that spends epsilon is computed (RDP,
   the Opacus conversion: fast and a little conservative; the run itself calibrates with PLD). The rule takes the
   longest run whose noise per averaged coordinate sigma / B stays at or below NOISE_PER_COORDINATE (the level of
   the tuned 60,000-record presets), within the compute budget. When no run reaches it (small n or small
   epsilon), it takes the longest of NOISY_STEP_CHOICES whose sigma / B stays under NOISY_CEILING, else the
   shortest: past that ceiling fewer steps each get less noise, for a fraction of the time. B is then the batch
   with the least sigma / B at that T (the largest one q <= 0.2 and the budget allow): per-example work grows
   with B, but at these sizes the G steps (a fixed 256 fakes each) cost about as much. Noisy runs also fit a
   time budget (20 min on 2 cores up to n = 10,000, growing like sqrt(n)): their sigma / B hardly depends on B.
2. The recipe around D. Quiet gradients (sigma / B at the target) get the mnist-eps10 recipe (D 16 wide, 2 G steps
   per D step, the DP warm start); noisy ones the mnist-eps1 recipe (D 64 wide, D lr 1e-3, 4 G steps per D step,
   no warm start), which held up best where D's signal is weak (results/quality.md, results/owndata.md).
3. The warm start where records per class are few (n / K < WARM_START_MIN_PER_CLASS): per-class means of images
   pooled to about 7 x 7, released once, and G anchored to them at every G step (a loss term; post-processing).
   At such noise the label conditioning is what D fails to teach first (whole classes drawn as another); the
   pooled means carry each class's coarse shape for little epsilon. With them, per-class mean embeddings of
   random Fourier features of the same pooled images (a second release), which G matches too (squared MMD).
   Where fewer records per class or colour leave more noise on them than where they were fitted, their s is
   lowered to the fitted levels if that is cheap (release_noise), else rule 3 stays off. Few classes: the same
   wherever the gradients are noisy and n <= FEW_CLASSES_MAX_N, whatever the records per class.
4. delta = min(1e-5, 0.1 / n) unless given; the headline accounting is PLD (the same promise with less noise).
5. The model side: images larger than MODEL_SIDE px are trained at MODEL_SIDE (D average-pools each image to it, G's
   samples are upsampled to the data's side), and a side that is not a multiple of 4 at the largest one below it.
   A 64 px D step costs 4.6 times a 28 px one on a CPU: within the time budget a native 64 px run got 300 steps of
   B 256 where a 32 px model gets 1,000.

Nothing here reads a record: n is public by assumption (as in every DP-SGD analysis with Poisson sampling), and the
shape and label set are public inputs. `dpcgan presets --explain N EPS` prints the choices and their reasons.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .errors import ConfigError, PrivacyBudgetError
from .models.conv import discriminator_macs
from .privacy import accountant
from .privacy.label_histogram import WARM_START_COUNTS

NAME = "auto"
BATCHES = (64, 128, 256, 512, 1024)
STEP_CHOICES = (1000, 2000, 3000, 5000)          # quiet runs: the longest one that stays at the target
NOISY_STEP_CHOICES = (300, 500, 1000)            # noisy runs: the longest one under the ceiling, else the shortest
MIN_STEPS = NOISY_STEP_CHOICES[0]
NOISE_PER_COORDINATE = 1.6e-3    # sigma / B: mnist-eps10 runs at 1.3e-3, mnist-eps1 at 2.3e-3
# Above this sigma / B a run is shortened: each step gets less noise, the run takes a third of the time, and the
# accuracy was no worse within the (large) spread between seeds. MNIST n = 5,000, epsilon 1: 1,000 steps at 0.027
# gave a CNN accuracy of 63.7 % in 19.5 min; 300 steps at 0.014, 69.1 and 56.9 % (seeds 0, 1) in 7.8 min; 150
# steps at 0.010, 66.0 %. Below it a shorter run did not help (epsilon 3: 1,000 steps at 0.010 and 300 at 0.0053
# both gave 80 %). results/owndata.md.
NOISY_CEILING = 0.012
MAX_SAMPLE_RATE = 0.2            # q = B / n at most: larger batches are not "subsampled" enough to gain from it
# B * T * step_cost: per-example gradients dominate a run's time and grow with B, T and the image size.
# mnist-eps10 (B 512, T 5,000 at 28 x 28) is the largest run kept: about 13 minutes on 2 cores.
WORK_BUDGET = 2_560_000
MNIST_PIXELS = 28 * 28
# The noisy recipe's D is 4 times wider (64 channels) and takes 4 G steps per D step: a D step costs about
# NOISY_STEP_SECONDS + NOISY_EXAMPLE_SECONDS * B seconds on 2 cores at 28 x 28, scaled by step_cost (AMD EPYC, 2
# threads alone, with the anchors: MNIST 10,000 1.02 s at B 512 and 1.8 s at B 1,024; 3 x 32 x 32 at 5,000 1.13 s
# at B 256, i.e. 0.89 s at 28 x 28; the fixed part is the 4 G steps of 256 fakes each). Its runs are kept within
# NOISY_MINUTES at n <= 10,000, growing like sqrt(n) above (28 min at 20,000, 49 at 60,000: mnist-eps1's B 1,024 x
# 1,000 steps fits there): a few thousand records should train in minutes, not hours. Where sigma is large (every
# noisy run), sigma / B hardly depends on B (sigma grows with it), so the time is cheaply bought: MNIST 10,000 at
# epsilon 10, 1,000 steps: B 512 has sigma / B = 2.2e-3 for about 19 min, B 1,024 1.85e-3 for about 30 min.
# At 28 x 28 these constants are on the safe side: timed again later (auto's 10,000-record recipe on MNIST, 2 threads
# alone, the difference between 75- and 15-step runs) a D step took 0.70 / 0.92 / 1.42 s at B 256 / 512 / 1,024,
# and a matching-aware D (d_mismatch, one pass per image: train/steps.py) 0.69 / 0.97 / 1.37 s: its extra label costs
# no measurable time, and the model does not count it.
NOISY_STEP_SECONDS = 0.55
NOISY_EXAMPLE_SECONDS = 1.2e-3
NOISY_MINUTES = 20.0
COST_EXPONENT = 0.75              # time ~ MACs ** 0.75 across image sizes (step_cost)
WARM_START_MIN_PER_CLASS = 2_000  # the DP warm start's per-class means need this many records per class to be
                                  # better than noise at s = 20 (noise per pixel of a mean: 20 * C_w / (n / K))
# Below that, the means are released at about 7 x 7 (k x k blocks averaged: k times less noise per released pixel)
# and G keeps matching them at every G step (the anchor): coarse shapes that keep each label's identity when D's
# gradients are too noisy to teach it. MNIST n = 5,000, epsilon 1, seed 0: no warm start 69.1 %, pooled warm start
# alone 60.4 %, with the anchor at weight 10 64.6 %, at 100 73.7 % (results/owndata.md).
POOLED_SIDE = 7                   # the smallest side the means are pooled to (a divisor of H where one exists)
POOLED_NOISE = 15.0               # s of the pooled release: +3 % on sigma at epsilon 1 (PLD), +0.2 % at epsilon 3
ANCHOR_WEIGHT = 100.0
# ... but only where the released means are better than noise: the noise std on a released pixel, s sqrt(2) C_w /
# (n / K), at most this. It is the level of the full-resolution rule above (20 sqrt(2) 8 / 2,000 = 0.11); MNIST 5,000
# (7 x 7: 0.085) gained 0.4 to 6.3 points with the anchor, MNIST 2,000 (0.21) lost 6 at epsilon 1 (41.7 against
# 47.9 %): anchored to noisy means, G learns the noise.
MAX_RELEASED_PIXEL_NOISE = 0.12
# Few classes: the same releases and anchors wherever the gradients are noisy and n is at most this, whatever the
# records per class (a 3-class set of 6,000 images has 2,000 a class: before, it got no warm start at all, where 10
# classes of 600 got both releases). Above it, with 2,000+ a class, the presets tuned at 60,000 stay as they are.
FEW_CLASSES_MAX_N = 10_000
# With those means, a second release: per-class mean embeddings of RFF_FEATURES random Fourier features of the same
# pooled images (DP-MERF, FETA-Pro; privacy/mean_embedding.py), G matching them (squared MMD) in pretraining and at
# every G step. It carries the shape of each class's distribution, not only its mean. MNIST n = 5,000, epsilon 1:
# 73.70 / 64.96 % (seeds 0 / 1) -> 79.23 / 79.93 %, for sigma 6.956 -> 7.520 (results/owndata.md).
RFF_NOISE = 10.0                  # s: +8 % on sigma at epsilon 1, +1 % at epsilon 3, +0.1 % at epsilon 10
RFF_FEATURES = 1000
RFF_ANCHOR_WEIGHT = 10.0
# The two releases were fitted at 500 records per class (MNIST 5,000): noise 0.085 on a released pixel and s / (n /
# K) = 0.02 on each entry of a mean embedding. Where n / K is smaller, or the image has more released pixels (RGB:
# the clip grows with sqrt(3)), the default s leave more noise than that. Where epsilon is large the releases are
# nearly free (s = 8 instead of 15 adds 0.1 % to sigma at epsilon 10), so s is lowered to bring both back to the
# fitted levels (the means to MAX_RELEASED_PIXEL_NOISE) when that adds at most MAX_EXTRA_SIGMA to D's sigma; never
# raised above the defaults (less noise than fitted pulled G too hard onto the targets: docs/auto.md).
MAX_EMBEDDING_NOISE = RFF_NOISE / 500
MAX_EXTRA_SIGMA = 0.02
# Matching-aware D (Reed et al. 2016; TrainConfig.d_mismatch): at n <= FEW_CLASSES_MAX_N, where the noisy recipe's
# chosen run has sigma / B (RDP estimate) at most this, D also learns from each record which label goes with it.
# Fashion-MNIST 5,000 at epsilon 10 (sigma/B 3.7e-3, B 512): 75.35 / 75.07 % (seeds 0 / 1, two passes per image) and
# 74.03 % (seed 0, one pass: the same mechanism, another float path) against 73.67 / 72.78 % without
# (results/owndata.md). Not measured at noisier gradients (10,000 at epsilon 3: 5.0e-3; 5,000 at epsilon 3: 9.7e-3)
# nor above 10,000 records (the presets' region), so it is off there.
MISMATCH_MAX_NOISE = 4e-3
MISMATCH_WEIGHT = 1.0
MODEL_SIDE = 32                   # the largest side G and D work at (larger images are pooled to it: rule 5)


@dataclass(frozen=True)
class AutoChoice:
    """What auto chose, with one line of reason per choice."""

    changes: dict          # TrainConfig fields, applied over the auto base (flags override them)
    reasons: list[str]
    noise_per_coordinate: float   # sigma / B under the RDP estimate the choice was made with


@functools.lru_cache(maxsize=4096)   # pure in its arguments; the plan, --explain and the tests ask the same ones
def _sigma(n: int, batch: int, steps: int, epsilon: float, delta: float, releases: tuple[float, ...] = (),
           rel_tol: float = 1e-2) -> float:
    """D's sigma (RDP estimate) for T steps of B of n composed with Gaussian releases of these noise multipliers;
    inf where the releases alone spend epsilon. 1 % is plenty to rank candidates (the run calibrates to 1e-4)."""
    base = sum(accountant.gaussian_rdp(s) for s in releases) if releases else None
    try:
        return accountant.calibrate_noise_multiplier(batch / n, steps, delta, epsilon, "opacus", rel_tol, base)
    except PrivacyBudgetError:
        return math.inf


def pooled_side(height: int) -> int:
    """The side the warm start's means are pooled to: the smallest divisor of the image side that is at least
    POOLED_SIDE (exact k x k blocks), else POOLED_SIDE itself; 0 (full resolution) for images under 2 x that."""
    if height < 2 * POOLED_SIDE:
        return 0
    return next((s for s in range(POOLED_SIDE, height // 2 + 1) if height % s == 0), POOLED_SIDE)


def warm_start_clip(released_pixels: int) -> float:
    """C_w: 8 (MNIST's, digit norms ~9) scaled by sqrt(released pixels / 784)."""
    return round(8.0 * math.sqrt(released_pixels / MNIST_PIXELS), 3)


def step_cost(image_shape: tuple[int, int, int]) -> float:
    """A D step's cost relative to 28 x 28 grey, from the conv D's multiply-accumulates per example (the noisy
    recipe's 64-wide D). The input channels only enter the first layer: 3 x 32 x 32 has 1.39 times the MACs of 28 x
    28 (not the 3.9 of its pixel count), 64 px with its extra stage 7.8 times. Larger convolutions run faster per
    MAC on a CPU: the measured D steps (with their G steps and anchors, 1 thread, MNIST-derived sets) took 1.24 and
    4.6 times as long as at 28 x 28, which MACs ** COST_EXPONENT fits (1.28 and 4.65)."""
    return (discriminator_macs(image_shape, 64) / discriminator_macs((1, 28, 28), 64)) ** COST_EXPONENT


def noisy_minutes(batch: int, steps: int, image_shape: tuple[int, int, int]) -> float:
    """Estimated minutes of the noisy recipe's D steps (with their G steps) on 2 cores."""
    return steps * (NOISY_STEP_SECONDS + NOISY_EXAMPLE_SECONDS * batch) * step_cost(image_shape) / 60


def noisy_time_budget(n: int) -> float:
    """Minutes a noisy run may take: NOISY_MINUTES up to 10,000 records, then growing like sqrt(n)."""
    return NOISY_MINUTES * math.sqrt(max(1.0, n / 10_000))


def release_noise(n: int, epsilon: float, delta: float, batch: int, steps: int, image_shape: tuple[int, int, int],
                  num_classes: int, side: int) -> tuple[float, float, float]:
    """(s of the means, s of the embeddings, noise on a released pixel) for the pooled warm start: the defaults, or
    lowered to the fitted noise levels where that adds at most MAX_EXTRA_SIGMA to D's sigma (RDP estimate)."""
    per_class = n / num_classes
    clip = warm_start_clip(image_shape[0] * side * side)
    means = min(POOLED_NOISE, MAX_RELEASED_PIXEL_NOISE * per_class / (math.sqrt(2) * clip))
    rff = min(RFF_NOISE, MAX_EMBEDDING_NOISE * per_class)
    if (means, rff) != (POOLED_NOISE, RFF_NOISE):
        def sigma(s_means: float, s_rff: float) -> float:
            return _sigma(n, batch, steps, epsilon, delta, (s_means, s_rff), 1e-3)
        if sigma(means, rff) > (1 + MAX_EXTRA_SIGMA) * sigma(POOLED_NOISE, RFF_NOISE):
            means, rff = POOLED_NOISE, RFF_NOISE
    means, rff = math.floor(means * 100) / 100, math.floor(rff * 100) / 100   # rounded down: at most the level
    return means, rff, means * math.sqrt(2) * clip / per_class


def model_side(image_shape: tuple[int, int, int]) -> int:
    """The side G and D work at: 0 (the image's own) for a square side of at most MODEL_SIDE that is a multiple of
    4; else MODEL_SIDE, or for smaller (or non-square) images the largest multiple of 4 up to their shorter side."""
    side = min(image_shape[1:])
    if side == max(image_shape[1:]) and side % 4 == 0 and side <= MODEL_SIDE:
        return 0
    return min(MODEL_SIDE, side - side % 4)


def default_delta(n: int) -> float:
    return min(1e-5, 0.1 / n)


def choose(n: int, epsilon: float, image_shape: tuple[int, int, int], num_classes: int,
           delta: float | None = None) -> AutoChoice:
    """The auto recipe for n records of image_shape (C, H, W) in num_classes classes at (epsilon, delta)."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ConfigError(f"--epsilon must be a positive finite number (got {epsilon})")
    if delta is not None and not 0 < delta < 1:
        raise ConfigError(f"--delta must be in (0, 1) (got {delta})")
    if n < 10 * num_classes or n < 100:
        raise ConfigError(f"--preset auto needs at least 100 records and 10 per class (n = {n}, K = {num_classes}): "
                          "too few records for a DP generator to learn from at any useful epsilon; to train anyway, name a preset "
                          "(--preset paper) and its settings")
    delta_given = delta is not None
    delta = delta if delta_given else default_delta(n)
    work = model_side(image_shape)
    cost_shape = (image_shape[0], work, work) if work else image_shape   # what D's steps cost: the model's side
    budget = WORK_BUDGET / step_cost(cost_shape)
    batches = [b for b in BATCHES if b <= MAX_SAMPLE_RATE * n] or [min(BATCHES)]
    noise: dict[tuple[int, int], float] = {}
    for steps in sorted(set(STEP_CHOICES) | set(NOISY_STEP_CHOICES)):
        affordable = [b for b in batches if b * steps <= budget] or ([min(batches)] if steps == MIN_STEPS else [])
        for b in affordable:
            noise[(b, steps)] = _sigma(n, b, steps, epsilon, delta) / b

    def least(steps: int) -> float:
        return min((v for (b, t), v in noise.items() if t == steps), default=math.inf)

    quiet = [t for t in STEP_CHOICES if least(t) <= NOISE_PER_COORDINATE]
    if not quiet:   # the noisy recipe costs more per example: its runs also fit its time budget (least() reads this)
        minutes = noisy_time_budget(n)
        noise = {(b, t): v for (b, t), v in noise.items() if noisy_minutes(b, t, cost_shape) <= minutes
                 or (b, t) == (min(batches), MIN_STEPS)}
    tracking = [t for t in NOISY_STEP_CHOICES if least(t) <= NOISY_CEILING]
    steps = max(quiet) if quiet else max(tracking) if tracking else MIN_STEPS
    best = least(steps)
    batch = min((v, b) for (b, t), v in noise.items() if t == steps)[1]
    per_coord = noise[(batch, steps)]
    reasons = []
    if quiet:
        reasons.append(f"D steps {steps}: the longest run (of {', '.join(map(str, STEP_CHOICES))}) within the compute "
                       f"budget whose noise per averaged coordinate sigma/B stays <= {NOISE_PER_COORDINATE:g}")
    elif tracking:
        reasons.append(f"D steps {steps}: no run of {STEP_CHOICES[0]}+ steps reaches sigma/B <= "
                       f"{NOISE_PER_COORDINATE:g} at n = {n}, epsilon = {epsilon:g}; the longest of "
                       f"{', '.join(map(str, NOISY_STEP_CHOICES))} whose sigma/B stays <= {NOISY_CEILING:g}")
    else:
        reasons.append(f"D steps {steps}: even the shortest run has sigma/B = {best:.2g} > {NOISY_CEILING:g} at "
                       f"n = {n}, epsilon = {epsilon:g}; more steps would only add noise D cannot see through")
    time_note = ""
    if not quiet:
        estimate = noisy_minutes(batch, steps, cost_shape)
        time_note = (f" and the time budget: about {estimate:.0f} of {minutes:.0f} min of D steps on 2 cores"
                     if estimate <= minutes else
                     f"; the smallest run, about {estimate:.0f} min of D steps on 2 cores, over the {minutes:.0f}-min "
                     "budget")
    reasons.append(f"batch B {batch} (q = {batch / n:.4g}): the least sigma/B at {steps} D steps (sigma/B = "
                   f"{per_coord:.2g}; q <= {MAX_SAMPLE_RATE:g} and within the compute budget{time_note})")
    changes: dict = {"batch_size": batch, "steps": steps, "target_epsilon": epsilon, "delta": delta}
    if work:
        changes["model_side"] = work
        reasons.append(f"model side {work}: G and D work at {work} x {work} (D average-pools each image to it, G's "
                       f"samples are upsampled to {image_shape[1]} x {image_shape[2]})" + (
                           f": a D step at {image_shape[1]} px would cost "
                           f"{step_cost(image_shape) / step_cost(cost_shape):.1f} times one at {work} px, and the "
                           "budgets would buy that many fewer"
                           if image_shape[1] == image_shape[2] and image_shape[1] % 4 == 0
                           else f": the convolutions take square sides that are multiples of 4, up to {MODEL_SIDE}"))
    if not delta_given:
        reasons.append(f"delta {delta:g}: min(1e-5, 0.1 / n)")
    if quiet:
        warm = n / num_classes >= WARM_START_MIN_PER_CLASS
        changes |= {"d_hidden": 16, "d_lr": 5e-4, "d_lr_final": 5e-4, "g_steps_per_round": 2,
                    "warm_start_noise": 20.0 if warm else 0.0}
        reasons.append("quiet gradients (sigma/B at target): D 16 wide, D lr 5e-4, 2 G steps per D step "
                       "(the mnist-eps10 recipe)")
        if warm:
            reasons.append(f"DP warm start on (s = 20): {n / num_classes:.0f} records per class >= "
                           f"{WARM_START_MIN_PER_CLASS}")
    else:
        changes |= {"d_hidden": 64, "d_lr": 1e-3, "d_lr_final": 1e-3, "g_steps_per_round": 4,
                    "warm_start_noise": 0.0}
        reasons.append("noisy gradients (sigma/B above target): D 64 wide, D lr 1e-3, 4 G steps per D step (the "
                       "mnist-eps1 recipe)")
        if n <= FEW_CLASSES_MAX_N and per_coord <= MISMATCH_MAX_NOISE:
            changes["d_mismatch"] = MISMATCH_WEIGHT
            reasons.append(f"matching-aware D (d_mismatch {MISMATCH_WEIGHT:g}): each real record also enters D with a "
                           f"wrong label, as a fake, in its own clipping unit (no epsilon, no measurable time): "
                           f"sigma/B <= {MISMATCH_MAX_NOISE:g} leaves a record's gradient signal to spare for teaching "
                           "D which label goes with which image")
    side = pooled_side(image_shape[-1])
    released = math.prod(image_shape)   # the warm start's pixels: full resolution unless pooled below
    means_noise, rff_noise, pixel_noise = (release_noise(n, epsilon, delta, batch, steps, image_shape, num_classes,
                                                         side) if side else (0.0, 0.0, math.inf))
    few_per_class = n / num_classes < WARM_START_MIN_PER_CLASS
    few_classes = not quiet and not few_per_class and n <= FEW_CLASSES_MAX_N
    if (few_per_class or few_classes) and side and pixel_noise <= MAX_RELEASED_PIXEL_NOISE:
        changes |= {"warm_start_noise": means_noise, "warm_start_side": side, "warm_start_anchor": ANCHOR_WEIGHT,
                    "warm_start_rff_noise": rff_noise, "warm_start_rff_features": RFF_FEATURES,
                    "warm_start_rff_anchor": RFF_ANCHOR_WEIGHT}
        lowered = "" if (means_noise, rff_noise) == (POOLED_NOISE, RFF_NOISE) else (
            f"; s lowered from {POOLED_NOISE:g} / {RFF_NOISE:g} to keep the noise per released pixel <= "
            f"{MAX_RELEASED_PIXEL_NOISE:g} and per embedding entry <= {MAX_EMBEDDING_NOISE:g} (the levels fitted at "
            f"500 per class), for at most {100 * MAX_EXTRA_SIGMA:g} % more sigma")
        why = (f"{n / num_classes:.0f} records per class < {WARM_START_MIN_PER_CLASS}, too few for full-resolution "
               "means" if few_per_class else
               f"noisy gradients at n = {n} <= {FEW_CLASSES_MAX_N:,} (a few classes of a few thousand images: D's noisy "
               "gradients teach the labels slowly)")
        reasons.append(f"DP warm start on {side} x {side} means (s = {means_noise:g}) and G anchored to them "
                       f"(weight {ANCHOR_WEIGHT:g}): {why}; coarse shapes keep each label" + lowered)
        reasons.append(f"... and their per-class mean embeddings ({RFF_FEATURES} random Fourier features, s = "
                       f"{rff_noise:g}), G matching them (squared MMD, weight {RFF_ANCHOR_WEIGHT:g}): the shape of "
                       "each class's distribution, not only its mean (DP-MERF)")
        released = image_shape[0] * side * side
    elif not changes["warm_start_noise"]:
        reasons.append("DP warm start off" + (
            " (the mnist-eps1 recipe)" if n / num_classes >= WARM_START_MIN_PER_CLASS
            else f": images under {2 * POOLED_SIDE} px are not pooled" if not side
            else f": {n / num_classes:.0f} records per class leave noise {pixel_noise:.2g} on each released pooled "
                 f"pixel (> {MAX_RELEASED_PIXEL_NOISE:g}; less noise would cost over {100 * MAX_EXTRA_SIGMA:g} % more "
                 "sigma); an anchor to such means would teach G the noise"))
    clip = warm_start_clip(released)
    changes["warm_start_clip"] = clip
    if changes["warm_start_noise"]:
        reasons.append(f"warm-start clip {clip:g}: 8 (MNIST's) scaled by sqrt(released pixels / 784)")
        changes["label_prior"] = WARM_START_COUNTS
        reasons.append("labels in the class proportions of the warm start's noisy counts (fakes and samples): "
                       "a user's classes are often unbalanced, and a uniform synthetic set then teaches a classifier "
                       "the wrong base rates; the counts are already released (no further epsilon)")
    return AutoChoice(changes=changes, reasons=reasons, noise_per_coordinate=per_coord)
