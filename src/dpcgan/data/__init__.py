from .datasets import LabeledImages, MappedImages, load_benchmark, load_dataset, load_mapped, load_npz
from .download import BENCHMARKS, download_dataset, ensure_dataset
from .sampler import PoissonSampler

__all__ = ["LabeledImages", "MappedImages", "load_mapped", "load_benchmark", "load_dataset", "load_npz", "BENCHMARKS", "download_dataset",
           "ensure_dataset", "PoissonSampler"]
