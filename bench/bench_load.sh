#!/usr/bin/env bash
# Training beside other work (issue 19, "Under load"): simclr-fashion's img/s in pretext-cli and
# in the window (bench_gui: the same steps in both, one after the other), alone and beside two
# busy processes (a two-job compile's load), for each of OpenMP's waiting settings:
#   spin      libgomp's default when nothing is set (GOMP_SPINCOUNT=300000: idle workers spin
#             ~0.1-1 ms before they sleep); what Pretext ran with before it chose for itself
#   passive   OMP_WAIT_POLICY=PASSIVE: idle workers sleep at once (what Pretext now sets)
#   short     GOMP_SPINCOUNT=10000: a short spin, then sleep
# Prints each figure, and the ratio loaded / alone (issue 19's goal: >= 1/3) and each setting's
# cost alone against spin (goal: <= 5%).
#   bench/bench_load.sh [STEPS] [SETTINGS...]      e.g. bench/bench_load.sh 60 spin passive
# Needs a quiet machine: anything else running moves every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-60}
shift || true
settings=("$@")
[[ ${#settings[@]} -gt 0 ]] || settings=(spin passive short)
bench=build/bench/bench_gui
[[ -x $bench ]] || { echo "bench_load: build it first: scripts/build.sh bench_gui pretext-cli" >&2; exit 1; }
export QT_QPA_PLATFORM=offscreen

hog_pids=()
start_hog() {  # two busy processes, as a two-job compile keeps both cores busy
  for _ in 1 2; do
    bash -c 'while :; do :; done' &
    hog_pids+=($!)
  done
  sleep 1
}
stop_hog() {
  for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  hog_pids=()
}
trap stop_hog EXIT

run_one() {  # setting, alone|loaded -> "cli_overall gui_overall"
  local setting=$1 load=$2 out
  local -a env=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT)
  case $setting in
    spin) env+=(GOMP_SPINCOUNT=300000) ;;
    passive) env+=(OMP_WAIT_POLICY=PASSIVE) ;;
    short) env+=(GOMP_SPINCOUNT=10000) ;;
    *) echo "bench_load: unknown setting $setting" >&2; exit 1 ;;
  esac
  [[ $load == loaded ]] && start_hog
  out=$("${env[@]}" "$bench" simclr-fashion "$steps" Curves 2>&1)
  [[ $load == loaded ]] && stop_hog
  local cli gui
  cli=$(awk '/^pretext-cli /{print $3}' <<<"$out")
  gui=$(awk '/^pretext \(window\)/{print $4}' <<<"$out")
  echo "$cli $gui"
}

printf "simclr-fashion, %s steps, img/s over the steps after the first fifth (images / wall time)\n" "$steps"
printf "%-8s %12s %12s %12s %12s %14s %14s\n" setting "cli alone" "cli loaded" "win alone" "win loaded" "cli ratio" "win ratio"
declare -A alone_cli alone_gui
for s in "${settings[@]}"; do
  read -r ca ga < <(run_one "$s" alone)
  read -r cl gl < <(run_one "$s" loaded)
  alone_cli[$s]=$ca
  alone_gui[$s]=$ga
  printf "%-8s %12.1f %12.1f %12.1f %12.1f %14.3f %14.3f\n" "$s" "$ca" "$cl" "$ga" "$gl" \
    "$(awk "BEGIN{print $cl / $ca}")" "$(awk "BEGIN{print $gl / $ga}")"
done
if [[ -n ${alone_cli[spin]:-} ]]; then
  for s in "${settings[@]}"; do
    [[ $s == spin ]] && continue
    printf "%s alone against spin alone: cli %.3f, window %.3f\n" "$s" \
      "$(awk "BEGIN{print ${alone_cli[$s]} / ${alone_cli[spin]}}")" "$(awk "BEGIN{print ${alone_gui[$s]} / ${alone_gui[spin]}}")"
  done
fi
