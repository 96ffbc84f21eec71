from .datasets import LabeledImages, load_benchmark, load_dataset, load_npz
from .download import BENCHMARKS, download_dataset, ensure_dataset
from .sampler import PoissonSampler

__all__ = ["LabeledImages", "load_benchmark", "load_dataset", "load_npz", "BENCHMARKS", "download_dataset",
           "ensure_dataset", "PoissonSampler"]
