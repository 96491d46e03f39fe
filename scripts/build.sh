#!/usr/bin/env bash
# Configures and builds Pretext into build/ (Release, Ninja, ccache when present).
#   scripts/build.sh                  everything: the window, pretext-cli, tests, benchmarks
#   scripts/build.sh pretext          only what the window needs (the quickest way to a window)
#   scripts/build.sh pretext-cli test_core
#                                     named targets (test_core: the core tests, test_gui: the rest)
# Arguments starting with - go to CMake, e.g. -DPRETEXT_GUI=OFF, -DPRETEXT_UNITY=OFF or
# -DCMAKE_PREFIX_PATH=/path/to/libtorch.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
cmake_args=()
for arg in "$@"; do
  case "$arg" in
    -*) cmake_args+=("$arg") ;;
    *) targets+=(--target "$arg") ;;
  esac
done
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}"
cmake --build build -j "$(nproc)" "${targets[@]}"
