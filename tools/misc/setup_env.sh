#!/usr/bin/env bash
# Create/update the virtual environment with the tested OpenMMLab stack.
# Every pip call runs with -c constraints.txt (the exact tested set), so pip
# never installs another version of a package on the way.
# Each step leaves a stamp in $VENV/.mmext-stamps holding a hash of
# constraints.txt; it is skipped while the stamp matches, and re-runs (a no-op
# for what is already installed at the pinned version) when the file changed.
# Usage: tools/misc/setup_env.sh [extra ...]   (extras of setup.py: tests, bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
CONSTRAINTS=$PWD/constraints.txt
LOCK=$(sha256sum "$CONSTRAINTS" | cut -c1-16)
STAMPS=$VENV/.mmext-stamps
step() { [ "$(cat "$STAMPS/$1" 2>/dev/null)" = "$LOCK" ]; }
done_step() { mkdir -p "$STAMPS"; echo "$LOCK" > "$STAMPS/$1"; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP="$PY -m pip"
INSTALL="$PIP install -c $CONSTRAINTS"

if ! step base; then
  # setuptools < 81 keeps pkg_resources, which mmcv's setup.py imports.
  $INSTALL -U pip 'setuptools>=77,<81' wheel
  done_step base
fi
if ! step torch; then
  # torchvision is required by mmpretrain; numpy<2 by mmcv 2.1 / mmdet 3.3.
  $INSTALL torch torchvision 'numpy<2'
  done_step torch
fi
if ! step mmcv; then
  mmcv=$(sed -n 's/^mmcv==//p' "$CONSTRAINTS")
  if $INSTALL --only-binary=mmcv mmcv 2>/dev/null; then
    echo "[setup] mmcv $mmcv installed from a wheel (PIP_FIND_LINKS=${PIP_FIND_LINKS:-})"
  else
    # No Linux wheel on PyPI: build the sdist against the installed torch.
    # torch >= 2.5 headers need C++20 while mmcv 2.1.0 asks for -std=c++17.
    echo "[setup] building mmcv $mmcv from source (15 to 20 minutes on 2 cores)"
    tmp=$(mktemp -d)
    $INSTALL ninja  # parallel compilation of the ops
    # --no-build-isolation: mmcv's setup.py imports the installed torch.
    $PIP download -c "$CONSTRAINTS" --no-deps --no-build-isolation \
      --no-binary=:all: -d "$tmp" mmcv
    tar xzf "$tmp/mmcv-$mmcv.tar.gz" -C "$tmp"
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$tmp/mmcv-$mmcv/setup.py"
    grep -q -- "-std=c++20" "$tmp/mmcv-$mmcv/setup.py" || {
      echo "[setup] could not switch mmcv's build to C++20" >&2; exit 1; }
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $INSTALL --no-build-isolation "$tmp/mmcv-$mmcv"
    rm -rf "$tmp"
  fi
  done_step mmcv
fi
if ! step openmmlab; then
  $INSTALL mmengine mmdet
  done_step openmmlab
fi
extras=$(IFS=,; echo "$*")
stamp="mmext${extras:+-$extras}"
if ! step "$stamp" || [ setup.py -nt "$STAMPS/$stamp" ]; then
  $INSTALL --no-build-isolation -e ".${extras:+[$extras]}"
  done_step "$stamp"
fi
