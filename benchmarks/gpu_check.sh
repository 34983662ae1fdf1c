#!/usr/bin/env bash
# The GPU check in one command (docs/gpu-check.md). Writes $OUT/gpu_check.json, gpu_check.log,
# pytest_cuda.xml. Options go to benchmarks/gpu_check.py: --cpu-dry-run, --budget S, --only a,b, --skip a,b.
#
#   OUT=/tmp/gpucheck bash benchmarks/gpu_check.sh --cpu-dry-run    # here, on CPU, tiny sizes
#   bash benchmarks/gpu_check.sh                                    # on the GPU machine ($OUT is set there)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# The GPU machine has no network: wheels fetched beforehand (benchmarks/fetch_wheels.sh) and carried in
# benchmarks/wheels/ are installed only where their module is missing. A failure here is recorded, not fatal.
export GPU_CHECK_WHEELS="not needed"
if ! python3 -c "import soundfile" 2>/dev/null; then
    if ls benchmarks/wheels/*.whl >/dev/null 2>&1 &&
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/gpu_check_site benchmarks/wheels/*.whl >>"$OUT/gpu_check.log" 2>&1; then
        export PYTHONPATH="$PYTHONPATH:/tmp/gpu_check_site" GPU_CHECK_WHEELS="installed: $(ls benchmarks/wheels | tr '\n' ' ')"
    else
        GPU_CHECK_WHEELS="missing: soundfile does not import and benchmarks/wheels/ did not install (see the log)"
    fi
fi
echo "wheels: $GPU_CHECK_WHEELS"
python3 benchmarks/gpu_check.py --out "$OUT" "$@"
