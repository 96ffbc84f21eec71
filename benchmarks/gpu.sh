#!/usr/bin/env bash
# GPU checks and benchmarks, a few minutes on a CUDA machine; writes results/gpu.md (and results/gpu-*.md).
#
#   bash benchmarks/gpu.sh            # from anywhere; needs torch with CUDA and MNIST (see DATA below)
#
# 1. a seeded `dpcgan train --device cuda` run: its privacy.json must equal a CPU run's (same q, sigma, steps);
# 2. the D and G steps on the GPU raise no host-device synchronisation (torch.cuda.set_sync_debug_mode);
# 3. benchmarks/step_speed.py --device cuda;   4. benchmarks/scaling.py --device cuda (1 process, 2 if 2+ GPUs).
# A failing part is reported in gpu.md and the others still run; the exit status is 1 if any failed.
# Environment: PYTHON (default .venv/bin/python, else python3), DPCGAN_DATA (folder holding mnist/; default
# ../shared/data), GPU_BENCH_STEPS (scaling steps K1 K2; default "200 1200").
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
DATA=${DPCGAN_DATA:-../shared/data}
STEPS=${GPU_BENCH_STEPS:-200 1200}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p results
rm -f results/gpu-step_speed.md results/gpu-scaling.md  # never report a previous run's numbers
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPORT=results/gpu.md
STATUS=0

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu.sh: no CUDA device visible to $PY (torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)):" \
         "install a CUDA build of torch (DPCGAN_TORCH in scripts/setup.sh) on a GPU machine" >&2
    exit 1
fi
if [ ! -d "$DATA/mnist" ] && [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
    echo "gpu.sh: MNIST not found in $DATA (set DPCGAN_DATA to the folder holding mnist/*.gz)" >&2
    exit 1
fi
NGPU=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
PROCS=1; [ "$NGPU" -ge 2 ] && PROCS="1 2"

section() { printf '\n## %s\n\n' "$1" >>"$REPORT"; }
outcome() {  # outcome NAME EXIT_CODE LOG
    if [ "$2" -eq 0 ]; then echo "- $1: passed" >>"$REPORT"
    else STATUS=1; { echo "- $1: **FAILED** (exit $2); last lines:"; echo '```'; tail -n 20 "$3"; echo '```'; } >>"$REPORT"; fi
}

{
    echo "# GPU checks and benchmarks"
    echo
    echo "- command: \`bash benchmarks/gpu.sh\`; date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- GPUs: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | paste -sd ';' - || echo unknown)"
    echo "- $("$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}")')"
} >"$REPORT"

section "Checks"
# 1. The same (q, sigma, steps) on the GPU and on the CPU: identical privacy reports (wall time aside).
"$PY" - "$DATA" "$WORK" >"$WORK/privacy.log" 2>&1 <<'EOF'
import json, sys
import numpy as np
from dpcgan.cli import main
from dpcgan.data import load_dataset
data_dir, work = sys.argv[1:]
d = load_dataset("mnist", "train", data_dir, download=False)
np.savez(f"{work}/mnist5k.npz", x=d.x[:5000, 0].numpy(), y=d.y[:5000].numpy())
reports = {}
for device in ("cuda", "cpu"):
    out = f"{work}/run-{device}"
    assert main(["train", "--dataset", f"{work}/mnist5k.npz", "--batch-size", "250", "--sigma", "1.1", "--steps",
                 "300", "--seed", "1", "--out", out, "--device", device, "--no-progress", "--log-every", "50"]) == 0
    reports[device] = json.load(open(f"{out}/privacy.json"))
    reports[device].pop("wall_time_s")
assert reports["cuda"] == reports["cpu"], "privacy.json differs between cuda and cpu"
print("epsilon", reports["cuda"]["epsilon"], "events", reports["cuda"]["events"])
EOF
outcome "seeded 300-step run on cuda: privacy.json identical to the CPU run's" $? "$WORK/privacy.log"

# 2. No host-device synchronisation inside the D and G steps (the loop syncs only at log time).
"$PY" - "$DATA" >"$WORK/sync.log" 2>&1 <<'EOF'
import sys
import torch
from dpcgan.data import PoissonSampler, load_dataset
from dpcgan.distributed import to_device
from dpcgan.models import ModelSpec, build_models
from dpcgan.privacy.noise import SecureNoise
from dpcgan.rng import make_generators
from dpcgan.train import DStepSettings, discriminator_step, generator_step
dev = torch.device("cuda")
data = load_dataset("mnist", "train", sys.argv[1], download=False)
gens = make_generators(None, device=dev)
G, D = (m.to(dev) for m in build_models(ModelSpec("paper-fc", (1, 28, 28), 10)))
d_opt, g_opt = torch.optim.SGD(D.parameters(), lr=0.1), torch.optim.Adam(G.parameters(), lr=1e-3)
sampler, prior = PoissonSampler(data, 0.01, gens.sampling), torch.full((10,), 0.1, device=dev)
for mode in ("split", "joint", "off"):
    settings = DStepSettings(mode, 600, 1.1, 1.12)
    for step in range(12):
        x, y = (to_device(t, dev) for t in sampler.sample())
        torch.cuda.set_sync_debug_mode("error" if step >= 2 else "default")  # after warm-up
        discriminator_step(D, d_opt, G, x, y, settings=settings, prior=prior, latent_gen=gens.latent,
                           noise_gen=gens.noise)
        generator_step(G, g_opt, D, batch_size=600, prior=prior, latent_gen=gens.latent)
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    print(mode, "ok")
EOF
outcome "D and G steps on cuda (split, joint, off; release-mode noise) without host-device sync" $? "$WORK/sync.log"

# 3. and 4. Speed.
timeout 600 "$PY" benchmarks/step_speed.py --device cuda --threads 4 --reps 200 --data-dir "$DATA" \
    --out gpu-step_speed.md >"$WORK/speed.log" 2>&1
SPEED=$?
# shellcheck disable=SC2086
timeout 900 "$PY" benchmarks/scaling.py --device cuda --procs $PROCS --threads 4 --steps $STEPS --reps 3 \
    --data-dir "$DATA" --out gpu-scaling.md >"$WORK/scaling.log" 2>&1
SCALING=$?
outcome "step speed (benchmarks/step_speed.py --device cuda)" $SPEED "$WORK/speed.log"
outcome "scaling (benchmarks/scaling.py --device cuda, processes: $PROCS)" $SCALING "$WORK/scaling.log"
for part in gpu-step_speed gpu-scaling; do
    [ -f "results/$part.md" ] && { echo; sed 's/^# /## /' "results/$part.md"; } >>"$REPORT"
done
echo "wrote $REPORT"
cat "$REPORT"
exit $STATUS
