#!/usr/bin/env bash
# Create ./.venv with dpcgan and its test dependencies. Idempotent: a second run only checks.
# torch is pinned to the CPU build (torch==2.13.0 here); on a GPU machine set DPCGAN_TORCH to the CUDA build
# you want, e.g. DPCGAN_TORCH="torch==2.13.0" with your CUDA index configured in pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${DPCGAN_TORCH:-torch==2.13.0}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# torch first, pinned, so that nothing below pulls a different (multi-GB CUDA) build as a dependency.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "$TORCH_SPEC"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/python -c "import torch, opacus, dpcgan; print(f'dpcgan {dpcgan.__version__}: torch {torch.__version__}, opacus {opacus.__version__}')"
