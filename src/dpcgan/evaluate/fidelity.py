"""FID-like fidelity: the Fréchet distance between Gaussian fits of penultimate-layer features.

The features come from SmallCNN trained on the REAL TRAINING set of the dataset (offline, no Inception
download). That network is trained once per dataset and cached, keyed by the dataset name, a hash of the
training data and the architecture/training version, so every evaluation of a dataset uses the same
embedding and numbers are comparable across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import LabeledImages
from ..errors import DataError
from ..io import save_torch_atomic
from .cnn import ARCH_VERSION, CNNSettings, SmallCNN, extract_features, train_cnn
from .inputs import unit_pixels
from .metrics import frechet_distance, gaussian_fit

CACHE_FORMAT = "dpcgan-eval-feature-net-v1"


@dataclass(frozen=True)
class FeatureNetSettings:
    # Trained on real data, once: selection on a holdout of the real TRAINING set (never the test set).
    training: CNNSettings = CNNSettings(epochs=4)
    seed: int = 0        # fixed, not the evaluation seed: one embedding per dataset
    max_train_records: int | None = None   # None: the whole real training set (tests use a subset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dpcgan" / "eval"


def data_fingerprint(data: LabeledImages) -> str:
    """SHA-256 of the images and labels (dtype and shape included)."""
    h = hashlib.sha256()
    for t in (data.x, data.y):
        a = np.ascontiguousarray(t.cpu().numpy())
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def cache_key(real_train: LabeledImages, settings: FeatureNetSettings) -> str:
    """Dataset name + hash of the training data + architecture version (+ the training settings, which
    also change the weights)."""
    recipe = json.dumps({"arch": ARCH_VERSION, "settings": settings.to_dict()}, sort_keys=True)
    digest = hashlib.sha256((data_fingerprint(real_train) + recipe).encode()).hexdigest()[:20]
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in real_train.name) or "data"
    return f"{safe_name}-{ARCH_VERSION}-{digest}"


def _load_cached(path: Path, key: str, image_shape: tuple[int, ...], num_classes: int) -> SmallCNN | None:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != CACHE_FORMAT or blob.get("key") != key:
            return None
        model = SmallCNN(image_shape, num_classes)  # type: ignore[arg-type]
        model.load_state_dict(blob["state_dict"])
    except Exception:  # truncated, foreign or stale file: retrain and overwrite it
        return None
    return model.eval()


def feature_net(real_train: LabeledImages, *, settings: FeatureNetSettings, cache_dir: str | os.PathLike | None,
                progress: bool = False) -> tuple[SmallCNN, dict[str, Any]]:
    """The cached real-train feature network, training (and caching) it on first use."""
    data = real_train
    if settings.max_train_records is not None and len(data) > settings.max_train_records:
        data = data.subset(torch.arange(settings.max_train_records))
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(data, settings)
    path = directory / f"{key}.pt"
    image_shape = tuple(data.x.shape[1:])
    model = _load_cached(path, key, image_shape, data.num_classes) if path.is_file() else None
    info: dict[str, Any] = {"cache_file": str(path), "from_cache": model is not None, "arch": ARCH_VERSION,
                            "trained_on": f"{data.name} real training set ({len(data)} records)"}
    if model is None:
        if progress:
            print(f"[evaluate] training the FID-like feature network on {len(data)} real training records "
                  f"(once per dataset; cached in {directory})", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        x = unit_pixels(data.x, source=f"{data.name} real train")
        trained = train_cnn(x, data.y, data.num_classes, settings=settings.training, seed=settings.seed,
                            progress=progress, label="feature network")
        model = trained.model
        info["training_s"] = round(time.perf_counter() - t0, 1)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            save_torch_atomic(path, {"format": CACHE_FORMAT, "key": key,
                                     "holdout_accuracy": trained.holdout_accuracy,
                                     "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}})
        except OSError as e:  # a read-only cache must not lose the evaluation: warn and go on
            info["cache_error"] = f"{type(e).__name__}: {e}"
            print(f"[evaluate] warning: could not cache the feature network in {directory}: {e}",
                  file=sys.stderr, flush=True)
    return model, info


def feature_gaussian(model: SmallCNN, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the feature-network embedding of images x (float pixels in [0, 1])."""
    if len(x) < 2:
        raise DataError(f"the FID-like metric needs at least 2 images per set, got {len(x)}")
    return gaussian_fit(extract_features(model, x))


def fid_like(model: SmallCNN, x_a: torch.Tensor, x_b: torch.Tensor) -> float:
    """Fréchet distance between the feature Gaussians of two image sets."""
    return frechet_distance(*feature_gaussian(model, x_a), *feature_gaussian(model, x_b))
