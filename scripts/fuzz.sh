#!/usr/bin/env bash
# Fuzzes a parser of outside input with clang's libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer (Debian's clang-14 and libclang-rt-14-dev).
#   scripts/fuzz.sh HARNESS [SECONDS] [-- libFuzzer options]
#   scripts/fuzz.sh torch_pickle 600
# The harness is fuzz/HARNESS_fuzz.cpp; it starts from tests/fuzz_corpus/HARNESS (the seeds, and
# every input that once crashed, which ctest replays in the plain build) and grows a working
# corpus in build-fuzz/HARNESS-corpus. A crash is written to build-fuzz/ as crash-*: fix it,
# then copy the input into tests/fuzz_corpus/HARNESS/ so that it stays fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
harness=${1:?usage: scripts/fuzz.sh HARNESS [SECONDS]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
[[ "${1:-}" == "--" ]] && shift
src=fuzz/${harness}_fuzz.cpp
[[ -f $src ]] || { echo "fuzz: no harness $src" >&2; exit 1; }
command -v clang++ >/dev/null || { echo "fuzz: needs clang++ (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
out=build-fuzz
mkdir -p "$out/$harness-corpus"
# The parser's own sources: what the harness includes from core/ (kept short on purpose), and
# any flags and libraries they need beyond LibTorch's.
extra=()
case $harness in
  torch_pickle) sources=(core/interop/torch_pickle.cpp) ;;
  idx) sources=(core/data/idx.cpp core/data/data_io.cpp) ;;
  cifar) sources=(core/data/cifar.cpp core/data/data_io.cpp) ;;
  stl10) sources=(core/data/stl10.cpp core/data/data_io.cpp) ;;
  run_files) sources=(core/train/run_tail.cpp core/eval/results.cpp core/util/fault.cpp) ;;
  image_decode)
    sources=(core/data/image_folder.cpp core/data/data_io.cpp)
    extra=(-DPRETEXT_HAVE_OPENCV=1 -I/usr/include/opencv4 -lopencv_core -lopencv_imgcodecs -lopencv_imgproc) ;;
  experiment | checkpoint | sweep)
    # These parsers reach the whole method registry: only the files named here are instrumented,
    # the rest comes from the plain build's library (its copies of these files are overridden).
    # Not core/models/backbone.cpp: clang's COMDAT group for torch::nn::Sequential's vtable lacks
    # the construction vtable gcc's objects in the library refer to (an undefined hidden symbol).
    [[ -f build/core/libpretext_core.a ]] || { echo "fuzz: $harness needs build/core/libpretext_core.a (scripts/build.sh pretext_core)" >&2; exit 1; }
    if [[ $harness == experiment ]]; then
      sources=(core/config/experiment.cpp core/methods/registry.cpp core/augment/presets.cpp
               core/augment/augment.cpp)
    elif [[ $harness == sweep ]]; then
      sources=(core/train/sweep.cpp core/config/experiment.cpp)
    else
      sources=(core/train/checkpoint.cpp core/train/run_dir.cpp core/train/archive_check.cpp)
    fi
    extra=(-DPRETEXT_HAVE_OPENCV=1 -DPRETEXT_RESOURCE_DIR="\"$PWD/resources\""
           -DUSE_C10D_GLOO -DUSE_DISTRIBUTED -DUSE_RPC -DUSE_TENSORPIPE -I/usr/include/opencv4
           -Wl,--allow-multiple-definition build/core/libpretext_core.a
           -lopencv_core -lopencv_imgcodecs -lopencv_imgproc -ldnnl -lgloo -lgomp -lpthread -lglog -lgflags -lprotobuf) ;;
  *) echo "fuzz: list the sources of $harness in scripts/fuzz.sh" >&2; exit 1 ;;
esac
torch_include=/usr/include/torch/csrc/api/include
echo "fuzz: building $out/$harness (clang, -fsanitize=fuzzer,address,undefined)"
clang++ -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. -I"$torch_include" "$src" "${sources[@]}" \
  "${extra[@]}" -ltorch -ltorch_cpu -lc10 -lz -o "$out/$harness"
# A dictionary (magic numbers, keys) when the harness has one: fuzz/HARNESS.dict; leaks of
# libraries that are not Pretext's to suppress: fuzz/HARNESS.lsan.
dict=()
[[ -f fuzz/$harness.dict ]] && dict=(-dict="fuzz/$harness.dict")
lsan=
[[ -f fuzz/$harness.lsan ]] && lsan=suppressions=$PWD/fuzz/$harness.lsan
echo "fuzz: running $harness for $seconds s"
LSAN_OPTIONS=$lsan ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out/$harness" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$out/" "${dict[@]}" "$@" "$out/$harness-corpus" "tests/fuzz_corpus/$harness"
