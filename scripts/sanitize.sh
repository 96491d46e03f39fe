#!/usr/bin/env bash
# Builds core, pretext-cli and the tests under sanitizers and runs ctest there (RELIABILITY.md,
# "Sanitizers"). A build folder of its own, so the normal build/ is never touched.
#   scripts/sanitize.sh asan [ctest args]   AddressSanitizer + UndefinedBehaviorSanitizer (+ LSan)
#                                           in build-asan/, the whole ctest suite
#   scripts/sanitize.sh tsan [ctest args]   ThreadSanitizer in build-tsan/; without ctest
#                                           arguments, the threaded tests (see tsan_tests below)
#   scripts/sanitize.sh asan -R augment     one area (arguments go to ctest)
# Environment: SANITIZE_BUILD_ONLY=1 builds and stops; SANITIZE_NO_BUILD=1 runs ctest only;
# SANITIZE_JOBS=N compiles N files at a time (default: every core);
# extra CMake arguments in SANITIZE_CMAKE_ARGS (e.g. -DPRETEXT_UNITY=OFF).
# Reports stop the test (halt_on_error), with the stack; the suppressions in scripts/sanitizers/
# cover LibTorch, Qt and system libraries only, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
kind=${1:?usage: scripts/sanitize.sh asan|tsan [ctest args]}
shift
case $kind in
  asan) sanitize=address,undefined ;;
  tsan) sanitize=thread ;;
  *) echo "sanitize: asan or tsan, not '$kind'" >&2; exit 1 ;;
esac
out=build-$kind
supp=$root/scripts/sanitizers
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-/work}
# What ctest runs: the two test programs (pretext-cli comes with them) and the fuzz replays.
targets=(test_core test_gui replay_torch_pickle replay_idx replay_cifar replay_run_files)
if [[ $kind == tsan ]]; then
  # The threaded areas only (the build takes long): the engine thread and trainer control
  # (train), the prefetcher's worker (sampling), the window's session controller (gui_session)
  # and following a run that pretext-cli writes (gui_follow). SANITIZE_TSAN_AREAS overrides.
  areas=("-DPRETEXT_TEST_AREAS=${SANITIZE_TSAN_AREAS:-^test_(train|sampling|gui_session|gui_follow)\$}")
  targets=(test_core test_gui)
else
  areas=(-DPRETEXT_TEST_AREAS=)  # every test area
fi

if [[ -z "${SANITIZE_NO_BUILD:-}" ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRETEXT_SANITIZE=$sanitize \
    "${areas[@]}" ${SANITIZE_CMAKE_ARGS:-}
  cmake --build "$out" -j "${SANITIZE_JOBS:-$(nproc)}" $(printf -- '--target %s ' "${targets[@]}")
fi
[[ -n "${SANITIZE_BUILD_ONLY:-}" ]] && exit 0

# The tests' own environment (QT_QPA_PLATFORM=offscreen, OMP_WAIT_POLICY) comes from ctest.
common=halt_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS=$common:suppressions=$supp/ubsan.supp
# detect_leaks: LSan at exit; LibTorch's and Qt's one-time allocations are in lsan.supp.
export ASAN_OPTIONS=$common:detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1:detect_odr_violation=1
export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
# TSan does not see LibTorch's OpenMP pool (libgomp is not instrumented): one OpenMP thread (here,
# and configureThreads caps run.threads at 1 in a TSan build), so every thread TSan watches is
# one Pretext started itself.
# die_after_fork=0: QProcess (Qt 6.4's forkfd) starts pretext-cli with vfork semantics, the
# child sharing the parent's memory until exec; TSan's fork hook, run in that child, marks the
# parent's own state "after a multi-threaded fork" and kills the parent at its next new thread.
# The child only execs (a fresh, instrumented pretext-cli), so nothing is lost by going on.
export TSAN_OPTIONS=$common:second_deadlock_stack=1:suppressions=$supp/tsan.supp:history_size=4:die_after_fork=0

# Slow under ASan (e.g. test_methods_color's gamutBins: LibTorch's unique_dim through ASan's
# quarantine, > 300 s): Qt Test's own per-function limit (300 s) and ctest's (900 s) are raised.
export QTEST_FUNCTION_TIMEOUT=${QTEST_FUNCTION_TIMEOUT:-1800000}
ctest_args=(--test-dir "$out" --output-on-failure --timeout 3600)
if [[ $kind == tsan ]]; then
  export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
  ctest_args+=(-E '^fuzz_replay_')  # not built here (no threads in them)
fi
start=$(date +%s)
status=0
ctest "${ctest_args[@]}" "$@" || status=$?
echo "sanitize: $kind ctest finished in $(( $(date +%s) - start )) s, status $status"
exit $status
