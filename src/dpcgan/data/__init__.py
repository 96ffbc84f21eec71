from .datasets import LabeledImages, OnDiskImages, load_benchmark, load_dataset, load_npy_dir, load_npz
from .download import BENCHMARKS, download_dataset, ensure_dataset
from .sampler import PoissonSampler

__all__ = ["LabeledImages", "OnDiskImages", "load_npy_dir", "load_benchmark", "load_dataset", "load_npz", "BENCHMARKS", "download_dataset",
           "ensure_dataset", "PoissonSampler"]
