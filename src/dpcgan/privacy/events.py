"""Privacy events: what a ledger records (one Gaussian mechanism, its sampling, and which release it is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Full-data releases (sample rate 1) and the mechanism each stands for. All have the RDP alpha / (2 s^2) of a
# Gaussian mechanism with noise multiplier s; their exact privacy loss distributions differ (pld.py).
RELEASES = {
    None: "Gaussian mechanism, L2 sensitivity 1, noise std s (continuous)",
    "label-histogram": "discrete Gaussian N_Z(0, s^2) on the class counts (one count moves by 1)",
    "warm-start": "per-class sums (L2 sensitivity 1) + N(0, 2 s^2) and class counts (one moves by 1) + N_Z(0, 2 s^2)",
    "warm-start-embedding": "per-class sums of random Fourier features (each record's of norm 1) + N(0, s^2)",
    "schema-draft": "discrete Gaussian N_Z(0, J s^2) on per-column counts (J counts move by 1 each)",
    "marginals": "discrete Gaussian N_Z(0, J s^2) on J count tables (one count of each moves by 1)",
    "marginal-selection": "Gaussian N(0, P s^2) on P scores (each moves by at most 1: L2 sensitivity sqrt(P))",
}


@dataclass(frozen=True)
class SampledGaussianEvent:
    """`count` compositions of the Poisson-subsampled Gaussian mechanism (dp_accounting:
    SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(sigma)), count)); with sample rate 1, a release
    over the whole data set, `release` naming which (RELEASES; `coordinates`: J for a schema draft)."""

    sample_rate: float
    noise_multiplier: float
    count: int
    release: str | None = None
    coordinates: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.release is None:   # D steps keep the three keys they always had
            del d["release"], d["coordinates"]
        return d
