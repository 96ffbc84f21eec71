"""evaluate_synthetic / evaluate_real_reference: validate once, run the requested metrics, collect one dict.

Order of operations is the guarantee: every model is fitted from synthetic (or real-train) arrays alone,
then the real test set is scored once with the finished model. Nothing computed on the test set flows back.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..data import LabeledImages
from ..errors import ConfigError, DataError
from . import classifiers
from .cnn import ARCH_VERSION, CNNSettings, extract_features, predict_logits, train_cnn
from .fidelity import FeatureNetSettings, feature_gaussian, feature_net
from .inputs import ArrayLike, check_real, check_synthetic, unit_pixels
from .metrics import (accuracy, confusion_counts, frechet_distance, gaussian_fit, label_histogram, per_class_accuracy,
                      precision_recall)

RESULT_FORMAT = "dpcgan-evaluation-v1"
METRICS = ("paper", "cnn", "fid")

NOTE = ("The synthetic data carries the DP guarantee; this evaluation does not. Metrics computed on real data "
        "(the real test set, the real-train reference row and the real-train feature network of the FID-like "
        "score) are outside the DP guarantee: the evaluation is not differentially private and must not be used "
        "to tune or select a run whose privacy is claimed, unless that use is accounted in its privacy cost.")
FID_NOTE = ("Fréchet distances of Gaussian fits grow as samples shrink and vary between random draws: compare "
            "fid_like with the floor (same n_samples) and with runs evaluated at the same n_samples.")
PR_NOTE = ("precision: fraction of synthetic samples inside the real test set's k-NN manifold in the FID-like feature "
           "space (fidelity); recall: fraction of real test samples inside the synthetic manifold (diversity: low "
           "when each class collapses to a few images). Kynkaenniemi et al. 2019; same samples as fid_like.")
INCEPTION_NOTE = ("Inception FID is not computed (it needs pretrained Inception weights). fid_like uses a small CNN "
                  "trained on the real training set instead: compare it with fid_like_real_train_vs_test and across "
                  "runs on the same dataset, not with published FID values.")


@dataclass(frozen=True)
class EvalSettings:
    paper: classifiers.PaperSettings = classifiers.PaperSettings()
    cnn: CNNSettings = CNNSettings()
    feature_net: FeatureNetSettings = FeatureNetSettings()
    # FID-like sample size: min(this, #synthetic, #real test). The real-train floor uses the same count,
    # because the Fréchet distance of Gaussian fits is biased upward for small samples.
    fid_max_samples: int = 10_000
    # precision/recall (Kynkäänniemi et al. 2019) on the same features and samples: k-th neighbour radius
    pr_k: int = 5

    def to_dict(self) -> dict[str, Any]:
        return {"paper": self.paper.to_dict(), "cnn": self.cnn.to_dict(), "feature_net": self.feature_net.to_dict(),
                "fid_max_samples": self.fid_max_samples, "pr_k": self.pr_k, "cnn_arch": ARCH_VERSION}


@contextmanager
def _stage(name: str, timing: dict[str, float], progress: bool) -> Iterator[None]:
    if progress:
        print(f"[evaluate] {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    yield
    timing[name] = round(time.perf_counter() - t0, 2)
    if progress:
        print(f"[evaluate] {name}: {timing[name]:.1f}s", file=sys.stderr, flush=True)


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(metrics))
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise ConfigError(f"unknown metric(s) {unknown}: choose from {list(METRICS)}" if unknown
                          else f"no metrics requested: choose from {list(METRICS)}")
    return chosen


def evaluate_synthetic(x_syn: ArrayLike, y_syn: ArrayLike, real_train: LabeledImages, real_test: LabeledImages, *,
                       num_classes: int, seed: int = 0, metrics: Sequence[str] = METRICS,
                       cache_dir: str | os.PathLike | None = None, progress: bool = True,
                       settings: EvalSettings | None = None) -> dict[str, Any]:
    """Evaluate labeled synthetic images against the real data of the same dataset.

    x_syn: (N, C, H, W) or, for one channel, (N, H, W); uint8 0..255 or float in [0, 1]. y_syn: (N,) ints in
    [0, num_classes). real_train is used only by the FID-like metric (its feature network and its floor).
    Raises DataError for malformed input. Returns a JSON-serialisable dict (see report.format_table).
    """
    return _evaluate(x_syn, y_syn, real_train, real_test, num_classes=num_classes, seed=seed, metrics=metrics,
                     cache_dir=cache_dir, progress=progress, settings=settings, input_kind="synthetic")


def _evaluate(x_syn: ArrayLike, y_syn: ArrayLike, real_train: LabeledImages, real_test: LabeledImages, *,
              num_classes: int, seed: int, metrics: Sequence[str], cache_dir: str | os.PathLike | None,
              progress: bool, settings: EvalSettings | None, input_kind: str) -> dict[str, Any]:
    chosen = _check_metrics(metrics)
    settings = settings or EvalSettings()
    check_real(real_train, real_test, num_classes)
    x, y = check_synthetic(x_syn, y_syn, image_shape=real_test.x.shape[1:], num_classes=num_classes,
                           need_two_classes=bool({"paper", "cnn"} & set(chosen)))
    x_test = unit_pixels(real_test.x, source=f"{real_test.name} real test")   # same [0, 1] scale as x
    y_test = real_test.y.numpy()
    seed_lr, seed_mlp, seed_cnn, seed_fid = (int(s) for s in np.random.SeedSequence(seed).generate_state(4))
    timing: dict[str, float] = {}
    result: dict[str, Any] = {
        "format": RESULT_FORMAT, "input": input_kind, "dataset": real_test.name, "num_classes": num_classes,
        "image_shape": list(x.shape[1:]), "n_train": len(y), "n_real_test": len(y_test), "seed": seed,
        "metrics": list(chosen), "label_histogram": label_histogram(y, num_classes),
    }

    if "paper" in chosen:
        x_np = x.numpy()
        paper: dict[str, Any] = {}
        with _stage("logistic_regression", timing, progress):
            lr = classifiers.fit_logistic(x_np, y, settings=settings.paper, seed=seed_lr)
            paper["logistic_regression"] = classifiers.score(lr, x_test.numpy(), y_test, num_classes) \
                | classifiers.logistic_info(lr, settings.paper)
        with _stage("mlp", timing, progress):
            mlp = classifiers.fit_mlp(x_np, y, settings=settings.paper, seed=seed_mlp)
            paper["mlp"] = classifiers.score(mlp, x_test.numpy(), y_test, num_classes) \
                | classifiers.mlp_info(mlp, settings.paper)
        result["paper"] = paper

    if "cnn" in chosen:
        with _stage("cnn", timing, progress):
            trained = train_cnn(x, y, num_classes, settings=settings.cnn, seed=seed_cnn, progress=progress)
            pred = predict_logits(trained.model, x_test).argmax(1).numpy()   # the one look at the test set
            confusion = confusion_counts(y_test, pred, num_classes)
            result["cnn"] = {
                "accuracy": accuracy(y_test, pred), "per_class_accuracy": per_class_accuracy(confusion),
                "confusion_matrix": confusion.tolist(), "selected_epoch": trained.selected_epoch,
                "synthetic_holdout_accuracy": trained.holdout_accuracy,
                "n_fit": trained.n_fit, "n_holdout": trained.n_holdout,
            }

    if "fid" in chosen:
        with _stage("fid_like", timing, progress):
            result["fidelity"], parts = _fidelity(x, real_train, x_test, settings=settings, seed=seed_fid,
                                                  cache_dir=cache_dir, progress=progress)
        timing.update({f"fid_like:{k}": v for k, v in parts.items()})

    result["inception_fid"] = None
    result["inception_fid_note"] = INCEPTION_NOTE
    result["settings"] = settings.to_dict()
    result["timing_s"] = timing
    result["note"] = NOTE
    return result


def _fidelity(x: torch.Tensor, real_train: LabeledImages, x_test: torch.Tensor, *, settings: EvalSettings, seed: int,
              cache_dir: str | os.PathLike | None, progress: bool) -> tuple[dict[str, Any], dict[str, float]]:
    """fid_like (synthetic vs real test) and its floor (real train vs real test) on equal sample sizes."""
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    model, info = feature_net(real_train, settings=settings.feature_net, cache_dir=cache_dir, progress=progress)
    timing["feature_net"] = round(time.perf_counter() - t0, 2)
    rng = np.random.default_rng(seed)
    n = min(settings.fid_max_samples, len(x), len(x_test))

    def pick(total: int) -> torch.Tensor:
        return torch.from_numpy(np.sort(rng.choice(total, size=n, replace=False)))

    t0 = time.perf_counter()
    f_test = extract_features(model, x_test[pick(len(x_test))])
    f_syn = extract_features(model, x[pick(len(x))])
    x_real = unit_pixels(real_train.x[pick(len(real_train))], source=f"{real_train.name} real train")
    f_real = extract_features(model, x_real)
    mu_t, sigma_t = feature_gaussian_of(f_test)
    mu_s, sigma_s = feature_gaussian_of(f_syn)
    mu_r, sigma_r = feature_gaussian_of(f_real)
    timing["features_and_frechet"] = round(time.perf_counter() - t0, 2)
    out = {
        "fid_like": frechet_distance(mu_s, sigma_s, mu_t, sigma_t),
        "fid_like_real_train_vs_test": frechet_distance(mu_r, sigma_r, mu_t, sigma_t),
        "n_samples": n, "feature_net": info, "note": FID_NOTE,
    }
    if n > settings.pr_k:  # diversity: intra-class collapse shows as low recall
        t0 = time.perf_counter()
        out["precision_recall"] = precision_recall(f_test, f_syn, k=settings.pr_k)
        out["precision_recall_real_train_vs_test"] = precision_recall(f_test, f_real, k=settings.pr_k)
        out["precision_recall_note"] = PR_NOTE
        timing["precision_recall"] = round(time.perf_counter() - t0, 2)
    return out, timing


def feature_gaussian_of(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(features) < 2:
        raise DataError(f"the FID-like metric needs at least 2 images per set, got {len(features)}")
    return gaussian_fit(features)


def evaluate_real_reference(real_train: LabeledImages, real_test: LabeledImages, *, seed: int = 0,
                            metrics: Sequence[str] = METRICS, cache_dir: str | os.PathLike | None = None,
                            progress: bool = True, settings: EvalSettings | None = None,
                            max_records: int | None = None) -> dict[str, Any]:
    """The upper-bound row: the same metrics with the real training data in place of the synthetic data.

    max_records: evaluate a seeded random subset of that size (e.g. the synthetic set's size) instead of
    the whole training set.
    """
    data = real_train
    if max_records is not None and max_records < len(data):
        gen = torch.Generator().manual_seed(seed)
        data = data.random_subset(max_records, gen)
    return _evaluate(data.x, data.y, real_train, real_test, num_classes=real_train.num_classes, seed=seed,
                     metrics=metrics, cache_dir=cache_dir, progress=progress, settings=settings,
                     input_kind="real training data (reference)")
