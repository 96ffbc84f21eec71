"""Run dpmm's AIM or MST (SAS's implementations on Private-PGM) on a discretised table, in dpmm's own virtual
environment. Usage: python _dpmm_runner.py NAME EPSILON DELTA TRAIN.csv DOMAIN.json OUT.csv N SEED

Every column of TRAIN.csv is an integer code on the public schema (categories plus 'missing'; numerics in the
same bins of the public bounds the other methods get), DOMAIN.json the number of codes per column: dpmm's own
DP binning is off (disable_processing), so its whole epsilon goes to the model, on the same public domain."""

import json
import sys
import time

import pandas as pd

name, eps, delta, train, domain_file, out, n, seed = sys.argv[1:9]
from dpmm.pipelines import AIMPipeline, MSTPipeline  # noqa: E402

df = pd.read_csv(train).astype("int64")
domain = json.loads(open(domain_file).read())
pipeline = {"aim": AIMPipeline, "mst": MSTPipeline}[name](epsilon=float(eps), delta=float(delta),
                                                          disable_processing=True, n_jobs=1)
t0 = time.time()
pipeline.fit(df, domain=domain, random_state=int(seed))
sample = pipeline.generate(n_records=int(n), random_state=int(seed))
sample[list(df.columns)].to_csv(out, index=False)
print(f"fit+sample {time.time() - t0:.1f} s")
