"""Utility and fidelity of labeled synthetic data, measured against the real data of the same dataset.

    from dpcgan.evaluate import evaluate_synthetic, evaluate_real_reference, format_table

Modules: inputs (validation, one [0, 1] pixel scale), metrics (AUROC, accuracy, Fréchet distance),
classifiers (the paper's scikit-learn protocol), cnn (train-on-synthetic CNN), fidelity (FID-like score
with a cached real-train feature network), pipeline (the two entry points), report (the text table).
"""

from .classifiers import PaperSettings
from .cnn import CNNSettings
from .fidelity import FeatureNetSettings, default_cache_dir
from .pipeline import METRICS, NOTE, EvalSettings, evaluate_real_reference, evaluate_synthetic
from .report import format_table

__all__ = ["evaluate_synthetic", "evaluate_real_reference", "format_table", "EvalSettings", "PaperSettings",
           "CNNSettings", "FeatureNetSettings", "METRICS", "NOTE", "default_cache_dir"]
