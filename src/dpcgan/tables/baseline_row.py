"""The baseline row of `dpcgan evaluate` on a table run (issue 23 item 4): the label-conditional independent-marginals
DP baseline (baselines.py) fitted on the run's real training rows at the run's epsilon and delta, sampled to the
same number of rows and scored with the same evaluate_table. Like every evaluation it reads real rows: its result is
private (RUN/private/evaluation.json), never released."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .baselines import IndependentMarginals
from .evaluate import evaluate_table
from .schema import TableSchema

BASELINES = ("marginals", "none")   # --baseline: the independent-marginals row (default) or no baseline row
BASELINE_NAME = "independent marginals"


def baseline_row(train: pd.DataFrame, test: pd.DataFrame, schema: TableSchema, *, epsilon: float, delta: float,
                 n: int, seed: int = 0) -> dict:
    """The baseline's TSTR, fidelity and per-column TV (no shares, no reference: those are the run's)."""
    rng = np.random.default_rng(seed)   # an evaluation, never released: reproducible with --seed
    model = IndependentMarginals(schema, epsilon=epsilon, delta=delta).fit(train, rng)
    result = evaluate_table(model.sample(n, rng), test, schema, real_train=train, seed=seed, reference=False)
    columns = [{"column": e["column"], "type": e["type"], "tv": e["tv"]} for e in result["per_column"]]
    # the baseline's RDP (opacus conversion) epsilon, as benchmarks/tabular.py runs it: never above the run's
    return {"method": BASELINE_NAME, "epsilon": float(model.epsilon), "delta": delta, "conversion": model.conversion,
            "n_synthetic": result["n_synthetic"], "tstr": result["tstr"], "fidelity": result["fidelity"],
            "fidelity_against": result["fidelity_against"], "per_column": columns}
