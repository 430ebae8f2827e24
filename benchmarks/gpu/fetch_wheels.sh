#!/usr/bin/env bash
# Download the wheels the GPU machine lacks for the PRM judge's server path into benchmarks/gpu/.whl
# (ignored by git; name it in the device tool's `carry`). Run here, where pip reaches PyPI.
#
#   bash benchmarks/gpu/fetch_wheels.sh            # CPython 3.12, x86-64: the GPU machine
#   bash benchmarks/gpu/fetch_wheels.sh 3.11 /tmp/whl311   # e.g. for a local carry test
#
# The machine has torch, transformers, tokenizers, safetensors, httpx, httpcore, h11, click,
# jinja2 and numpy; it lacks pydantic, fastapi, starlette, uvicorn and their small deps
# (fastapi >= 0.16x also imports opentelemetry-api; agentforge.core.settings, which the PRM judge
# imports, needs pydantic-settings and python-dotenv). anyio and typing-extensions are there, but
# pydantic 2.14 needs typing-extensions >= 4.16, so both travel in known versions. One version
# of each package only: two wheels of one name stop the whole install there.
set -euo pipefail
PYV=${1:-3.12}
DEST=${2:-"$(cd "$(dirname "$0")" && pwd)/.whl"}
PKGS=(
  fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.7.0 typing-inspection==0.4.5
  opentelemetry-api==1.45.2 annotated-doc==0.0.7 typing-extensions==4.16.0 anyio==4.16.0
  pydantic-settings==2.14.1 python-dotenv==1.2.2
)
mkdir -p "$DEST"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${PKGS[@]}"
ls -la "$DEST"
du -sh "$DEST"
