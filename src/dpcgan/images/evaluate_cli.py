"""`dpcgan evaluate` on images: a run's (or a given .npz's) synthetic images scored against real ones."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..data import BENCHMARKS, load_dataset
from ..errors import DataError, DPCGANError
from ..io import write_json_atomic
from ..train.run_dir import read_private_record, write_private_json


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


DEFAULT_SAMPLES_MAX = 60_000


def default_sample_count(run_dir: Path) -> int:
    """min(60,000, 10 n): ten synthetic records per training record, n the run's public dataset size."""
    try:
        n = int(json.loads((run_dir / "privacy.json").read_text())["assumed_public"]["n"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_SAMPLES_MAX
    return max(1, min(DEFAULT_SAMPLES_MAX, 10 * n))


@contextmanager
def private_cache(run: str | None, train_source: dict):
    """Where the feature network may be cached: None (the user cache) for a public benchmark; RUN/private/eval-cache
    (mode 0700) for private training data; a temporary folder, removed afterwards, when there is no run."""
    if train_source.get("kind") == "public-benchmark":
        yield None
    elif run is not None:
        directory = Path(run) / "private" / "eval-cache"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        yield directory
    else:
        with tempfile.TemporaryDirectory(prefix="dpcgan-eval-") as tmp:
            yield Path(tmp)


def evaluate_image_run(args) -> int:
    """`dpcgan evaluate` for an image run (or a synthetic .npz): CNN accuracy, FID-like distance, ... on real test
    images; the result is public only when every real input is a public benchmark."""
    try:
        from ..evaluate import evaluate_real_reference, evaluate_synthetic, format_table
    except ImportError as e:
        raise DPCGANError(f"dpcgan evaluate needs scikit-learn ({e}); install it with: pip install 'dpcgan[eval]'") from e
    from ..evaluate.sources import (EVALUATION_FILE, PRIVATE_EVALUATION_FILE, data_source, describe, is_public,
                                    strip_locations)
    from ..sample import write_synthetic

    if not args.run and not args.synthetic:
        raise DPCGANError("give a run directory or --synthetic FILE.npz")
    dataset, run_config, record = args.dataset, {}, {}
    if args.run:
        run_dir = Path(args.run)
        config = run_dir / "config.json"
        if not config.is_file():
            raise DPCGANError(f"{run_dir} is not a dpcgan run directory (no config.json)")
        run_config = json.loads(config.read_text())["config"]
        record = read_private_record(run_dir)  # the training data's location (config.json names it only)
        dataset = dataset or record.get("dataset") or run_config["dataset"]
    if not dataset and not args.test:
        raise DPCGANError("--synthetic needs --dataset (the real benchmark) or --test FILE (your real test records)")
    labels = {"num_classes": run_config.get("num_classes"), "image_size": run_config.get("image_size"),
              "channels": run_config.get("channels"), "label_names": run_config.get("label_names")}
    if args.test:
        real_test = load_dataset(args.test, "train", **labels)
        train_source = args.train or dataset
        if not train_source:
            raise DPCGANError("--test needs the real training records too (for the FID-like features): --train FILE")
        real_train = load_dataset(train_source, "train", args.data_dir or record.get("data_dir"), **labels)
        sources = {"train": data_source(train_source, "train"), "test": data_source(args.test, "train")}
    elif dataset in BENCHMARKS:
        real_train = load_dataset(args.train or dataset, "train", args.data_dir, **(labels if args.train else {}))
        real_test = load_dataset(dataset, "test", args.data_dir)
        sources = {"train": data_source(args.train or dataset, "train"), "test": data_source(dataset, "test")}
    else:
        raise DPCGANError(f"the run trained on your own data ({Path(dataset).name}): give its real test records with "
                          "--test FILE (evaluation reads real data and is outside the guarantee)")
    # the real data is resolved first: a run that cannot be evaluated gets no synthetic.npz written
    if args.synthetic:
        synthetic = Path(args.synthetic)
    else:
        synthetic = run_dir / "synthetic.npz"
        if not synthetic.is_file():
            count = args.n if args.n is not None else default_sample_count(run_dir)
            write_synthetic(run_dir, count)
            print(f"sampled {count} records into {synthetic}")
    if not synthetic.is_file():
        raise DataError(f"{synthetic}: no such file")
    x, y = _load_synthetic(synthetic)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    # the FID-like feature network trained on private images is private too: cached in RUN/private/ (owner-only),
    # or not at all without a run; the benchmarks' networks go to the shared user cache
    with private_cache(args.run if not args.synthetic else None, sources["train"]) as cache_dir:
        result = evaluate_synthetic(x, y, real_train, real_test, num_classes=real_test.num_classes, seed=args.seed,
                                    metrics=metrics, cache_dir=cache_dir)
        result["synthetic_file"] = str(synthetic)
        reference = None
        if args.real if args.real is not None else bool(args.test):
            reference = evaluate_real_reference(real_train, real_test, seed=args.seed, metrics=metrics,
                                                cache_dir=cache_dir)
        result["real_reference"] = reference
    # where the real data came from decides where the result may go: by name only, never located
    result["data_sources"] = sources
    result = strip_locations(result, Path(args.run) if args.run else None)
    public = is_public(result)
    if args.out:
        out = Path(args.out)
        write_json_atomic(out, result)
    elif args.run and not args.synthetic:
        out = Path(args.run) / (EVALUATION_FILE if public else PRIVATE_EVALUATION_FILE)
        if public:
            write_json_atomic(out, result)
        else:
            write_private_json(Path(args.run), Path(PRIVATE_EVALUATION_FILE).name, result)
    else:
        out = synthetic.parent / EVALUATION_FILE
        write_json_atomic(out, result)
    print(format_table(result, reference, label_names=run_config.get("label_names")))
    if public:
        print(f"\nwrote {out} (real data: public benchmarks only, {describe(result)})")
    else:
        print(f"\nwrote {out} (PRIVATE: computed on private data, {describe(result)}; `dpcgan report` leaves it out "
              "of the releasable report.html and MODEL_CARD.md)")
        stale = Path(args.run) / EVALUATION_FILE if args.run and not args.out and not args.synthetic else None
        if stale is not None and stale.is_file():
            print(f"note: {stale} is an earlier evaluation; `dpcgan report` includes it in the releasable files only "
                  "if it records public benchmarks as its data")
    return 0
