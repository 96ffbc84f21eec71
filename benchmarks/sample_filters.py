"""Does the run's own (DP) discriminator make a better synthetic set? Post-processing filters of G's samples.

    python benchmarks/sample_filters.py RUN --dataset mnist --n 5000 [--variants none,margin50,drs50,trunc70]

RUN is a finished run of benchmarks/owndata.py (it keeps discriminator.pt). D's weights are a DP release (every D
iterate is post-processing of the noisy gradients), so filtering G's samples with D costs no epsilon. For each
class, `oversample` x as many samples as the set needs are drawn and scored with D's logits for every class; a
variant keeps:
  none       the first ones (as `dpcgan sample`);
  marginP    a random set of them from the top P % by D's class margin D(x, y) - logsumexp_k D(x, k) (label
             consistency: D as a classifier);
  drsP       from the top P % by D(x, y) (discriminator rejection sampling, Azadi et al. 2019, as a top-P cut);
  argmax     those whose argmax_k D(x, k) is their label (topped up with others if too few);
  truncT     fresh samples with latents scaled by T / 100 (the truncation trick; D not used).
Each variant's set (10 n images, at most 50,000) trains `dpcgan evaluate`'s CNN, tested on the real test set.
Prints one JSON line per variant and writes RUN/private/sample-filters-SEED.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from _common import DEFAULT_DATA
from dpcgan.data import load_dataset
from dpcgan.evaluate import evaluate_synthetic
from dpcgan.models import ConvProjectionDiscriminator, ModelSpec, build_models
from dpcgan.sample import generate, load_generator
from owndata import DERIVED, balanced_subset, derived_dataset


def logits_for_every_class(D: torch.nn.Module, x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, K) logits D(x, k). A projection D computes its features once (logit = w.phi + e_k.phi)."""
    if isinstance(D, ConvProjectionDiscriminator) and not getattr(D, "extra", 0):
        h = F.leaky_relu(D.conv1(x * 2 - 1), 0.2)
        h = F.leaky_relu(D.norm(D.conv2(h)), 0.2).flatten(1)
        return D.fc(h) + h @ D.embed.weight.T
    return torch.stack([D(x, torch.full((len(x),), k)) for k in range(num_classes)], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--dataset", required=True, choices=("mnist", "fashion-mnist", *DERIVED))
    ap.add_argument("--n", type=int, required=True, help="the run's subset size (owndata.py --n)")
    ap.add_argument("--variants", default="none,margin50,drs50,trunc70")
    ap.add_argument("--oversample", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G, _ = load_generator(args.run)
    saved = torch.load(Path(args.run) / "discriminator.pt", weights_only=True)
    _, D = build_models(ModelSpec.from_dict(saved["spec"]), private=False)
    D.load_state_dict(saved["state_dict"])
    D.eval()
    K, gen = G.num_classes, torch.Generator().manual_seed(args.seed)
    per = min(60_000, 10 * args.n) // K
    pool = per * args.oversample
    candidates, scores = [], []
    with torch.no_grad():
        for k in range(K):
            x = generate(G, torch.full((pool,), k), gen)
            xf = x.float() / 255
            scores.append(torch.cat([logits_for_every_class(D, xf[i:i + 4096], K) for i in range(0, pool, 4096)]))
            candidates.append(x)
    load = derived_dataset if args.dataset in DERIVED else load_dataset
    train = balanced_subset(load(args.dataset, "train", args.data_dir), args.n)
    test = load(args.dataset, "test", args.data_dir)
    out = {}
    for variant in args.variants.split(","):
        xs, ys, agree = [], [], []
        for k in range(K):
            logits = scores[k]
            if variant.startswith("trunc"):
                with torch.no_grad():
                    z = G.sample_latent(per, gen) * (int(variant[5:]) / 100)
                    xs.append(G(z, torch.full((per,), k)).mul(255).round_().clamp_(0, 255).to(torch.uint8))
                ys.append(torch.full((per,), k))
                continue
            if variant == "none":
                idx = torch.arange(per)
            elif variant == "argmax":
                ok = logits.argmax(1) == k
                idx = torch.cat([torch.nonzero(ok).flatten(), torch.nonzero(~ok).flatten()])[:per]
            else:
                kind, share = variant.rstrip("0123456789"), int(variant.lstrip("abcdefghijklmnopqrstuvwxyz")) / 100
                score = {"margin": lambda: logits[:, k] - torch.logsumexp(logits, 1),
                         "drs": lambda: logits[:, k]}[kind]()
                keep = min(pool, max(per, int(pool * share)))
                idx = torch.topk(score, keep).indices[torch.randperm(keep, generator=gen)[:per]]
            agree.append(float((logits[idx].argmax(1) == k).float().mean()))
            xs.append(candidates[k][idx])
            ys.append(torch.full((len(idx),), k))
        x, y = torch.cat(xs).numpy(), torch.cat(ys).numpy()
        if x.shape[1] == 1:
            x = x[:, 0]
        started = time.time()
        result = evaluate_synthetic(x, y, train, test, num_classes=K, seed=args.seed, metrics=("cnn",), progress=False)
        out[variant] = {"cnn_accuracy": result["cnn"]["accuracy"],
                        "d_argmax_is_label": float(np.mean(agree)) if agree else None,
                        "eval_s": round(time.time() - started, 1)}
        print(variant, json.dumps(out[variant]), flush=True)
    (Path(args.run) / "private" / f"sample-filters-{args.seed}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
