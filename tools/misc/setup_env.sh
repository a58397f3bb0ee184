#!/usr/bin/env bash
# Create/update the virtual environment with the pinned OpenMMLab stack.
# Each step leaves a stamp in $VENV/.mmext-stamps and is skipped when done.
# Usage: tools/misc/setup_env.sh [extra ...]   (extras of setup.py: tests, bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
STAMPS=$VENV/.mmext-stamps
step() { [ -f "$STAMPS/$1" ]; }
done_step() { mkdir -p "$STAMPS"; touch "$STAMPS/$1"; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP="$PY -m pip"

if ! step base; then
  # setuptools < 81 keeps pkg_resources, which mmcv's setup.py imports.
  $PIP install -U pip 'setuptools>=77,<81' wheel
  done_step base
fi
if ! step torch; then
  # torchvision is required by mmpretrain; numpy<2 by mmcv 2.1 / mmdet 3.3.
  $PIP install 'torch==2.14.1' 'torchvision==0.29.1' 'numpy<2'
  done_step torch
fi
if ! step mmcv; then
  if $PIP install --only-binary=mmcv 'mmcv==2.1.0' 2>/dev/null; then
    echo "[setup] mmcv 2.1.0 installed from a wheel (PIP_FIND_LINKS=${PIP_FIND_LINKS:-})"
  else
    # No Linux wheel on PyPI: build the sdist against the installed torch.
    # torch >= 2.5 headers need C++20 while mmcv 2.1.0 asks for -std=c++17.
    echo "[setup] building mmcv 2.1.0 from source (15 to 20 minutes on 2 cores)"
    tmp=$(mktemp -d)
    $PIP install ninja  # parallel compilation of the ops
    # --no-build-isolation: mmcv's setup.py imports the installed torch
    $PIP download --no-deps --no-build-isolation --no-binary=:all: \
      -d "$tmp" 'mmcv==2.1.0'
    tar xzf "$tmp/mmcv-2.1.0.tar.gz" -C "$tmp"
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$tmp/mmcv-2.1.0/setup.py"
    grep -q -- "-std=c++20" "$tmp/mmcv-2.1.0/setup.py" || {
      echo "[setup] could not switch mmcv's build to C++20" >&2; exit 1; }
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PIP install --no-build-isolation "$tmp/mmcv-2.1.0"
    rm -rf "$tmp"
  fi
  done_step mmcv
fi
if ! step openmmlab; then
  $PIP install 'mmengine==0.10.7' 'mmdet==3.3.0' 'mmpretrain==1.2.0' pycocotools
  done_step openmmlab
fi
extras=$(IFS=,; echo "$*")
stamp="mmext${extras:+-$extras}"
if ! step "$stamp" || [ setup.py -nt "$STAMPS/$stamp" ]; then
  $PIP install --no-build-isolation -e ".${extras:+[$extras]}"
  done_step "$stamp"
fi
