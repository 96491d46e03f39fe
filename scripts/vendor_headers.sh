#!/usr/bin/env bash
# Copies the header-only libraries Pretext uses (nlohmann-json, CLI11) from this machine's
# Debian packages into third_party/ (git-ignored). For a machine that has a LibTorch but no
# package registry (a GPU server with a pip PyTorch): run this here, then bring third_party/
# along (e.g. the device tool's `carry`). CMake uses third_party/ only when it cannot find the
# packages themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in /usr/include/nlohmann /usr/include/CLI; do
  [[ -d "$dir" ]] || { echo "vendor_headers: $dir is missing; run scripts/setup.sh first" >&2; exit 1; }
done
rm -rf third_party
mkdir -p third_party
cp -r /usr/include/nlohmann /usr/include/CLI third_party/
echo "vendor_headers: copied nlohmann-json and CLI11 into third_party/"
