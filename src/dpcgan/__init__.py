"""dpcgan: differentially private conditional GANs (DP-CGAN) that release labeled synthetic data.

    from dpcgan import DPCGAN
    m = DPCGAN(preset="mnist-eps10", epsilon=5.0).fit(x, y, labels=["a", "b", "c"])
    x_syn, y_syn = m.sample(10_000)

The pieces the CLI is made of are public too:

    from dpcgan.config import preset
    from dpcgan.data import load_dataset
    from dpcgan.train import train
    from dpcgan.sample import load_generator, sample_synthetic
"""

__version__ = "0.1.0"

from .errors import ConfigError, DataError, DPCGANError  # noqa: E402


def __getattr__(name):  # `from dpcgan import DPCGAN` without importing torch for `dpcgan --version`
    if name == "DPCGAN":
        from .api import DPCGAN

        return DPCGAN
    raise AttributeError(name)


__all__ = ["DPCGAN", "DPCGANError", "ConfigError", "DataError", "__version__"]
