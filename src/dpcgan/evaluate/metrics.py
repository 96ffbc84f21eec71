"""Pure metric helpers on numpy arrays: AUROC, accuracy, confusion counts and the Fréchet distance."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch
from sklearn.metrics import roc_auc_score


def align_proba(proba: np.ndarray, classes: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) probabilities from a model that only saw `classes`: a class absent from the training
    labels gets probability 0 instead of shifting every later column one place to the left."""
    out = np.zeros((proba.shape[0], num_classes), dtype=np.float64)
    out[:, np.asarray(classes, dtype=np.int64)] = proba
    return out


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    # label_binarize(y, classes=range(K)) for K > 2; it collapses K == 2 to one column, this does not.
    return np.eye(num_classes, dtype=np.int64)[np.asarray(y, dtype=np.int64)]


def micro_auroc(y_true: np.ndarray, proba: np.ndarray, num_classes: int) -> float:
    """ROC AUC over all (sample, class) pairs: the paper's micro average of one-vs-rest scores."""
    return float(roc_auc_score(one_hot(y_true, num_classes), proba, average="micro"))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    flat = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(confusion: np.ndarray) -> list[float | None]:
    """Recall of each class; None for a class with no test records."""
    totals = confusion.sum(axis=1)
    return [float(confusion[k, k] / totals[k]) if totals[k] else None for k in range(len(totals))]


def label_histogram(y: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(np.asarray(y, np.int64), minlength=num_classes).astype(int).tolist()


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of rows, in float64 so that sums over 10^4 rows stay exact enough."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature rows (N, D), got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Fréchet distance of two Gaussians."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched Gaussian parameters: {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # Dead ReLU features make the covariances singular; sqrtm warns but is still accurate, and a
        # non-finite result is caught below.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            # Regularise both covariances slightly, as pytorch-fid does.
            offset = np.eye(mu1.size) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # Rounding gives the square root of a PSD product tiny imaginary parts; anything larger means the
        # inputs were not covariances, and the trace of the real part would be meaningless.
        scale = max(1.0, float(np.abs(covmean.real).max()))
        if np.abs(covmean.imag).max() > 1e-3 * scale:
            covmean = _sqrtm_psd_product(sigma1, sigma2)
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # rounding can give -1e-12 for identical inputs


def _sqrtm_psd_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """A matrix with the trace of (S1 S2)^(1/2), via the symmetric form S1^(1/2) S2 S1^(1/2): same
    eigenvalues as S1 S2, but symmetric PSD, so eigh applies and no complex arithmetic appears."""
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    w2 = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    return np.diag(np.sqrt(np.clip(w2, 0, None)))


def _kth_neighbour_radii(feats: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row of the same set."""
    radii = []
    for i in range(0, len(feats), chunk):
        d = torch.cdist(feats[i : i + chunk], feats)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # k + 1: the row itself is at distance 0
    return torch.cat(radii)


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """For each point: is it inside at least one ball (centre, radius)?"""
    out = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i : i + chunk], centres)
        out.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(out)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 5, chunk: int = 1024) -> dict:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of feature sets (N, d): each set's manifold is
    the union of balls around its points with radius the distance to the k-th nearest neighbour in the set.
    precision: fraction of fakes inside the real manifold (fidelity); recall: fraction of reals inside the fake
    manifold (diversity: a generator that collapses each class to a few images covers few real points)."""
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set "
                         f"(got {len(real)} real, {len(fake)} fake)")
    r = torch.as_tensor(np.asarray(real), dtype=torch.float32)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float32)
    precision = _covered(f, r, _kth_neighbour_radii(r, k, chunk), chunk).double().mean()
    recall = _covered(r, f, _kth_neighbour_radii(f, k, chunk), chunk).double().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}
