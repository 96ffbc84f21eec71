"""dpcgan evaluate: utility and fidelity of a run's synthetic data against the real test split (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data import load_dataset
from ..errors import DataError, DPCGANError
from ..io import write_json_atomic


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="train-on-synthetic/test-on-real utility (LR, MLP, CNN) and FID-like score")
    p.add_argument("run", nargs="?", help="run directory (uses RUN/synthetic.npz, sampling 60,000 if absent)")
    p.add_argument("--synthetic", help="a synthetic .npz (x, y) to evaluate instead of a run's")
    p.add_argument("--dataset", help="the real dataset to test against (default: the run's)")
    p.add_argument("--data-dir", help="where the dataset files are")
    p.add_argument("--metrics", default="paper,cnn,fid", help="comma-separated subset of paper,cnn,fid")
    p.add_argument("--real", action="store_true", help="add the reference row computed on the real training data")
    p.add_argument("-n", type=int, default=60000, help="samples to draw when the run has no synthetic.npz")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation models")
    p.add_argument("--out", help="evaluation.json path (default: beside the synthetic data)")


def _load_synthetic(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            if not {"x", "y"} <= set(f.files):
                raise DataError(f"{path}: a synthetic .npz needs arrays x and y (has {f.files})")
            return f["x"], f["y"]
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"cannot read {path} as .npz: {e}") from e


def run(args) -> int:
    try:
        from ..evaluate import evaluate_real_reference, evaluate_synthetic, format_table
    except ImportError as e:
        raise DPCGANError(f"dpcgan evaluate needs scikit-learn ({e}); install it with: pip install 'dpcgan[eval]'") from e
    from ..sample import write_synthetic

    if not args.run and not args.synthetic:
        raise DPCGANError("give a run directory or --synthetic FILE.npz")
    dataset = args.dataset
    if args.run:
        run_dir = Path(args.run)
        config = run_dir / "config.json"
        if not config.is_file():
            raise DPCGANError(f"{run_dir} is not a dpcgan run directory (no config.json)")
        dataset = dataset or json.loads(config.read_text())["config"]["dataset"]
    if not dataset:
        raise DPCGANError("--synthetic needs --dataset (the real dataset to test against)")
    if args.synthetic:
        synthetic = Path(args.synthetic)
    else:
        synthetic = run_dir / "synthetic.npz"
        if not synthetic.is_file():
            write_synthetic(run_dir, args.n)
            print(f"sampled {args.n} records into {synthetic}")
    if not synthetic.is_file():
        raise DataError(f"{synthetic}: no such file")
    x, y = _load_synthetic(synthetic)
    real_train = load_dataset(dataset, "train", args.data_dir)
    real_test = load_dataset(dataset, "test", args.data_dir)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    result = evaluate_synthetic(x, y, real_train, real_test, num_classes=real_test.num_classes, seed=args.seed,
                                metrics=metrics)
    result["synthetic_file"] = str(synthetic)
    reference = None
    if args.real:
        reference = evaluate_real_reference(real_train, real_test, seed=args.seed, metrics=metrics)
        result["real_reference"] = reference
    out = Path(args.out) if args.out else (Path(args.run) if args.run and not args.synthetic else synthetic.parent) / "evaluation.json"
    write_json_atomic(out, result)
    print(format_table(result, reference))
    print(f"\nwrote {out}")
    return 0
