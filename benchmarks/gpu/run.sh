#!/usr/bin/env bash
# The GPU machine's command for the PRM judge check (issue 15); about 7 minutes at most.
#
#   device run: command "bash benchmarks/gpu/run.sh", carry ["benchmarks/gpu/.whl"], timeout_s 600
#
# Installs the carried wheels (benchmarks/gpu/fetch_wheels.sh fills .whl here beforehand) into
# /tmp/site, puts the repo root and /tmp/site on PYTHONPATH ahead of the machine's packages, and
# runs prm_gpu_check.py with its results in $OUT (default benchmarks/gpu/out). Extra arguments
# go to the script (e.g. --sizes 7b). Exit status: the script's; 124 if it ran past its limit.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks/gpu/out}
LIMIT=${PRM_CHECK_LIMIT_S:-450}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if compgen -G "benchmarks/gpu/.whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    benchmarks/gpu/.whl/*.whl || { echo "run.sh: installing the carried wheels failed" >&2; exit 3; }
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "run.sh: no benchmarks/gpu/.whl/*.whl (carry it): the served measurement will fail" >&2
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
{ nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv 2>&1 || true
  "$PY" -c "import sys, torch, transformers; print(sys.version.split()[0], torch.__version__, transformers.__version__)"
} | tee "$OUT/env.txt"
timeout -k 10 "$LIMIT" "$PY" benchmarks/gpu/prm_gpu_check.py --out "$OUT" --time-budget $((LIMIT - 60)) "$@" 2>&1 \
  | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
