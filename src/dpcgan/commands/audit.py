"""dpcgan audit: membership-inference attacks on a run, and optionally the canary experiment -> RUN/private/audit.json."""

from __future__ import annotations

import json
from pathlib import Path

from ..data import load_dataset
from ..errors import DPCGANError
from ..io import write_json_atomic
from ..train.run_dir import AUDIT_FILE, read_private_record


def add_parser(sub) -> None:
    p = sub.add_parser("audit", help="empirical privacy audit: membership inference and a canary experiment")
    p.add_argument("run", help="run directory")
    p.add_argument("--data-dir", help="where the dataset files are")
    p.add_argument("--holdout", help="non-member records (.npz) for a run on a .npz dataset (default: test split)")
    p.add_argument("-n", type=int, default=2000, help="members and non-members attacked (each)")
    p.add_argument("--canary", action="store_true", help="also run the canary experiment (trains 2 x trials models)")
    p.add_argument("--canary-trials", type=int, default=8)
    p.add_argument("--canary-copies", type=int, default=1)
    p.add_argument("--canary-records", type=int, default=2000, help="training records in each canary run")
    p.add_argument("--canary-steps", type=int, default=200, help="D steps of each canary run")
    p.add_argument("--canary-epsilon", type=float, default=2.0, help="budget of each canary run")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    import torch

    from ..audit import canary_experiment, membership_audit
    from ..config import TrainConfig

    run_dir = Path(args.run)
    if not (run_dir / "privacy.json").is_file():
        raise DPCGANError(f"{run_dir} is not a completed dpcgan run (no privacy.json)")
    privacy = json.loads((run_dir / "privacy.json").read_text())
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())["config"])
    # config.json names the data only; where it is was kept in the run's private part
    cfg = cfg.replace(dataset=read_private_record(run_dir).get("dataset") or cfg.dataset)
    members = load_dataset(cfg.dataset, "train", args.data_dir, num_classes=cfg.num_classes)
    if args.holdout:
        nonmembers = load_dataset(args.holdout, "train", num_classes=members.num_classes)
    elif cfg.dataset.endswith(".npz"):
        raise DPCGANError("the run trained on a .npz file: pass held-out records of the same kind with --holdout FILE.npz")
    else:
        nonmembers = load_dataset(cfg.dataset, "test", args.data_dir)
    report = {
        "note": "The audit reads the private training data: its output is NOT covered by the DP guarantee. "
                "Empirical lower bounds never prove privacy; they can only expose a broken guarantee.",
        "accounted_epsilon": privacy["epsilon"], "delta": privacy["delta"],
        "membership": membership_audit(run_dir, members, nonmembers, delta=privacy["delta"], n_candidates=args.n,
                                       seed=args.seed),
    }
    if args.canary:
        gen = torch.Generator().manual_seed(args.seed)
        subset = members.random_subset(args.canary_records, gen)
        canary_cfg = cfg.replace(batch_size=max(1, len(subset) // 20), target_epsilon=args.canary_epsilon,
                                 noise_multiplier=None, steps=args.canary_steps, delta=min(cfg.delta, 0.1 / len(subset)))
        report["canary"] = canary_experiment(subset, canary_cfg, copies=args.canary_copies, trials=args.canary_trials,
                                             seed=args.seed)
    write_json_atomic(run_dir / AUDIT_FILE, report)  # private: the attacks read the training records
    for name, a in report["membership"]["attacks"].items():
        print(f"{name:32s} AUC {a['auc']:.3f}  TPR@1%FPR {a['tpr_at_fpr']['0.01']:.3f}  "
              f"empirical eps >= {a['epsilon_lower_bound']:.3f}  (accounted eps = {privacy['epsilon']})")
    if "canary" in report:
        c = report["canary"]
        print(f"canary ({c['copies']} copies, {c['trials_per_arm']} trials/arm): AUC {c['attack']['auc']:.3f}, "
              f"empirical eps >= {c['attack']['epsilon_lower_bound']:.3f} <= bound {c['bound']:.3f}: {c['within_bound']}")
    print(f"wrote {run_dir / AUDIT_FILE} (private: it reads the training data)")
    return 0
