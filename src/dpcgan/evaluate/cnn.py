"""A small fixed CNN, its training with model selection on a holdout of the *training* data, and inference.

Used twice: trained on synthetic data for "train on synthetic, test on real" accuracy, and trained on the
real training set as the feature extractor of the FID-like metric. `train_cnn` receives only training
arrays; whatever it selects (the epoch) is selected on a holdout carved out of those arrays.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Bump when SmallCNN or its training changes: cached feature networks are keyed by it.
ARCH_VERSION = "smallcnn-v1"


class SmallCNN(nn.Module):
    """conv32-pool-conv64-pool-fc128-fc(K), ReLU, dropout. Pooling after the first conv keeps one epoch on
    60k 28x28 images within seconds on two CPU cores (the second conv runs at 14x14)."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = image_shape
        self.conv1 = nn.Conv2d(c, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (h // 4) * (w // 4), 128)
        self.fc2 = nn.Linear(128, num_classes)
        self.drop_conv = nn.Dropout(0.25)
        self.drop_fc = nn.Dropout(0.5)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (128 units after ReLU): the FID-like embedding."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.drop_conv(x).flatten(1)
        return F.relu(self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop_fc(self.features(x)))


@dataclass(frozen=True)
class CNNSettings:
    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3                 # Adam
    holdout_fraction: float = 0.1    # of the training data, for choosing the epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedCNN:
    model: SmallCNN
    selected_epoch: int                      # 1-based; the epoch whose weights were kept
    holdout_accuracy: list[float] = field(default_factory=list)   # per epoch, on the training-data holdout
    n_fit: int = 0
    n_holdout: int = 0


def _holdout_split(n: int, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    n_hold = int(round(fraction * n)) if n >= 10 else 0   # too few records to spare any: keep the last epoch
    return perm[n_hold:], perm[:n_hold]


# Inference batch: on CPU, 256 images run faster per image than 1000 (the activations stay in cache).
INFERENCE_BATCH = 256


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = INFERENCE_BATCH) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else \
        torch.empty(0, model.fc2.out_features)


@torch.no_grad()
def extract_features(model: SmallCNN, x: torch.Tensor, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    model.eval()
    return torch.cat([model.features(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).double().numpy()


def train_cnn(x: torch.Tensor, y: torch.Tensor | np.ndarray, num_classes: int, *, settings: CNNSettings,
              seed: int, progress: bool = False, label: str = "cnn") -> TrainedCNN:
    """Train SmallCNN on (x, y): float pixels (N, C, H, W) in [0, 1] and labels in [0, num_classes).

    A `holdout_fraction` of (x, y) is held out; after each epoch the holdout accuracy is measured and the
    best epoch's weights are kept. No other data enters: this function has no test-set parameter.
    """
    y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    fit_idx, hold_idx = _holdout_split(len(y), settings.holdout_fraction, gen)
    x_fit, y_fit, x_hold, y_hold = x[fit_idx], y[fit_idx], x[hold_idx], y[hold_idx]
    with torch.random.fork_rng(devices=[]):   # seeded init and dropout without disturbing the caller's RNG
        torch.manual_seed(seed)
        model = SmallCNN(tuple(x.shape[1:]), num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
        best_acc, best_epoch, best_state, history = -1.0, settings.epochs, None, []
        steps = math.ceil(len(y_fit) / settings.batch_size)
        for epoch in range(1, settings.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(len(y_fit), generator=gen)
            for s in range(steps):
                b = order[s * settings.batch_size : (s + 1) * settings.batch_size]
                loss = F.cross_entropy(model(x_fit[b]), y_fit[b])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if len(y_hold):
                acc = float((predict_logits(model, x_hold).argmax(1) == y_hold).double().mean())
                history.append(acc)
                if acc > best_acc:
                    best_acc, best_epoch = acc, epoch
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
            if progress:
                held = f", holdout accuracy {history[-1]:.4f}" if history else ""
                print(f"[evaluate] {label}: epoch {epoch}/{settings.epochs} ({time.perf_counter() - t0:.1f}s){held}",
                      file=sys.stderr, flush=True)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainedCNN(model, best_epoch, history, n_fit=len(y_fit), n_holdout=len(y_hold))
