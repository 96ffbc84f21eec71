"""Run one SmartNoise Synth synthesizer on a discretised table (run in its own virtual environment: its pinned
Opacus is older than dpcgan's). Usage: python _smartnoise_runner.py NAME EPSILON DELTA TRAIN.csv OUT.csv N SEED

Every column of TRAIN.csv is an integer code (categories, or numerics binned on the public bounds by
benchmarks/tabular.py), so every synthesizer sees the same public domain."""

import sys
import time

import numpy as np
import pandas as pd

name, eps, delta, train, out, n, seed = sys.argv[1:8]
import torch  # noqa: E402

torch.manual_seed(int(seed))
np.random.seed(int(seed))
from snsynth import Synthesizer  # noqa: E402

df = pd.read_csv(train).astype(int)
kwargs = {"epsilon": float(eps), "verbose": False}
if name in ("dpctgan", "patectgan"):
    kwargs["delta"] = float(delta)
    kwargs["epochs"] = 30 if name == "dpctgan" else 10
t0 = time.time()
synth = Synthesizer.create(name, **kwargs)
synth.fit(df, categorical_columns=list(df.columns), preprocessor_eps=0.0)
sample = synth.sample(int(n))
pd.DataFrame(sample, columns=df.columns).to_csv(out, index=False)
print(f"fit+sample {time.time() - t0:.1f} s")
