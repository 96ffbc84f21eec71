"""`dpcgan evaluate RUN --test test.csv` for a table run: TSTR utility, the real-data reference, the baseline row at
the run's epsilon (--baseline marginals, the default), fidelity and per-column TV (worst first), and a warning per
schema category never generated."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DPCGANError
from ..io import write_json_atomic
from ..train.run_dir import read_private_record, write_private_json
from .baseline_row import baseline_row
from .csvio import read_frame
from .synth import run_schema, write_synthetic_table


def evaluate_table_run(args) -> int:
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise DPCGANError("dpcgan evaluate needs scikit-learn; install it with: pip install 'dpcgan[eval]'") from e
    from ..evaluate.sources import EVALUATION_FILE, PRIVATE_EVALUATION_FILE, data_source, describe, strip_locations
    from .evaluate import evaluate_table, format_table, never_generated_warnings

    run_dir = Path(args.run)
    schema = run_schema(run_dir)
    if not args.test:
        raise DPCGANError("a table run is evaluated against real test rows: --test FILE.csv (evaluation reads real "
                          "data and is outside the guarantee)")
    test = read_frame(args.test, schema)
    record = read_private_record(run_dir)
    train_source = args.train or record.get("dataset")
    train = read_frame(train_source, schema) if train_source and Path(train_source).is_file() else None
    if args.synthetic:
        synthetic_file = Path(args.synthetic)
    else:
        synthetic_file = run_dir / "synthetic.csv"
        if not synthetic_file.is_file():
            n = len(train) if train is not None else args.n
            write_synthetic_table(run_dir, n, out=synthetic_file)
            print(f"sampled {n} rows into {synthetic_file}")
    synthetic = read_frame(synthetic_file, schema)
    result = evaluate_table(synthetic, test, schema, real_train=train, seed=args.seed)
    budget, no_baseline = _baseline_budget(args.baseline, train, run_dir)
    if budget is not None:
        result["baseline"] = baseline_row(train, test, schema, epsilon=budget[0], delta=budget[1], n=len(synthetic),
                                          seed=args.seed)
    result["synthetic_file"] = str(synthetic_file)
    # the real rows are the user's (there are no public table benchmarks): the result is private, named not located
    result["data_sources"] = {"train": data_source(train_source, "train") if train is not None else None,
                              "test": data_source(args.test, "test")}
    result = strip_locations(result, run_dir)
    if args.out:
        out = Path(args.out)
        write_json_atomic(out, result)
    elif args.synthetic:
        out = synthetic_file.parent / EVALUATION_FILE
        write_json_atomic(out, result)
    else:
        out = write_private_json(run_dir, Path(PRIVATE_EVALUATION_FILE).name, result)
    print(format_table(result))
    if train is None:
        print("(no real-data reference: the run's training file was not found; pass --train FILE)")
    if no_baseline:
        print(f"(no baseline row: {no_baseline})")
    for line in never_generated_warnings(result):
        print(line)
    print(f"\nwrote {out} (PRIVATE: computed on private data, {describe(result)}; `dpcgan report` leaves it out "
          "of the releasable files)")
    return 0


def _baseline_budget(baseline: str, train, run_dir: Path) -> tuple[tuple[float, float] | None, str]:
    """((epsilon, delta) of the run, "") when the baseline row can be computed, else (None, why not): it is fitted on
    the real training rows at the run's epsilon and delta, so it needs both."""
    if baseline == "none":
        return None, "--baseline none"
    if train is None:
        return None, "the run's training file was not found; pass --train FILE to fit the baseline on it"
    try:
        privacy = json.loads((run_dir / "privacy.json").read_text())
    except (OSError, ValueError):
        return None, f"{run_dir / 'privacy.json'} could not be read (the baseline runs at the run's epsilon and delta)"
    if privacy.get("epsilon") is None or privacy.get("delta") is None:
        return None, "the run has no epsilon (--mode off), so there is no budget to match"
    return (float(privacy["epsilon"]), float(privacy["delta"])), ""
