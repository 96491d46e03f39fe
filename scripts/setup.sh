#!/usr/bin/env bash
# Installs what Pretext needs on Debian 12, idempotently: the toolchain, Qt 6, QCustomPlot for
# Qt 6, LibTorch (CPU) with Gloo's headers for its distributed engine (c10d), oneDNN, OpenCV, nlohmann-json, CLI11, zlib, OpenBLAS, the built-in data
# (Fashion-MNIST, photographs for colour), PyTorch, torchvision, NumPy, protobuf and crc32c for
# Python (the tests check what Pretext writes with the clients that read it: torch.load and
# torchvision for exported encoders, numpy.load for .npy files, protobuf for TensorBoard's
# files; the benchmarks' PyTorch peer) and Xvfb for GUI tests.
#   scripts/setup.sh            everything to build, run, test and benchmark
#   scripts/setup.sh --bench    the same (kept for older notes)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libgloo-dev libopenblas0-pthread libdnnl-dev
  qt6-base-dev libqcustomplot-dev libqcustomplot2.1-qt6
  libopencv-dev nlohmann-json3-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist ukui-wallpapers
  python3-numpy python3-protobuf python3-crc32c python3-torch python3-torchvision
  xvfb xauth
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "setup: installing packages needs root. Run as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

# libopenblas0-pthread registers itself (auto mode) as libblas.so.3, which LibTorch uses.
echo "setup: done"
