#!/usr/bin/env bash
# The GPU checks, as one prepared script for a lent GPU machine (the `device` tool's `run`):
#   1. benchmarks/throughput.py --device cuda: the GPU's matmul peak and the throughput table
#      (deepfit in its default precision and in fp32, skorch, Keras and TabM on the GPU,
#      scikit-learn's MLP on the CPU's cores), for the networks in NETWORKS;
#   2. its time-to-accuracy section on the GPU for TTA_DATASETS (LightGBM on the CPU), with
#      deepfit's time limit TTA_LIMIT (default 60 s: half the CPU's, to leave the lease's time
#      for the rest);
#   3. whether two seeded fits of a table model on the GPU give the same weights bit for bit;
#   4. the unit tests (PYTEST_ARGS, default all) with a GPU present, so that every fit left at
#      device="auto" trains on it.
# A stage is skipped when its variable is set to "skip" (NETWORKS, TTA_DATASETS, PROBE,
# PYTEST_ARGS). Each stage has its own time limit and writes its log to $OUT, so a stage that
# fails or runs out of time leaves the others' results.
#
# That machine has torch with CUDA, pandas, scikit-learn, pytest and its plug-ins, but not the
# rest of deepfit's dependencies nor the peers. Prepare, on this machine, in the repo's root:
#   printf '/.whl/\n/.devdata/\n' >> .git/info/exclude
#   mkdir -p .devdata && cp ../shared/data/california_housing.csv .devdata/
#   cp .venv/lib/python3*/site-packages/plotnine/data/diamonds.csv .devdata/
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux_2_24_x86_64 -d .whl $(grep -v '^#' benchmarks/gpu_wheels.txt)
# then: run(command="bash benchmarks/gpu_run.sh", carry=[".whl", ".devdata"], timeout_s=600).
# Budget: BUDGET_S seconds in all (default 570), the stages sharing it in this order.
set -u
OUT=${OUT:-/tmp/deepfit-gpu}
mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-570}
NETWORKS=${NETWORKS:-mlp-3x256-b256 mlp-3x512-b256 tabm-k16-b512 mlp-3x256-b1024}
TTA_DATASETS=${TTA_DATASETS:-california diamonds}
PROBE=${PROBE:-run}
PYTEST_ARGS=${PYTEST_ARGS:-tests}
ROOT=$(pwd)
left() { echo $((BUDGET_S - SECONDS)); }

# into the image's own environment, so that the tests' child processes, which set PYTHONPATH
# themselves, find them too; into a folder of their own where that environment is read-only
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl \
    >"$OUT/install.log" 2>&1 \
    || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl >>"$OUT/install.log" 2>&1 \
    || echo "wheel install failed: see install.log"
# deepfit itself, so that the tests' child processes import it too
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >>"$OUT/install.log" 2>&1 \
    || echo "deepfit's editable install failed: see install.log"
export PYTHONPATH=/tmp/site:$ROOT/src PYTHONUNBUFFERED=1
mkdir -p "$ROOT/../shared/data"
[ -f "$ROOT/../shared/data/california_housing.csv" ] || cp .devdata/california_housing.csv "$ROOT/../shared/data/"
# diamonds comes with plotnine, which the machine lacks: a folder that find_spec takes for it,
# for the benchmarks alone (the tests would take it for plotnine itself)
mkdir -p /tmp/diamonds/plotnine/data && cp .devdata/diamonds.csv /tmp/diamonds/plotnine/data/
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import torch, pandas, numpy, sklearn; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), 'pandas', pandas.__version__, 'numpy', numpy.__version__, 'sklearn', sklearn.__version__)"
    nproc
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

cd "$ROOT/benchmarks" || exit 1
if [ "$NETWORKS" != skip ]; then
    echo "== throughput ($(left) s left)"
    # shellcheck disable=SC2086
    PYTHONPATH=$PYTHONPATH:/tmp/diamonds timeout "${THROUGHPUT_S:-220}" python3 -B throughput.py \
        --device cuda --skip-tta --networks $NETWORKS \
        --peers deepfit-fp32 sklearn skorch keras tabm \
        --output "$OUT/throughput_gpu.md" >"$OUT/throughput.log" 2>&1
    echo "throughput exit $? after ${SECONDS} s"
fi
if [ "$TTA_DATASETS" != skip ]; then
    echo "== time to accuracy ($(left) s left)"
    # shellcheck disable=SC2086
    PYTHONPATH=$PYTHONPATH:/tmp/diamonds timeout "${TTA_S:-200}" python3 -B throughput.py \
        --device cuda --networks --tta-limit "${TTA_LIMIT:-60}" --tta-datasets $TTA_DATASETS \
        --output "$OUT/tta_gpu.md" >"$OUT/tta.log" 2>&1
    echo "time to accuracy exit $? after ${SECONDS} s"
fi

cd "$ROOT" || exit 1
if [ "$PROBE" != skip ]; then
    echo "== two seeded fits on the GPU ($(left) s left)"
    timeout 120 python3 - >"$OUT/probe.log" 2>&1 <<'EOF'
import torch
from deepfit import Regressor
from tests.support.tables import make_table

frame = make_table(200)
X, y = frame.drop(columns="y"), frame["y"]
for settings in ({"hidden_layers": (16, 16), "dropout": 0.2}, {"hidden_layers": (16,), "dropout": 0.0}):
    runs = [
        Regressor(**settings, batch_size=32, max_epochs=6, patience=None, device="cuda").fit(X, y)
        for _ in range(2)
    ]
    weights = [run.network_.state_dict() for run in runs]
    differ = [name for name in weights[0] if not torch.equal(weights[0][name], weights[1][name])]
    print(settings, "differing tensors:", differ or "none")
    for name in differ:
        print("  ", name, float((weights[0][name] - weights[1][name]).abs().max()))
EOF
    echo "probe exit $? after ${SECONDS} s"
    cat "$OUT/probe.log"
fi
remaining=$(left)
if [ "$PYTEST_ARGS" != skip ] && [ "$remaining" -gt 30 ]; then
    echo "== unit tests on the GPU ($remaining s left)"
    # shellcheck disable=SC2086
    timeout "$remaining" python3 -m pytest -q -n 8 -p no:cacheprovider --timeout 240 \
        --continue-on-collection-errors -rfE \
        --ignore tests/serve/test_fuzz.py --ignore tests/report/test_browser.py \
        --junitxml "$OUT/pytest.xml" $PYTEST_ARGS >"$OUT/pytest.log" 2>&1
    echo "pytest exit $? after ${SECONDS} s"
    tail -n 40 "$OUT/pytest.log"
fi
for log in throughput tta; do [ -f "$OUT/$log.log" ] && tail -n 30 "$OUT/$log.log"; done
exit 0
