"""From an attack's scores to an empirical lower bound on epsilon.

If a mechanism is (eps, delta)-DP, every membership test satisfies TPR <= e^eps * FPR + delta and
(1 - FPR) <= e^eps * (1 - TPR) + delta. So any threshold with true rates (TPR, FPR) certifies
eps >= max(log((TPR - delta) / FPR), log((1 - FPR - delta) / (1 - TPR))). With finitely many trials we use
Clopper-Pearson bounds (TPR from below, FPR from above) so the reported lower bound holds with the stated
confidence, as in the DP auditing literature (Jagielski et al. 2020; Nasr et al. 2021).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta


def clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Two-sided interval for a binomial rate; each side has (1 - confidence)/2."""
    k = np.asarray([successes])
    return float(_cp_lower(k, trials, 1 - confidence)[0]), float(_cp_upper(k, trials, 1 - confidence)[0])


def roc_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """P(member score > non-member score) + 0.5 P(tie): the Mann-Whitney form of the ROC AUC."""
    scores = np.concatenate([member_scores, nonmember_scores])
    ranks = _average_ranks(scores)
    n1, n0 = len(member_scores), len(nonmember_scores)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, fpr: float) -> float:
    """The TPR of the threshold whose empirical FPR is at most `fpr` (higher score = 'member')."""
    neg = np.sort(nonmember_scores)[::-1]
    k = int(math.floor(fpr * len(neg)))
    threshold = neg[k] if k < len(neg) else -np.inf  # strictly above the (k+1)-th largest non-member score
    return float((member_scores > threshold).mean())


def _cp_lower(k: np.ndarray, n: int, alpha: float) -> np.ndarray:
    return np.where(k == 0, 0.0, beta.ppf(alpha / 2, np.maximum(k, 1), n - k + 1))


def _cp_upper(k: np.ndarray, n: int, alpha: float) -> np.ndarray:
    return np.where(k == n, 1.0, beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1)))


def epsilon_lower_bound(member_scores: np.ndarray, nonmember_scores: np.ndarray, delta: float,
                        confidence: float = 0.95) -> dict:
    """The largest epsilon certified by any threshold, using Clopper-Pearson bounds on TPR and FPR.

    The bound holds at `confidence` for one pre-chosen threshold; we report the best over thresholds, an
    attacker-favourable estimate: the right direction for a check that the accounted epsilon is never beaten.
    """
    m, n = len(member_scores), len(nonmember_scores)
    alpha = 1.0 - confidence
    thresholds = np.unique(np.concatenate([member_scores, nonmember_scores]))
    # counts of scores >= t for every threshold t, by binary search on the sorted scores
    tp = m - np.searchsorted(np.sort(member_scores), thresholds, side="left")
    fp = n - np.searchsorted(np.sort(nonmember_scores), thresholds, side="left")
    tpr_lo, fpr_hi = _cp_lower(tp, m, alpha), _cp_upper(fp, n, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        eps_pos = np.where((fpr_hi > 0) & (tpr_lo - delta > 0), np.log((tpr_lo - delta) / fpr_hi), 0.0)
        eps_neg = np.where((tpr_lo < 1) & (1 - fpr_hi - delta > 0), np.log((1 - fpr_hi - delta) / (1 - tpr_lo)), 0.0)
    eps = np.maximum(np.maximum(eps_pos, eps_neg), 0.0)
    i = int(np.argmax(eps))
    return {"epsilon_lower_bound": float(eps[i]), "threshold": float(thresholds[i]), "tpr": float(tp[i] / m),
            "fpr": float(fp[i] / n), "confidence": confidence}


def attack_summary(member_scores: np.ndarray, nonmember_scores: np.ndarray, delta: float,
                   confidence: float = 0.95) -> dict:
    member_scores, nonmember_scores = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    return {
        "auc": roc_auc(member_scores, nonmember_scores),
        "tpr_at_fpr": {str(f): tpr_at_fpr(member_scores, nonmember_scores, f) for f in (0.1, 0.01, 0.001)},
        "n_members": len(member_scores), "n_nonmembers": len(nonmember_scores),
        **epsilon_lower_bound(member_scores, nonmember_scores, delta, confidence),
    }
