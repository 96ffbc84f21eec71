"""dpcgan: differentially private conditional GANs (DP-CGAN) that release labeled synthetic data.

The pieces the CLI is made of are the public API:

    from dpcgan.config import preset
    from dpcgan.data import load_dataset
    from dpcgan.train import train
    from dpcgan.sample import load_generator, sample_synthetic
"""

__version__ = "0.1.0"
