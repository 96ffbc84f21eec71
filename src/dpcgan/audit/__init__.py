"""Empirical privacy audits: membership inference on a released run and the canary experiment."""

from .bounds import attack_summary, epsilon_lower_bound, roc_auc
from .canary import canary_experiment, make_canary
from .membership import membership_audit

__all__ = ["attack_summary", "epsilon_lower_bound", "roc_auc", "canary_experiment", "make_canary", "membership_audit"]
